"""The strategy contract checker (`quantrun strategies check`, what `strategies add` runs).

Each check runs the user's code in a child process (about half a second of imports), so the
bad inputs that can share a file share one: one class per defect, one child for all of them.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from quantrun.cli import main
from quantrun.data.demo import demo_bars, write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings
from quantrun.strategies.check import CheckReport, CheckResult, check_strategy, strategy_failure
from quantrun.strategies.source import (
    MAX_SOURCE_BYTES,
    StrategySource,
    import_path,
    strategies_in,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "strategies" / "above_sma.py"
E = ErrorCode

HEADER = """\
import os
import sys
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from quantrun.strategies.base import (
    NoParams,
    Signals,
    Strategy,
    StrategyParams,
    TieRuleParams,
    crossed_above,
    crossed_below,
    hold_between,
    price_ticks,
    sma,
    sma_order,
)
"""

GOOD = (
    HEADER
    + '''

class CrossParams(TieRuleParams, StrategyParams):
    fast: int = Field(10, ge=1, le=1000, description="Bars in the fast SMA.")
    slow: int = Field(30, ge=2, le=5000, description="Bars in the slow SMA.")
    mode: Literal["long", "both"] = Field("both", description="Sides traded.")
    fade: bool = Field(False, description="Trade against the cross.")


class Cross(Strategy):
    id = "my_cross"
    version = "1"
    description = "Long after the fast SMA crosses above the slow one, short after below."
    Params = CrossParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: CrossParams) -> Signals:
        ticks = price_ticks(bars["close"].to_numpy())
        close = ticks.columns[0]
        order = sma_order(close, params.fast, close, params.slow)
        up, down = crossed_above(order, params.ties), crossed_below(order, params.ties)
        if params.fade:
            up, down = down, up
        short = down if params.mode == "both" else None
        target = hold_between(enter=up, leave=down, short=short)
        return Signals(
            target,
            {"fast": ticks.sma(0, params.fast), "slow": ticks.sma(0, params.slow)},
        )


class CrossV2(Cross):
    """A second version of one id in the same file is allowed (each class sets its id)."""

    id = "my_cross"
    version = "2"
    description = "Version 2: long only."

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: CrossParams) -> Signals:
        out = super().signals(bars, params)
        # The position as an indicator: 0 at the start and again later, so no warm-up zeros.
        target = np.maximum(out.target, 0).astype(np.int8)
        return Signals(target, {"position": target.astype(np.float64)})
'''
)

#: One class per defect; `clean` passes every check (the others fail where their id says).
BATCH = (
    HEADER
    + '''

class Base(Strategy):
    version = "1"
    description = "A test strategy."

    @classmethod
    def signals(cls, bars, params):
        close = bars["close"].to_numpy()
        average = sma(close, 5)
        with np.errstate(invalid="ignore"):
            target = (close > average).astype(np.int8)
        return Signals(target, {"sma": average})


class Clean(Base):
    id = "clean"


class Dup1(Base):
    id = "dup"


class Dup2(Base):
    id = "dup"


class Builtin(Base):
    id = "sma_crossover"
    version = "7"


class Malformed(Base):
    id = "Bad-Id"


class Loose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(5, ge=1, le=10)


class NotFrozen(Base):
    id = "not_frozen"
    Params = Loose


class Unbounded(StrategyParams):
    n: int = Field(5, ge=1)
    x: float = 1.5
    s: str = "a"


class UnboundedParams(Base):
    id = "unbounded"
    Params = Unbounded


class OutOfBounds(StrategyParams):
    n: int = Field(50, ge=1, le=10)


class DefaultOutOfBounds(Base):
    id = "default_out_of_bounds"
    Params = OutOfBounds


class WrongLength(Base):
    id = "wrong_length"

    @classmethod
    def signals(cls, bars, params):
        return Signals(np.zeros(bars.height - 1, dtype=np.int8))


class WrongDtype(Base):
    id = "wrong_dtype"

    @classmethod
    def signals(cls, bars, params):
        return Signals(np.zeros(bars.height, dtype=np.int64))  # Signals refuses it


class WrongValues(Base):
    id = "wrong_values"

    @classmethod
    def signals(cls, bars, params):
        return Signals(np.full(bars.height, 2, dtype=np.int8))


class NotSignals(Base):
    id = "not_signals"

    @classmethod
    def signals(cls, bars, params):
        return np.zeros(bars.height, dtype=np.int8)


class PlainMethod(Base):
    id = "plain_method"

    def signals(self, bars, params):
        return None


class Peek(Base):
    id = "peek"

    @classmethod
    def signals(cls, bars, params):
        up = bars["close"].shift(-1) > bars["close"]
        return Signals(up.fill_null(False).to_numpy().astype(np.int8))


class PeekOnCheapPrices(Base):
    """Looks ahead only on prices below 1,000: never on the walk, always on the test data."""

    id = "peek_cheap"

    @classmethod
    def signals(cls, bars, params):
        if bars.height and bars["close"].max() < 1000:
            return Peek.signals(bars, params)
        return super().signals(bars, params)


class Unseeded(Base):
    id = "unseeded"

    @classmethod
    def signals(cls, bars, params):
        rng = np.random.default_rng()
        return Signals(rng.integers(-1, 2, bars.height).astype(np.int8))


class ZeroWarmup(Base):
    id = "zero_warmup"

    @classmethod
    def signals(cls, bars, params):
        close = bars["close"]
        average = close.rolling_mean(5).fill_null(0.0).to_numpy()
        return Signals((close.to_numpy() > average).astype(np.int8), {"sma": average})


class Raises(Base):
    id = "raises"

    @classmethod
    def signals(cls, bars, params):
        return Signals(sma(bars["close"].to_numpy(), "five"))  # the line a report names


class ExitsInSignals(Base):
    id = "exits"

    @classmethod
    def signals(cls, bars, params):
        sys.exit(4)


class Chatty(Base):
    id = "chatty"

    @classmethod
    def signals(cls, bars, params):
        print("{not json", flush=True)
        os.write(1, b"raw bytes on fd 1\\n")
        return super().signals(bars, params)
'''
)

#: Expected codes of the batch, by strategy id (each fails with exactly these).
BATCH_CODES = {
    "clean": set(),
    "chatty": set(),
    "dup": {E.STRATEGY_ID_DUPLICATE},
    "sma_crossover": {E.STRATEGY_ID_BUILTIN},
    "Bad-Id": {E.STRATEGY_ID_INVALID},
    "not_frozen": {E.STRATEGY_PARAMS_INVALID_MODEL},
    "unbounded": {E.STRATEGY_PARAMS_INVALID_MODEL},
    "default_out_of_bounds": {E.STRATEGY_PARAMS_INVALID_MODEL},
    "wrong_length": {E.STRATEGY_SIGNALS_INVALID},
    "wrong_dtype": {E.STRATEGY_SIGNALS_INVALID},
    "wrong_values": {E.STRATEGY_SIGNALS_INVALID},
    "not_signals": {E.STRATEGY_SIGNALS_INVALID},
    "plain_method": {E.STRATEGY_SIGNALS_INVALID},
    "peek": {E.STRATEGY_LOOKAHEAD},
    "peek_cheap": {E.STRATEGY_LOOKAHEAD},
    "unseeded": {E.STRATEGY_NONDETERMINISTIC},
    "zero_warmup": {E.STRATEGY_WARMUP},
    "raises": {E.STRATEGY_FAILED},
    "exits": {E.STRATEGY_FAILED},
}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    return Settings(runs_root=tmp / "runs-root", **overrides)


def cheap_prices_csv(path: Path) -> Path:
    """Two days of the demo walk at a thousandth of its price (about 42 instead of 42,000)."""
    prices = ["open", "high", "low", "close"]
    frame = demo_bars(2, seed=7).with_columns([(pl.col(c) / 1000).round(5) for c in prices])
    frame.select(
        pl.col("ts").cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("time"),
        *prices,
        "volume",
    ).write_csv(path)
    return path


def by_strategy(report: CheckReport) -> dict[str | None, list[CheckResult]]:
    out: dict[str | None, list[CheckResult]] = {}
    for line in report.checks:
        out.setdefault(line.strategy, []).append(line)
    return out


def failed_codes(lines: list[CheckResult]) -> set[ErrorCode]:
    return {line.code for line in lines if line.status == "fail" and line.code is not None}


# -- reports shared by several tests (one child process each) -------------------------------
@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> CheckReport:
    tmp = tmp_path_factory.mktemp("batch")
    path = write(tmp, "batch.py", BATCH)
    data = cheap_prices_csv(tmp / "cheap.csv")
    return check_strategy(path, settings_for(tmp), data=data, timeframe="15m")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CheckReport]:
    tmp = tmp_path_factory.mktemp("good")
    package = tmp / "my_cross"
    write(package, "__init__.py", "from .rules import Cross, CrossV2  # noqa: F401\n")
    write(package, "rules.py", GOOD)
    return package, check_strategy(package, settings_for(tmp))


# -- what passes --------------------------------------------------------------------------------
def test_a_good_package_passes_every_check_with_timing(good: tuple[Path, CheckReport]) -> None:
    package, report = good
    assert report.ok, [r.to_dict() for r in report.failures]
    assert report.first_failure() is None
    assert report.kind == "package"
    assert report.source_sha256 == StrategySource.from_path(package).sha256
    ids = [(s["id"], s["version"], s["class_name"]) for s in report.strategies]
    assert ids == [("my_cross", "1", "Cross"), ("my_cross", "2", "CrossV2")]
    params = {p["name"]: p for p in report.strategies[0]["params"]}
    assert list(params) == ["ties", "fast", "slow", "mode", "fade"]
    assert params["fast"]["minimum"] == 1 and params["fast"]["maximum"] == 1000
    assert params["mode"]["choices"] == ["long", "both"]
    checks = {(r.check, r.version) for r in report.checks if r.status == "ok"}
    for name in ("ids", "params", "signals", "deterministic", "lookahead", "warmup", "timing"):
        assert {(name, "1"), (name, "2")} <= checks
    assert [(t.strategy, t.version) for t in report.timing] == [
        ("my_cross", "1"),
        ("my_cross", "2"),
    ]
    for timing in report.timing:
        assert timing.bars == 100_000
        assert 0 < timing.seconds_per_100k_bars < 30
    assert report.bars["random_walk"]["bars"] == 2000
    assert "data" not in report.bars
    json.dumps(report.to_dict(), allow_nan=False)


def test_the_example_strategy_passes_on_the_walk_and_on_user_data(tmp_path: Path) -> None:
    """examples/strategies/above_sma.py, through the CLI, with --data (a small demo CSV)."""
    data = write_demo_csv(tmp_path / "demo.csv", days=2)
    result = CliRunner().invoke(
        main,
        [
            *("strategies", "check", str(EXAMPLE), "--data", str(data), "--timeframe", "1h"),
            *("--runs-root", str(tmp_path / "rr"), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is True and body["error"] is None and body["failures"] == []
    assert [s["id"] for s in body["strategies"]] == ["above_sma"]
    assert body["bars"] == {
        "timeframe": "1h",
        "random_walk": {"bars": 2000, "seed": 20240101},
        "data": {"name": "demo.csv", "bars": 48},
    }
    signals = next(c for c in body["checks"] if c["check"] == "signals")
    assert "demo.csv (48 1h bars)" in signals["message"]
    assert body["timing"][0]["seconds_per_100k_bars"] > 0
    assert not (tmp_path / "rr").exists()  # the check stores nothing


# -- what fails, and with which code -------------------------------------------------------------
def test_every_defect_in_the_batch_gets_its_code(batch: CheckReport) -> None:
    lines = by_strategy(batch)
    found = {s["id"] for s in batch.strategies}
    assert found == set(BATCH_CODES)
    for strategy_id, codes in BATCH_CODES.items():
        assert failed_codes(lines[strategy_id]) == codes, (strategy_id, lines[strategy_id])
    assert not batch.ok
    first = batch.first_failure()
    assert isinstance(first, QuantrunError)
    assert first.code == batch.failures[0].code
    assert first.extra["check"] == batch.failures[0].check
    assert "more failed checks" in first.detail
    json.dumps(batch.to_dict(), allow_nan=False)


def test_the_batch_messages_name_the_problem(batch: CheckReport) -> None:
    def message(strategy_id: str, code: ErrorCode) -> str:
        return next(
            r.message for r in batch.failures if (r.strategy, r.code) == (strategy_id, code)
        )

    assert "Dup1, Dup2" in message("dup", E.STRATEGY_ID_DUPLICATE)
    assert "built-in" in message("sma_crossover", E.STRATEGY_ID_BUILTIN)
    assert "not frozen" in message("not_frozen", E.STRATEGY_PARAMS_INVALID_MODEL)
    unbounded = message("unbounded", E.STRATEGY_PARAMS_INVALID_MODEL)
    assert "'n' (integer) has no upper bound" in unbounded
    assert "'x' (number) has no lower and upper bound" in unbounded
    assert "'s' is a free string" in unbounded
    assert "less than or equal to 10" in message(
        "default_out_of_bounds", E.STRATEGY_PARAMS_INVALID_MODEL
    )
    assert "shape (1999,) for 2,000 bars" in message("wrong_length", E.STRATEGY_SIGNALS_INVALID)
    wrong_dtype = message("wrong_dtype", E.STRATEGY_SIGNALS_INVALID)
    assert "target must be int8" in wrong_dtype and "(at batch.py:" in wrong_dtype
    assert "the target is 2 at bar 0" in message("wrong_values", E.STRATEGY_SIGNALS_INVALID)
    assert "returned ndarray, not Signals" in message("not_signals", E.STRATEGY_SIGNALS_INVALID)
    assert "@classmethod" in message("plain_method", E.STRATEGY_SIGNALS_INVALID)
    peek = message("peek", E.STRATEGY_LOOKAHEAD)
    assert peek.startswith("on the random walk") and "depends on later bars" in peek
    assert message("peek_cheap", E.STRATEGY_LOOKAHEAD).startswith("on cheap.csv (")
    assert "two calls on the random walk" in message("unseeded", E.STRATEGY_NONDETERMINISTIC)
    assert "'sma' is 0 on the first 4 bars" in message("zero_warmup", E.STRATEGY_WARMUP)
    raised = message("raises", E.STRATEGY_FAILED)
    line = BATCH.splitlines().index(
        '        return Signals(sma(bars["close"].to_numpy(), "five"))  # the line a report names'
    )
    assert f"(at batch.py:{line + 1}, in signals)" in raised
    assert raised.count("(at ") == 1 and "quantrun" not in raised  # never quantrun's frames
    assert "called sys.exit(4)" in message("exits", E.STRATEGY_FAILED)
    # A failed prerequisite skips what depends on it, saying why.
    skipped = [r for r in by_strategy(batch)["unseeded"] if r.status == "skip"]
    assert [(r.check, r.message) for r in skipped] == [("lookahead", "needs deterministic signals")]


@pytest.mark.parametrize(
    ("name", "text", "code", "expected"),
    [
        (
            "syntax.py",
            "import numpy\n\ndef f(:\n    pass\n",
            E.STRATEGY_IMPORT_FAILED,
            "(at syntax.py:3)",
        ),
        (
            "missing.py",
            "import numpy\nimport no_such_module_for_quantrun\n",
            E.STRATEGY_IMPORT_FAILED,
            "ModuleNotFoundError: No module named 'no_such_module_for_quantrun' (at missing.py:2)",
        ),
        (
            "exits.py",
            "import sys\nprint('bye')\nsys.exit(3)\n",
            E.STRATEGY_IMPORT_FAILED,
            "it called sys.exit(3) (at exits.py:3)",
        ),
        (
            "none.py",
            "from quantrun.strategies.base import Strategy\n\nclass A(Strategy):\n    pass\n",
            E.STRATEGY_NONE_FOUND,
            "A subclasses Strategy but sets no id of its own",
        ),
    ],
)
def test_code_that_does_not_import_or_defines_nothing(
    tmp_path: Path, name: str, text: str, code: ErrorCode, expected: str
) -> None:
    report = check_strategy(write(tmp_path, name, text), settings_for(tmp_path))
    [failure] = report.failures
    assert failure.code == code and expected in failure.message, failure
    assert report.strategies == () and report.timing == ()
    assert report.source_sha256 is not None


def test_sources_refused_before_any_code_runs(tmp_path: Path) -> None:
    folder = tmp_path / "not_a_package"
    write(folder, "rules.py", "x = 1\n")
    big = write(tmp_path, "big.py", "#" + "x" * MAX_SOURCE_BYTES + "\n")
    cases = {
        folder: E.STRATEGY_SOURCE_INVALID,
        big: E.STRATEGY_SOURCE_INVALID,
        tmp_path / "missing.py": E.INPUT_NOT_FOUND,
        write(tmp_path, "notes.txt", "hello"): E.STRATEGY_SOURCE_INVALID,
    }
    for path, code in cases.items():
        started = time.perf_counter()
        report = check_strategy(path, settings_for(tmp_path))
        assert time.perf_counter() - started < 0.5  # no child process
        assert [(r.check, r.code) for r in report.failures] == [("source", code)]
        assert report.source_sha256 is None
        error = report.first_failure()
        assert error is not None and error.code == code


def test_a_bad_timeframe_or_data_file_is_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(QuantrunError) as info:
        check_strategy(EXAMPLE, settings_for(tmp_path), timeframe="7m")
    assert info.value.code == E.TIMEFRAME_UNKNOWN
    bad = write(tmp_path, "bad.csv", "time,open\n1,2\n")
    with pytest.raises(QuantrunError) as info:
        check_strategy(EXAMPLE, settings_for(tmp_path), data=bad)
    assert info.value.code == E.CSV_MISSING_COLUMN


# -- containment ----------------------------------------------------------------------------------
LOOPS = (
    HEADER
    + """

class Loop(Strategy):
    id = "loop"
    version = "1"
    description = "Never returns."

    @classmethod
    def signals(cls, bars, params):
        while True:
            pass
"""
)

CRASHES = (
    HEADER
    + """

class Crash(Strategy):
    id = "crash"
    version = "1"
    description = "Ends the process from inside signals."

    @classmethod
    def signals(cls, bars, params):
        os._exit(7)
"""
)


def test_a_strategy_that_never_returns_is_stopped(tmp_path: Path) -> None:
    path = write(tmp_path, "loops.py", LOOPS)
    started = time.perf_counter()
    report = check_strategy(path, settings_for(tmp_path, strategy_check_timeout_seconds=3))
    assert time.perf_counter() - started < 15
    [failure] = report.failures
    assert failure.code == E.STRATEGY_CHECK_TIMEOUT
    assert failure.message.endswith("did not finish within 3 s and was stopped")
    assert (failure.check, failure.strategy) == ("signals", "loop")
    error = report.first_failure()
    assert error is not None and error.exit_code == 2


def test_a_strategy_that_ends_the_process_is_reported(tmp_path: Path) -> None:
    report = check_strategy(write(tmp_path, "crash.py", CRASHES), settings_for(tmp_path))
    [failure] = report.failures
    assert failure.code == E.STRATEGY_CHECK_CRASHED
    assert (failure.check, failure.strategy) == ("signals", "crash")
    assert "exited (7) during the signals check" in failure.message


# -- run time: the user's file and line -----------------------------------------------------------
def test_strategy_failure_names_the_users_line_not_quantruns(tmp_path: Path) -> None:
    text = HEADER + textwrap.dedent(
        """

        class Fails(Strategy):
            id = "fails_at_run_time"
            version = "1"
            description = "Raises inside a quantrun helper it calls."

            @classmethod
            def signals(cls, bars, params):
                close = bars["close"].to_numpy()
                return Signals(sma(close, "five"))
        """
    )
    path = write(tmp_path, "runtime.py", text)
    source = StrategySource.from_path(path)
    try:
        [cls] = strategies_in(import_path(path, source.module_name))
        with pytest.raises(TypeError) as info:
            cls.signals(demo_bars(1).head(50), cls.Params())
        failure = strategy_failure(info.value, source, strategy_id="fails_at_run_time")
    finally:
        sys.modules.pop(source.module_name, None)
    assert failure.code == E.STRATEGY_FAILED and failure.exit_code == 3
    line = text.splitlines().index('        return Signals(sma(close, "five"))') + 1
    assert failure.extra == {
        "exception": "TypeError",
        "file": "runtime.py",
        "line": line,
        "function": "signals",
    }
    assert failure.detail.startswith("fails_at_run_time: TypeError: ")
    assert failure.detail.endswith(f"(at runtime.py:{line}, in signals)")
    # Code that was never loaded in this process: the message without a place.
    other = StrategySource.from_path(write(tmp_path, "other.py", "x = 2\n"))
    assert strategy_failure(ValueError("bad"), other).detail == "ValueError: bad"


# -- the CLI --------------------------------------------------------------------------------------
def test_cli_report_lines_and_exit_code(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["strategies", "check", str(tmp_path / "nope")])
    assert result.exit_code == 3
    assert "FAIL  source" in result.stdout and "INPUT_NOT_FOUND" in result.stdout
    assert "error[INPUT_NOT_FOUND]: no strategy file nope" in result.stderr

    path = write(tmp_path, "peek.py", BATCH.split("class Clean(Base):")[0] + PEEK_ONLY)
    result = runner.invoke(main, ["strategies", "check", str(path), "--timeframe", "4h"])
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path} (file, source ")
    assert any(
        line.split()[:4] == ["FAIL", "lookahead", "peek", "v1"]
        and "STRATEGY_LOOKAHEAD: on the random walk (2,000 4h bars)" in line
        for line in lines
    ), lines
    assert any(line.split()[:2] == ["ok", "timing"] for line in lines)
    assert lines[-1] == "1 check failed"
    assert result.stderr.startswith("error[STRATEGY_LOOKAHEAD]: peek v1: on the random walk")


PEEK_ONLY = """
class Peek(Base):
    id = "peek"

    @classmethod
    def signals(cls, bars, params):
        up = bars["close"].shift(-1) > bars["close"]
        return Signals(up.fill_null(False).to_numpy().astype(np.int8))
"""

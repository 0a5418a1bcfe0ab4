"""The benchmark suite: quantrun end to end against backtesting.py, vectorbt and the floor.

One command, run in the peer environment (``make bench-env`` builds it)::

    .venv-bench/bin/python benchmarks/bench_suite.py [--quick] [--repeat K] [--out PATH]

Every timed sample is a fresh process, reaped with ``os.wait4`` (wall time and peak RSS).
Within a group (one dataset size and timeframe, or the registry) the cases run round-robin,
the starting case rotating from one repetition to the next, after one untimed warm-up round.
quantrun and the floor run in quantrun's own ``.venv`` (as a user installs it); backtesting.py
and vectorbt run in ``.venv-bench``. The groups:

- ``e2e``: CSV file to backtest result, for 100k, 1M and 5M 1-minute rows, on 1m and on 15m
  bars: ``quantrun runs create`` into an empty RUNS_ROOT, backtesting.py (``read_csv`` +
  ``FractionalBacktest.run``), vectorbt (``read_csv`` + ``Portfolio.from_signals``, the first
  call in the process, JIT included), the floor (``floor_loop.py``: a bare
  ``pyarrow.csv.read_csv`` and one cached numba loop), and ``quantrun_stages``: the same
  creation in one process through the Python API with each stage of the builder timed.
- ``registry``: ``quantrun runs list`` with 10, 1,000 and 10,000 registered runs, and
  ``quantrun runs create`` (100k rows, 15m) into an empty root and into each of those.
- ``parity``: quantrun's engine against ``FractionalBacktest`` on the same bars
  (``parity_backtesting.py``'s comparison), 1m and 15m.

It prints the tables (rich), writes ``benchmarks/out/suite.json`` and a Markdown copy of the
tables (``suite.md``). It contains no timed assertion: it measures, compares and reports.
See benchmarks/README.md for every case, ratio and goal.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench_ingest import ensure_csv
from harness import (
    HERE,
    OUT_DIR,
    ROOT,
    machine,
    round_robin,
    run_process,
    spread,
    stats,
    user_env,
    write_json,
)

QR_PYTHON = ROOT / ".venv" / "bin" / "python"
QR_CLI = ROOT / ".venv" / "bin" / "quantrun"
PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
FLOOR = HERE / "floor_loop.py"

FAST, SLOW = 10, 30
COMMISSION_BPS = 10
RISK = {
    "position_fraction": 1.0,
    "stop_loss_pct": None,
    "take_profit_pct": None,
    "max_drawdown_halt_pct": None,
    "allow_short": False,
}
TIMEFRAMES = {"1m": 1, "15m": 15}
FULL_ROWS = (100_000, 1_000_000, 5_000_000)
REGISTRY_SIZES = (10, 1_000, 10_000)
REGISTRY_CREATE_ROWS = 100_000
REGISTRY_SEED_ROWS = 20_000
#: backtesting.py runs up to this many rows (5M 1m bars: ~36 s a run here, under the ~2 min cap).
BACKTESTING_MAX_1M_ROWS = 5_000_000

#: Each goal: (ratio name template, comparison, bound). Every ratio is of medians from one run;
#: the names are filled in with the sizes the issue sets (1M and 5M rows, 10 and 10,000 runs).
GOALS: tuple[tuple[str, str, float], ...] = (
    ("e2e_{main}_1m_backtesting_over_quantrun", ">=", 15.0),
    ("e2e_{main}_1m_vectorbt_over_quantrun", ">=", 5.0),
    ("e2e_{main}_1m_quantrun_over_floor", "<=", 2.0),
    # A second `runs create` on a file already stored, with other parameters (issue 17).
    ("e2e_{main}_1m_second_over_first", "<=", 0.5),
    ("e2e_{main}_15m_second_over_first", "<=", 0.5),
    # The same two runs handed to a daemon (`quantrun daemon start`, D55).
    ("e2e_{main}_1m_daemon_second_over_first", "<=", 0.5),
    ("e2e_{main}_15m_daemon_second_over_first", "<=", 0.5),
    ("e2e_{big}_1m_quantrun_over_floor", "<=", 2.5),
    ("e2e_{big}_1m_quantrun_peak_rss_gib", "<", 1.5),
    ("e2e_{big}_over_{main}_1m_quantrun", "<=", 5.5),
    ("registry_list_{many}_over_{few}", "<=", 3.0),
    ("registry_create_{many}_over_empty", "<=", 1.5),
    # Seconds, not a ratio: from the spawn to the builder's first stage report (issue 17).
    ("e2e_{main}_1m_quantrun_startup_s", "<=", 0.3),
    # Seconds: a whole `runs list --json` of an empty RUNS_ROOT handed to a daemon (start-up,
    # the command, the exit), an upper bound of a handed-over `runs create`'s start-up (D55).
    ("startup_runs_list_daemon_s", "<=", 0.3),
)
NOMINAL = {"main": "1M", "big": "5M", "many": "10000", "few": "10"}


# -- the child programs -------------------------------------------------------------------
# Peers get argv[1] = CSV path, argv[2] = timeframe in minutes. Each prints one JSON line.

_PEER_PRELUDE = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import pandas as pd
path, minutes = sys.argv[1], int(sys.argv[2])
frame = pd.read_csv(path)
rows = len(frame)
frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms")
frame.columns = ["Open", "High", "Low", "Close", "Volume"]
if minutes > 1:
    agg = {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
    end = frame.index[-1] + pd.Timedelta(minutes=1)
    frame = frame.resample(f"{minutes}min", label="left", closed="left").agg(agg).dropna()
    if frame.index[-1] + pd.Timedelta(minutes=minutes) > end:  # the data ends inside it
        frame = frame.iloc[:-1]
"""
_PEER_REPORT = """
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows, "bars": len(frame),
    "trades": trades, "total_return": total_return,
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""
BACKTESTING_CHILD = (
    _PEER_PRELUDE
    + f"""
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
from backtesting.test import SMA

class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(SMA, self.data.Close, {FAST})
        self.slow = self.I(SMA, self.data.Close, {SLOW})

    def next(self):
        if crossover(self.fast, self.slow):
            if not self.position:
                self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()

backtest = FractionalBacktest(frame, SmaCross, cash=10_000, commission={COMMISSION_BPS / 1e4},
    trade_on_close=False, exclusive_orders=False, finalize_trades=False)
stats = backtest.run()
trades = int(stats["# Trades"]) + len(stats["_strategy"].trades)
total_return = float(stats["Return [%]"]) / 100
"""
    + _PEER_REPORT
)
VECTORBT_CHILD = (
    _PEER_PRELUDE
    + f"""
import numpy as np
import vectorbt as vbt
close = frame["Close"]
fast = vbt.MA.run(close, {FAST})
slow = vbt.MA.run(close, {SLOW})
# A cross on bar i's close is an order at bar i+1's open: shift the signals, price = open.
entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
portfolio = vbt.Portfolio.from_signals(close, entries, exits, price=frame["Open"],
    fees={COMMISSION_BPS / 1e4}, init_cash=10_000, size=np.inf, direction="longonly",
    freq=f"{{minutes}}min")
trades = int(portfolio.trades.count())
total_return = float(portfolio.total_return())
"""
    + _PEER_REPORT
)
#: quantrun's builder in one process, each stage timed through its public progress hook:
#: ``create_run(..., progress=callback)`` reports each stage of ``builder.BUILD_STAGES`` as it
#: starts (a build waiting for a slot reports ``builder.WAITING`` first), so a stage lasts from
#: its report to the next one, the last until ``create_run`` returns; ``start`` is the time
#: before the first report. A stage name the builder does not export fails the sample. It also
#: prints the wall-clock time (``time.time()``) of the first report: minus the time of the spawn,
#: that is the sample's ``startup`` (interpreter, imports and ``start``: ``runs create``'s
#: start-up). Like the console script, it keeps freed large blocks for reuse (D53). argv: CSV,
#: timeframe name (1m/15m), RUNS_ROOT, risk file.
STAGES_CHILD = (
    """
import json, resource, sys, time
from pathlib import Path
t_start = time.perf_counter()
import quantrun.cli
from quantrun.allocator import keep_freed_memory
keep_freed_memory()  # as the console script does for runs create (D53)
from quantrun.api import create_run
from quantrun.runs.builder import BUILD_STAGES, WAITING
from quantrun.settings import Settings
imports = time.perf_counter() - t_start
reports = []
first_epoch = []
def progress(stage):
    reports.append((stage, time.perf_counter()))
    if not first_epoch:
        first_epoch.append(time.time())
csv, timeframe, runs_root, risk_file = sys.argv[1:5]
# An artifact schema pinned (bench_artifacts.py), else the current one.
pinned = {"artifact_schema": int(sys.argv[5])} if len(sys.argv) > 5 else {}
t0 = time.perf_counter()
result = create_run(csv, symbol="BENCH", strategy="sma_crossover",
    params={"fast": FAST, "slow": SLOW}, risk=None, risk_file=risk_file,
    commission_bps=BPS, timeframe=timeframe, settings=Settings(runs_root=Path(runs_root)),
    progress=progress, **pinned)
t_end = time.perf_counter()
unknown = [stage for stage, _ in reports if stage not in (WAITING, *BUILD_STAGES)]
if unknown:
    sys.exit(f"create_run reported stages the builder does not export: {unknown}")
stages = {"imports": imports, "start": (reports[0][1] if reports else t_end) - t0}
for (stage, began), (_, ended) in zip(reports, [*reports[1:], ("end", t_end)]):
    stages[stage] = stages.get(stage, 0.0) + ended - began
summary = result.manifest.summary
print(json.dumps({"seconds": t_end - t0, "rows": result.manifest.dataset.rows,
    "bars": summary.bars, "trades": summary.trades,
    "total_return": summary.total_return, "run_id": result.run_id, "stages": stages,
    "artifact_bytes": {a.name: a.bytes for a in result.manifest.artifacts},
    "first_stage_epoch": first_epoch[0],
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""".replace("FAST", str(FAST))
    .replace("SLOW", str(SLOW))
    .replace("BPS", str(COMMISSION_BPS))
)


# -- running one sample -------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall_s: float  # spawn to reap, measured here
    maxrss_mib: float  # the child's peak RSS (os.wait4)
    inproc_s: float | None = None  # the child's own timer, when it has one
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """One thing to time. ``argv`` builds the command; ``prepare``/``cleanup`` run outside the
    timer (a fresh RUNS_ROOT, restoring a registry); ``parse`` reads the child's stdout."""

    name: str
    group: str
    tool: str
    argv: Callable[[Path], list[str]]
    parse: Callable[[str], dict[str, Any]]
    prepare: Callable[[], Path] = lambda: OUT_DIR
    cleanup: Callable[[Path], None] = lambda _: None
    env: dict[str, str] = field(default_factory=dict)  # added to the timed process's
    samples: list[Sample] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def run_once(case: Case) -> Sample:
    workdir = case.prepare()
    try:
        done = run_process(case.argv(workdir), cwd=ROOT, env=case.env)
    finally:
        case.cleanup(workdir)
    if done.code != 0:
        raise SystemExit(
            f"{case.name} exited {done.code}:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}"
        )
    report = case.parse(done.stdout)
    if "first_stage_epoch" in report:
        report["startup_s"] = report["first_stage_epoch"] - done.started_epoch
    inproc = report.get("seconds")
    seconds = None if inproc is None else float(inproc)
    return Sample(done.wall_s, done.maxrss_mib, seconds, report)


def run_group(cases: list[Case], repeat: int, warmup: int, label: str) -> None:
    """Round-robin over ``cases``; the starting case rotates with each repetition."""
    for rep, case in round_robin(cases, repeat, warmup, label):
        sample = run_once(case)
        if rep >= 0:
            case.samples.append(sample)


def _json_line(stdout: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return value


def _cli_json(stdout: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(stdout)
    summary = value.get("summary", {})
    return {
        "bars": summary.get("bars"),
        "trades": summary.get("trades"),
        "total_return": summary.get("total_return"),
        "run_id": value.get("run_id"),
    }


def _lines(stdout: str) -> dict[str, Any]:
    return {"lines": len(stdout.splitlines())}


# -- the e2e group ------------------------------------------------------------------------


def _fresh_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="suite-root-", dir=OUT_DIR))


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _create_argv(csv: Path, timeframe: str, risk_file: Path) -> Callable[[Path], list[str]]:
    def argv(root: Path) -> list[str]:
        return [
            str(QR_CLI),
            "runs",
            "create",
            str(csv),
            "--symbol",
            "BENCH",
            "--strategy",
            "sma_crossover",
            "--param",
            f"fast={FAST}",
            "--param",
            f"slow={SLOW}",
            "--risk-file",
            str(risk_file),
            "--commission-bps",
            str(COMMISSION_BPS),
            "--timeframe",
            timeframe,
            "--runs-root",
            str(root),
            "--json",
        ]

    return argv


#: The environment of the cases that hand ``runs create`` to a daemon (D55); every other
#: quantrun process of the suite runs with ``QUANTRUN_DAEMON=off`` (set in :func:`main`).
DAEMON_ENV = {"QUANTRUN_DAEMON": "on"}


def _daemon_up() -> None:
    """Start the suite's daemon unless it runs (outside the timer; it ends when idle)."""
    done = subprocess.run(
        [str(QR_CLI), "daemon", "start", "--idle-minutes", "30"],
        env=user_env(**DAEMON_ENV),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"quantrun daemon start exited {done.returncode}: {done.stderr}")


def _daemon_down() -> None:
    subprocess.run([str(QR_CLI), "daemon", "stop"], env=user_env(**DAEMON_ENV), capture_output=True)


def _with_daemon(prepare: Callable[[], Path]) -> Callable[[], Path]:
    def up_then_prepare() -> Path:
        _daemon_up()
        return prepare()

    return up_then_prepare


#: The parameters of the run made first, outside the timer, for ``quantrun_second``.
OTHER_FAST, OTHER_SLOW = 5, 20


def stored_root(csv: Path, timeframe: str, risk_file: Path) -> Callable[[], Path]:
    """A ``prepare`` for ``quantrun_second``: a fresh RUNS_ROOT where ``csv`` has already been
    run once with other parameters, so its dataset and ingest receipt are stored (that first run
    is made once per group and suite run, and its datasets/ and receipts/ copied for each
    sample)."""
    seed = OUT_DIR / f"second-seed-{csv.stem}-{timeframe}"
    made: list[bool] = []

    def prepare() -> Path:
        if not made:
            _remove(seed)
            argv = _create_argv(csv, timeframe, risk_file)(seed)
            fast, slow = argv.index(f"fast={FAST}"), argv.index(f"slow={SLOW}")
            argv[fast], argv[slow] = f"fast={OTHER_FAST}", f"slow={OTHER_SLOW}"
            _quiet(argv)
            made.append(True)
        root = _fresh_root()
        for folder in ("datasets", "receipts"):
            shutil.copytree(seed / folder, root / folder)
        return root

    return prepare


def startup_cases() -> list[Case]:
    """A trivial command (``runs list --json`` of an empty RUNS_ROOT), in its own process and
    handed to a daemon: its whole wall time bounds the start-up from above."""

    def argv(root: Path) -> list[str]:
        return [str(QR_CLI), "runs", "list", "--runs-root", str(root), "--json"]

    def parse(out: str) -> dict[str, Any]:
        return {"lines": len(json.loads(out)["runs"])}

    return [
        Case("runs list", "startup", "quantrun", argv, parse, _fresh_root, _remove),
        Case(
            "runs list (daemon)",
            "startup",
            "quantrun_daemon",
            argv,
            parse,
            _with_daemon(_fresh_root),
            _remove,
            env=DAEMON_ENV,
        ),
    ]


def e2e_cases(rows: int, timeframe: str, csv: Path, risk_file: Path) -> list[Case]:
    group = f"e2e {rows:,} rows {timeframe}"
    minutes = str(TIMEFRAMES[timeframe])
    cases = [
        Case(
            "quantrun",
            group,
            "quantrun",
            _create_argv(csv, timeframe, risk_file),
            _cli_json,
            prepare=_fresh_root,
            cleanup=_remove,
        ),
        Case(
            "quantrun_second",
            group,
            "quantrun_second",
            _create_argv(csv, timeframe, risk_file),
            _cli_json,
            prepare=stored_root(csv, timeframe, risk_file),
            cleanup=_remove,
        ),
        Case(
            "quantrun_daemon",
            group,
            "quantrun_daemon",
            _create_argv(csv, timeframe, risk_file),
            _cli_json,
            prepare=_with_daemon(_fresh_root),
            cleanup=_remove,
            env=DAEMON_ENV,
        ),
        Case(
            "quantrun_daemon_second",
            group,
            "quantrun_daemon_second",
            _create_argv(csv, timeframe, risk_file),
            _cli_json,
            prepare=_with_daemon(stored_root(csv, timeframe, risk_file)),
            cleanup=_remove,
            env=DAEMON_ENV,
        ),
        Case(
            "floor",
            group,
            "floor",
            lambda _: [str(QR_PYTHON), str(FLOOR), str(csv), minutes],
            _json_line,
        ),
        Case(
            "vectorbt",
            group,
            "vectorbt",
            lambda _: [str(PEER_PYTHON), "-c", VECTORBT_CHILD, str(csv), minutes],
            _json_line,
        ),
        Case(
            "quantrun_stages",
            group,
            "quantrun_stages",
            lambda root: [
                str(QR_PYTHON),
                "-c",
                STAGES_CHILD,
                str(csv),
                timeframe,
                str(root),
                str(risk_file),
            ],
            _json_line,
            prepare=_fresh_root,
            cleanup=_remove,
        ),
    ]
    if timeframe != "1m" or rows <= BACKTESTING_MAX_1M_ROWS:
        cases.insert(
            2,
            Case(
                "backtesting.py",
                group,
                "backtesting.py",
                lambda _: [str(PEER_PYTHON), "-c", BACKTESTING_CHILD, str(csv), minutes],
                _json_line,
            ),
        )
    return cases


# -- the registry group -------------------------------------------------------------------


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def build_registry(size: int, seed_csv: Path, risk_file: Path) -> Path:
    """A RUNS_ROOT with ``size`` runs: one real run, cloned under new ids (artifacts hard
    linked, the manifest rewritten with the new id), then ``quantrun registry rebuild`` reads
    and verifies every folder and writes index.json, as after a real history of runs."""
    root = OUT_DIR / f"registry-{size}"
    _remove(root)
    _quiet(_create_argv(seed_csv, "15m", risk_file)(root))
    runs = root / "runs"
    (seed,) = list(runs.iterdir())
    manifest = json.loads((seed / "manifest.json").read_text())
    for i in range(1, size):
        run_id = hashlib.sha256(f"bench-suite-clone-{i}".encode()).hexdigest()
        folder = runs / run_id
        folder.mkdir()
        for item in seed.iterdir():
            if item.name != "manifest.json":
                os.link(item, folder / item.name)
        text = json.dumps(manifest | {"run_id": run_id}, sort_keys=True, indent=2) + "\n"
        (folder / "manifest.json").write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    _quiet([str(QR_CLI), "registry", "rebuild", "--runs-root", str(root)])
    print(f"  registry of {size:,} runs built (rebuild {time.perf_counter() - t0:.1f} s)")
    return root


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


class RegistrySnapshot:
    """What a registry holds before a timed creation, to put it back exactly afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = (root / "index.json").read_bytes()
        self.runs = _names(root / "runs")
        self.datasets = _names(root / "datasets")

    def prepare(self) -> Path:
        return self.root

    def restore(self, _: Path) -> None:
        for name in _names(self.root / "runs") - self.runs:
            _remove(self.root / "runs" / name)
        for name in _names(self.root / "datasets") - self.datasets:
            _remove(self.root / "datasets" / name)
        _remove(self.root / "staging")
        tmp = self.root / ".index.json.bench"
        tmp.write_bytes(self.index)
        tmp.replace(self.root / "index.json")


def _list_argv(root: Path) -> Callable[[Path], list[str]]:
    return lambda _: [str(QR_CLI), "runs", "list", "--runs-root", str(root)]


def registry_cases(create_csv: Path, risk_file: Path, roots: dict[int, Path]) -> list[Case]:
    group = "registry"
    cases = [
        Case(
            "create into empty root",
            group,
            "create@0",
            _create_argv(create_csv, "15m", risk_file),
            _cli_json,
            prepare=_fresh_root,
            cleanup=_remove,
            info={"runs": 0},
        )
    ]
    for size, root in roots.items():
        snapshot = RegistrySnapshot(root)
        cases.append(
            Case(
                f"create with {size:,} runs",
                group,
                f"create@{size}",
                _create_argv(create_csv, "15m", risk_file),
                _cli_json,
                prepare=snapshot.prepare,
                cleanup=snapshot.restore,
                info={"runs": size},
            )
        )
        cases.append(
            Case(
                f"list {size:,} runs",
                group,
                f"list@{size}",
                _list_argv(root),
                _lines,
                info={"runs": size},
            )
        )
    return cases


# -- parity -------------------------------------------------------------------------------


def parity(rows: int) -> dict[str, Any]:
    """quantrun's engine against FractionalBacktest on the same bars (parity_backtesting's
    comparison), on 1m bars and on the same bars resampled to 15m."""
    import parity_backtesting as pb
    from quantrun.data.resample import resample
    from walk import random_walk

    peers = pb.load_peers()
    walk = random_walk(rows)
    out: dict[str, Any] = {"rows": rows}
    for name, bars in (("1m", walk), ("15m", resample(walk, "15m").bars)):
        close = bars["close"].to_numpy()
        q = pb.run_quantrun(bars)
        for variant in pb.VARIANTS:
            cmp = pb.compare(q, pb.run_backtesting(peers, bars, variant), close)
            passes, why = pb.verdict(variant, cmp, strict=False)
            fields = cmp["fields"]
            out[f"{name}/{variant}"] = {
                "bars": bars.height,
                "verdict": why,
                "passes": passes,
                "trades": cmp["trades"],
                "matched_trades": cmp["matched_trades"],
                "entry_exit_time_mismatches": sum(
                    fields[k]["mismatches"] for k in ("entry_ts", "exit_ts")
                ),
                "max_price_rel_diff": max(
                    fields[k]["max_rel"] for k in ("entry_price", "exit_price")
                ),
                "total_return": cmp["total_return"],
                "final_equity_rel_diff": cmp["final_equity"]["rel_diff"],
            }
    return out


# -- summary, ratios, goals ---------------------------------------------------------------


def summarize(case: Case) -> dict[str, Any]:
    wall = [s.wall_s for s in case.samples]
    inproc = [s.inproc_s for s in case.samples if s.inproc_s is not None]
    out: dict[str, Any] = {
        "group": case.group,
        "case": case.name,
        "tool": case.tool,
        "wall_s": stats(wall),
        "inproc_s": stats(inproc) if inproc else None,
        "peak_rss_mib": stats([s.maxrss_mib for s in case.samples]),
        "result": {
            k: v
            for k, v in case.samples[-1].report.items()
            if k in ("rows", "bars", "trades", "total_return", "lines", "run_id")
        },
    } | case.info
    stages = [s.report["stages"] for s in case.samples if "stages" in s.report]
    if stages:
        names = list(dict.fromkeys(name for st in stages for name in st))
        # A stage a sample did not report (waiting for a build slot, say) took it no time.
        out["stages_s"] = {n: statistics.median(st.get(n, 0.0) for st in stages) for n in names}
    startup = [s.report["startup_s"] for s in case.samples if "startup_s" in s.report]
    if startup:
        out["startup_s"] = stats(startup)
    return out


def _wall(summary: dict[str, dict[str, Any]], key: str) -> float | None:
    entry = summary.get(key)
    return None if entry is None else float(entry["wall_s"]["median"])


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def ratios(summary: dict[str, dict[str, Any]], rows: list[int]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for n in rows:
        for tf in TIMEFRAMES:
            key = f"e2e {n:,} rows {tf}"
            qr = _wall(summary, f"{key}/quantrun")
            tag = f"e2e_{_short(n)}_{tf}"
            out[f"{tag}_backtesting_over_quantrun"] = _ratio(
                _wall(summary, f"{key}/backtesting.py"), qr
            )
            out[f"{tag}_vectorbt_over_quantrun"] = _ratio(_wall(summary, f"{key}/vectorbt"), qr)
            out[f"{tag}_quantrun_over_floor"] = _ratio(qr, _wall(summary, f"{key}/floor"))
            startup = summary.get(f"{key}/quantrun_stages", {}).get("startup_s")
            if startup is not None:
                out[f"{tag}_quantrun_startup_s"] = startup["median"]
            out[f"{tag}_second_over_first"] = _ratio(_wall(summary, f"{key}/quantrun_second"), qr)
            daemon = _wall(summary, f"{key}/quantrun_daemon")
            daemon_second = _wall(summary, f"{key}/quantrun_daemon_second")
            out[f"{tag}_daemon_second_over_first"] = _ratio(daemon_second, daemon)
            out[f"{tag}_daemon_second_over_cold_first"] = _ratio(daemon_second, qr)
            out[f"{tag}_daemon_over_floor"] = _ratio(daemon, _wall(summary, f"{key}/floor"))
            if n == max(rows) and f"{key}/quantrun" in summary:
                rss = summary[f"{key}/quantrun"]["peak_rss_mib"]["median"] / 1024
                out[f"{tag}_quantrun_peak_rss_gib"] = rss
    for small, big in itertools.pairwise(rows):
        for tf in TIMEFRAMES:
            for tool in ("quantrun", "floor", "vectorbt", "backtesting.py"):
                name = f"e2e_{_short(big)}_over_{_short(small)}_{tf}_{tool.removesuffix('.py')}"
                out[name] = _ratio(
                    _wall(summary, f"e2e {big:,} rows {tf}/{tool}"),
                    _wall(summary, f"e2e {small:,} rows {tf}/{tool}"),
                )
    for name, key in (("cold", "startup/runs list"), ("daemon", "startup/runs list (daemon)")):
        wall = _wall(summary, key)
        if wall is not None:
            out[f"startup_runs_list_{name}_s"] = wall
    sizes = sorted(
        int(v["runs"]) for v in summary.values() if v["group"] == "registry" and v.get("runs")
    )
    if sizes:
        first = _wall(summary, f"registry/list {sizes[0]:,} runs")
        empty = _wall(summary, "registry/create into empty root")
        for size in sizes[1:]:
            out[f"registry_list_{size}_over_{sizes[0]}"] = _ratio(
                _wall(summary, f"registry/list {size:,} runs"), first
            )
        for size in sizes:
            out[f"registry_create_{size}_over_empty"] = _ratio(
                _wall(summary, f"registry/create with {size:,} runs"), empty
            )
    return {k: v for k, v in out.items() if v is not None}


def _short(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1_000}k"


def goals(
    found: dict[str, float | None], rows: list[int], sizes: list[int]
) -> dict[str, dict[str, Any]]:
    """Each goal against its ratio. A run without the goal's sizes (``--quick``) checks the
    same ratio at the largest sizes it has, marked indicative."""
    actual = {
        "main": _short(1_000_000 if 1_000_000 in rows else max(rows)),
        "big": _short(5_000_000) if 5_000_000 in rows else "none",
        "many": str(10_000 if 10_000 in sizes else max(sizes, default=0)),
        "few": str(10 if 10 in sizes else min(sizes, default=0)),
    }
    out: dict[str, dict[str, Any]] = {}
    for template, op, bound in GOALS:
        name = template.format(**NOMINAL)
        measured = template.format(**actual)
        value = found.get(measured)
        met = None
        if value is not None:
            met = value >= bound if op == ">=" else value <= bound if op == "<=" else value < bound
        out[name] = {
            "goal": f"{op} {bound:g}",
            "measured_as": measured,
            "indicative": measured != name,
            "value": value,
            "met": met,
        }
    return out


# -- machine and output -------------------------------------------------------------------


def suite_machine() -> dict[str, Any]:
    """The harness's machine description, with the CPU model, memory, load and the versions in
    both environments the timed processes run in."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()[0].split(":")[1]

    def versions(python: Path, packages: tuple[str, ...]) -> dict[str, str | None]:
        code = (
            "import json, importlib.metadata as m\n"
            "def v(p):\n    try:\n        return m.version(p)\n"
            "    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{p: v(p) for p in {list(packages)!r}}}))"
        )
        text = subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout
        value: dict[str, str | None] = json.loads(text)
        return value

    return machine(("rich",)) | {
        "cpu": cpu,
        "memory": memory.strip(),
        "load_average_at_start": os.getloadavg(),
        "quantrun_env": versions(QR_PYTHON, ("quantrun", "numpy", "numba", "polars", "pyarrow")),
        "peer_env": versions(PEER_PYTHON, ("backtesting", "vectorbt", "pandas", "numpy", "numba")),
    }


def tables(result: dict[str, Any]) -> list[Table]:
    out = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in result["summary"].values():
        groups.setdefault(entry["group"], []).append(entry)
    for group, entries in groups.items():
        table = Table(title=f"{group} ({result['repeat']} reps)")
        for column in ("case", "wall s median (min-max)", "peak RSS MiB", "vs base", "result"):
            table.add_column(column, justify="left" if column in ("case", "result") else "right")
        base = next((e for e in entries if e["tool"] in ("quantrun", "create@0")), None)
        for e in entries:
            rel = ""
            if base is not None and base is not e:
                rel = f"{e['wall_s']['median'] / base['wall_s']['median']:.2f}x"
            r = e["result"]
            what = (
                f"{r['lines']:,} lines"
                if "lines" in r
                else f"{r.get('bars') or 0:,} bars, {r.get('trades')} trades, "
                f"return {r.get('total_return', float('nan')):+.4f}"
            )
            rss = f"{e['peak_rss_mib']['median']:.0f}"
            table.add_row(e["case"], spread(e["wall_s"]), rss, rel, what)
        out.append(table)
    if not any("stages_s" in e for e in result["summary"].values()):
        out.append(_goal_table(result))
        return out
    stage_table = Table(title="quantrun stages, in process (median s)")
    stage_table.add_column("group")
    names: list[str] = []
    for entry in result["summary"].values():
        for name in entry.get("stages_s", {}):
            if name not in names:
                names.append(name)
    for name in names:
        stage_table.add_column(name, justify="right")
    stage_table.add_column("startup (spawn to 1st stage)", justify="right")
    for entry in result["summary"].values():
        if "stages_s" in entry:
            startup = entry.get("startup_s")
            stage_table.add_row(
                entry["group"],
                *(f"{entry['stages_s'].get(n, 0.0):.3f}" for n in names),
                "-" if startup is None else f"{startup['median']:.3f}",
            )
    out.append(stage_table)
    out.append(_goal_table(result))
    return out


def _goal_table(result: dict[str, Any]) -> Table:
    goal_table = Table(title="goals (ratios of medians from this run)")
    for column in ("goal", "bound", "value", "met"):
        goal_table.add_column(column)
    for name, goal in result["goals"].items():
        value = "-" if goal["value"] is None else f"{goal['value']:.2f}"
        met = {True: "MET", False: "MISSED", None: "not measured"}[goal["met"]]
        if goal["indicative"] and goal["value"] is not None:
            met += f" (indicative: {goal['measured_as']})"
        goal_table.add_row(name, goal["goal"], value, met)
    return goal_table


def total_return_diff(total_return: dict[str, float]) -> float:
    """|quantrun's total return - backtesting.py's|, from parity's ``total_return`` entry."""
    return abs(total_return["quantrun"] - total_return["backtesting"])


def markdown(table: Table) -> str:
    """A rich table as a Markdown table (for RESULTS.md)."""
    heads = [str(c.header) for c in table.columns]
    cells = [[str(v) for v in c._cells] for c in table.columns]
    lines = [f"**{table.title}**", "", "| " + " | ".join(heads) + " |"]
    lines.append("|" + "|".join("---" for _ in heads) + "|")
    for row in zip(*cells, strict=True):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100k rows only, 2 reps")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per group")
    parser.add_argument("--rows", type=int, nargs="+", default=None, help="e2e dataset sizes")
    parser.add_argument(
        "--registry-sizes", type=int, nargs="*", default=None, help="registry sizes"
    )
    parser.add_argument("--parity-rows", type=int, default=None, help="bars for parity")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["e2e", "startup", "registry", "parity"]
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "suite.json", help="JSON path")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (2 if args.quick else 3)
    args.rows = args.rows or ([100_000] if args.quick else list(FULL_ROWS))
    if args.registry_sizes is None:
        args.registry_sizes = [10, 1_000] if args.quick else list(REGISTRY_SIZES)
    args.parity_rows = args.parity_rows or (20_000 if args.quick else 100_000)
    return args


def check_environments() -> None:
    missing = [p for p in (QR_PYTHON, QR_CLI, PEER_PYTHON) if not p.is_file()]
    if missing:
        raise SystemExit(
            f"missing {', '.join(map(str, missing))}: run `make bench-env` (and `make` once)"
        )
    probe = subprocess.run(
        [str(PEER_PYTHON), "-c", "import backtesting, vectorbt"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise SystemExit(f"the peers do not import in .venv-bench: {probe.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_environments()
    # quantrun processes run in their own process unless a case says otherwise (DAEMON_ENV),
    # and the suite's daemon lives in a folder of its own.
    os.environ["QUANTRUN_DAEMON"] = "off"
    os.environ["QUANTRUN_DAEMON_DIR"] = tempfile.mkdtemp(prefix="qrd")
    try:
        return _main(args)
    finally:
        _daemon_down()
        shutil.rmtree(os.environ["QUANTRUN_DAEMON_DIR"], ignore_errors=True)


def _main(args: argparse.Namespace) -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    risk_file = OUT_DIR / "suite-risk.json"
    risk_file.write_text(json.dumps(RISK) + "\n")
    info = suite_machine()
    cases: list[Case] = []
    if "e2e" not in args.skip:
        for rows in args.rows:
            csv = ensure_csv(rows)
            for timeframe in TIMEFRAMES:
                group = e2e_cases(rows, timeframe, csv, risk_file)
                print(f"{group[0].group}: {', '.join(c.name for c in group)}", flush=True)
                run_group(group, args.repeat, args.warmup, group[0].group)
                cases += group
    if "startup" not in args.skip:
        group = startup_cases()
        cases += group
        run_group(group, args.repeat, args.warmup, "startup")
    if "registry" not in args.skip and args.registry_sizes:
        seed_csv = ensure_csv(REGISTRY_SEED_ROWS)
        create_csv = ensure_csv(REGISTRY_CREATE_ROWS)
        roots = {n: build_registry(n, seed_csv, risk_file) for n in args.registry_sizes}
        group = registry_cases(create_csv, risk_file, roots)
        try:
            run_group(group, args.repeat, args.warmup, "registry")
        finally:
            for root in roots.values():
                _remove(root)
        cases += group
    parity_result = None if "parity" in args.skip else parity(args.parity_rows)
    summary = {f"{c.group}/{c.name}": summarize(c) for c in cases}
    found = ratios(summary, args.rows)
    result: dict[str, Any] = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - started,
        "machine": info | {"load_average_at_end": os.getloadavg()},
        "setup": {
            "strategy": {"id": "sma_crossover", "fast": FAST, "slow": SLOW},
            "risk": RISK,
            "commission_bps": COMMISSION_BPS,
            "fills": "next bar's open",
            "timeframes": list(TIMEFRAMES),
            "rows": args.rows,
            "registry_sizes": args.registry_sizes,
            "backtesting_skipped": f"1m bars at more than {BACKTESTING_MAX_1M_ROWS:,} rows",
        },
        "repeat": args.repeat,
        "warmup": args.warmup,
        "samples": {
            f"{c.group}/{c.name}": [asdict(s) | {"report": s.report} for s in c.samples]
            for c in cases
        },
        "summary": summary,
        "ratios": found,
        "goals": goals(found, args.rows, [] if "registry" in args.skip else args.registry_sizes),
        "parity": parity_result,
    }
    write_json(args.out, result)
    console = Console(width=max(Console().width, 140))
    rendered = tables(result)
    for table in rendered:
        console.print(table)
    if parity_result is not None:
        for key, value in parity_result.items():
            if isinstance(value, dict):
                console.print(
                    f"parity {key}: {value['verdict']}; trades {value['trades']}, "
                    f"entry/exit time mismatches {value['entry_exit_time_mismatches']}, "
                    f"largest price diff {value['max_price_rel_diff']:.3g} rel, "
                    f"total return diff {total_return_diff(value['total_return']):.3g}",
                    highlight=False,
                )
    md = args.out.with_suffix(".md")
    md.write_text("\n".join(markdown(t) for t in rendered))
    print(f"wrote {args.out} and {md} in {result['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

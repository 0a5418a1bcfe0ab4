"""The contract checker of a strategy's code: what ``quantrun strategies check PATH`` prints and
what ``quantrun strategies add`` runs before it stores anything.

    report = check_strategy(Path("my_strategy.py"), settings)
    if not report.ok:
        raise report.first_failure()

The code is read here (:class:`~quantrun.strategies.source.StrategySource`: a ``.py`` file or a
package folder under the size limit) and copied into a temporary folder; everything that runs
the user's code happens in a child process (:mod:`quantrun.strategies.check_child`), stopped
after ``settings.strategy_check_timeout_seconds``, so code that raises, exits, crashes or never
returns cannot take quantrun down. The child reports one JSON event a line on stdout (the user's
own prints go to stderr, which is not shown) and never a traceback: an exception is its type,
message and the file:line in the user's code (:func:`user_location`).

The checks, in order, and the code each fails with (``CHECKS``):

============= ======================================================= ===========================
source        a .py file or a package folder, UTF-8, under the limit  STRATEGY_SOURCE_INVALID,
                                                                      INPUT_NOT_FOUND
import        the code imports                                        STRATEGY_IMPORT_FAILED
found         it defines Strategy subclasses with an id               STRATEGY_NONE_FOUND
ids           id, version, description well formed; (id, version)     STRATEGY_ID_INVALID,
              unique in the code; the id is no built-in's             STRATEGY_ID_DUPLICATE,
                                                                      STRATEGY_ID_BUILTIN
params        Params: a frozen pydantic model, unknown names refused, STRATEGY_PARAMS_INVALID_MODEL
              valid defaults, every number bounded on both sides,
              every string with choices
signals       a classmethod; Signals with an int8 target in           STRATEGY_SIGNALS_INVALID,
              {-1, 0, +1} and float64 indicators, one value a bar     STRATEGY_FAILED (it raised)
deterministic two calls on the same bars give the same signals        STRATEGY_NONDETERMINISTIC
lookahead     signals on the first k bars equal the first k values    STRATEGY_LOOKAHEAD
              of the signals on all bars, at several cuts
warmup        no indicator starts with zeros it never returns to      STRATEGY_WARMUP
timing        seconds per 100,000 bars (reported, never a failure)
============= ======================================================= ===========================

A check that ran out of time or a child that ended without reporting fails with
STRATEGY_CHECK_TIMEOUT or STRATEGY_CHECK_CRASHED, attributed to the check in progress.
The bars: a seeded random walk (:func:`quantrun.data.demo.demo_bars`, resampled to the
timeframe) and, if given, the user's own CSV (read and validated like any input). Run time
uses :func:`strategy_failure` for an exception inside a user's ``signals``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.settings import Settings
from quantrun.strategies.source import StrategySource

log = logging.getLogger(__name__)

#: The checks in the order they run; a report has one line per check (and per strategy).
CHECKS = (
    "source",
    "import",
    "found",
    "ids",
    "params",
    "signals",
    "deterministic",
    "lookahead",
    "warmup",
    "timing",
)
OK, FAIL, SKIP = "ok", "fail", "skip"
CHILD_MODULE = "quantrun.strategies.check_child"
#: Longest exception message a report repeats.
MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: a check of the code (``strategy`` None) or of one strategy."""

    check: str
    status: str  # ok, fail or skip
    strategy: str | None = None
    version: str | None = None
    code: ErrorCode | None = None
    message: str = ""

    @property
    def label(self) -> str:
        if self.strategy is None:
            return ""
        return self.strategy if self.version is None else f"{self.strategy} v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "strategy": self.strategy,
            "version": self.version,
            "code": None if self.code is None else str(self.code),
            "message": self.message,
        }


@dataclass(frozen=True)
class Timing:
    """How long one strategy's ``signals`` took, scaled to 100,000 bars."""

    strategy: str
    version: str | None
    seconds_per_100k_bars: float
    bars: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "version": self.version,
            "seconds_per_100k_bars": self.seconds_per_100k_bars,
            "bars": self.bars,
        }


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_strategy` found. ``strategies``: one object per class found, shaped
    like :func:`quantrun.strategies.registry.describe` (id, version, versions, description,
    params) plus ``class_name``. ``bars``: the frames the signals were checked on."""

    path: str
    source_sha256: str | None
    kind: str | None = None
    strategies: tuple[dict[str, Any], ...] = ()
    checks: tuple[CheckResult, ...] = ()
    timing: tuple[Timing, ...] = ()
    bars: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.checks if r.status == FAIL)

    def first_failure(self) -> QuantrunError | None:
        """The error ``strategies add`` raises: the first failed check, naming it."""
        if not self.failures:
            return None
        first = self.failures[0]
        assert first.code is not None
        more = len(self.failures) - 1
        detail = f"{first.label}: {first.message}" if first.label else first.message
        if more:
            detail += f" (and {more} more failed check{'s' if more > 1 else ''})"
        return error(
            first.code,
            detail,
            extra={"check": first.check, "strategy": first.strategy, "version": first.version},
        )

    def to_dict(self) -> dict[str, Any]:
        failure = self.first_failure()
        return {
            "ok": self.ok,
            "path": self.path,
            "kind": self.kind,
            "source_sha256": self.source_sha256,
            "strategies": list(self.strategies),
            "checks": [r.to_dict() for r in self.checks],
            "failures": [r.to_dict() for r in self.failures],
            "timing": [t.to_dict() for t in self.timing],
            "bars": self.bars,
            "error": None if failure is None else failure.to_dict(),
        }


# -- the user's file and line -----------------------------------------------------------------
def _relative(filename: str | None, root: Path) -> str | None:
    if not filename:
        return None
    try:
        return Path(filename).resolve().relative_to(root).as_posix()
    except (ValueError, OSError):
        return None


def user_location(exc: BaseException, root: Path) -> tuple[str, int, str] | None:
    """(path relative to ``root``, line, function) of the innermost frame of ``exc``'s
    traceback that runs a file under ``root``: the user's line, never quantrun's. A syntax
    error in such a file names its own line."""
    root = root.resolve()
    if isinstance(exc, SyntaxError):
        rel = _relative(exc.filename, root)
        if rel is not None:
            return rel, exc.lineno or 0, "<module>"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        rel = _relative(frame.filename, root)
        if rel is not None:
            return rel, frame.lineno or 0, frame.name
    return None


def exception_text(exc: BaseException) -> str:
    """``Type: message``, short; ``sys.exit`` said as such."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    if isinstance(exc, SyntaxError):
        text = f"SyntaxError: {exc.msg}"
    elif isinstance(exc, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in item['loc']) or '(model)'}: {item['msg']}"
            for item in exc.errors()
        ]
        text = f"ValidationError: {'; '.join(problems)}"
    else:
        message = " ".join(str(exc).split())
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def located(exc: BaseException, root: Path, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """The message for ``exc`` with the user's file:line, and the same as fields."""
    text = exception_text(exc)
    where = user_location(exc, root)
    fields: dict[str, Any] = {"exception": type(exc).__name__}
    if where is None:
        return text, fields
    rel, line, function = where
    fields |= {"file": prefix + rel, "line": line, "function": function}
    at = f"{prefix}{rel}:{line}" + ("" if function == "<module>" else f", in {function}")
    return f"{text} (at {at})", fields


def strategy_failure(
    exc: BaseException, source: StrategySource, *, strategy_id: str | None = None
) -> QuantrunError:
    """STRATEGY_FAILED for an exception a user's strategy raised while a run computed its
    signals: the exception's type and message and the file:line in the user's code (found
    when ``source`` was loaded with :meth:`StrategySource.load` in this process), never a
    frame of quantrun's. ``extra`` holds ``exception``, ``file``, ``line`` and ``function``."""
    module = sys.modules.get(source.module_name)
    filename = getattr(module, "__file__", None) if module is not None else None
    if isinstance(filename, str):
        text, fields = located(exc, Path(filename).parent)
    else:
        text, fields = exception_text(exc), {"exception": type(exc).__name__}
    detail = f"{strategy_id}: {text}" if strategy_id else text
    return error(ErrorCode.STRATEGY_FAILED, detail, extra=fields)


# -- the check --------------------------------------------------------------------------------
def check_strategy(
    path: Path,
    settings: Settings,
    *,
    data: Path | None = None,
    timeframe: str = "1h",
    base_timeframe: str = "1m",
) -> CheckReport:
    """Check the strategy code at ``path`` (a ``.py`` file or a package folder) on a seeded
    random walk at ``timeframe`` and, with ``data`` (a CSV of ``base_timeframe`` bars, read and
    validated like any input), on the user's bars resampled to ``timeframe``. Problems of the
    code are failures in the report; a bad timeframe or data file raises its own error."""
    from quantrun.data.timeframe import Timeframe

    Timeframe.parse(timeframe)
    Timeframe.parse(base_timeframe)
    try:
        source = StrategySource.from_path(path)
    except QuantrunError as exc:
        line = CheckResult("source", FAIL, code=exc.code, message=exc.detail)
        return CheckReport(str(path), None, checks=(line,))
    prefix = f"{path.name}/" if source.kind == "package" else ""
    with tempfile.TemporaryDirectory(prefix="quantrun-check-") as tmp:
        folder = Path(tmp)
        code = folder / "code"
        target = source.write(code)
        data_file = None
        if data is not None:
            data_file = _write_bars(data, timeframe, base_timeframe, settings, folder)
        spec = {
            "root": str(code),
            "target": str(target),
            "module": source.module_name,
            "prefix": prefix,
            "timeframe": timeframe,
            "data": None if data_file is None else str(data_file),
            "data_name": None if data is None else data.name,
        }
        timeout = settings.strategy_check_timeout_seconds
        events, status = _run_child(spec, folder, timeout)
    checks = [CheckResult("source", OK, message=f"{source.kind}, {source.bytes:,} bytes")]
    return _assemble(str(path), source, checks, events, status, timeout)


def _write_bars(
    data: Path, timeframe: str, base_timeframe: str, settings: Settings, folder: Path
) -> Path:
    """Read and validate the user's CSV, resample it, and write the bars for the child."""
    from quantrun.data.ingest import inspect
    from quantrun.data.request import IngestRequest
    from quantrun.data.resample import resample

    inspection = inspect(IngestRequest(paths=[str(data)], timeframe=base_timeframe), settings)
    failure = inspection.error
    if failure is not None or inspection.bars is None:
        raise failure or error(ErrorCode.INTERNAL, "the data was not read")
    bars = resample(inspection.bars, timeframe, base_timeframe=base_timeframe).bars
    if bars.height == 0:
        raise error(
            ErrorCode.RUN_WINDOW_EMPTY, f"{data.name} holds no whole {timeframe} bar to check on"
        )
    target = folder / "bars.arrow"
    bars.write_ipc(target)
    return target


@dataclass(frozen=True)
class _ChildStatus:
    returncode: int | None
    timed_out: bool


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the child and anything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def _run_child(
    spec: dict[str, Any], folder: Path, timeout: float
) -> tuple[list[dict[str, Any]], _ChildStatus]:
    """Run the checks in a child process; its events (parsed JSON lines) and how it ended."""
    command = [sys.executable, "-P", "-m", CHILD_MODULE]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    stderr_path = folder / "stderr.txt"
    timed_out = False
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
        try:
            try:
                out, _ = process.communicate(json.dumps(spec).encode(), timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill(process)
                try:
                    out, _ = process.communicate(timeout=10)
                except subprocess.TimeoutExpired:  # a grandchild holds the pipe open
                    out = b""
        finally:
            if process.poll() is None:
                _kill(process)
                process.wait()
    if process.returncode != 0 and log.isEnabledFor(logging.DEBUG):
        tail = stderr_path.read_bytes()[-4000:].decode("utf-8", "replace")
        log.debug("strategy check child ended with %s: %s", process.returncode, tail)
    events = []
    for raw in out.decode("utf-8", "replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(raw)
            if isinstance(event, dict):
                events.append(event)
    return events, _ChildStatus(process.returncode, timed_out)


def _assemble(
    path: str,
    source: StrategySource,
    checks: list[CheckResult],
    events: list[dict[str, Any]],
    status: _ChildStatus,
    timeout: float,
) -> CheckReport:
    strategies: list[dict[str, Any]] = []
    timing: list[Timing] = []
    bars: dict[str, Any] = {}
    pending: dict[str, Any] | None = None
    done = False
    for event in events:
        kind = event.get("event")
        if kind == "begin":
            pending = event
        elif kind == "result":
            pending = None
            code = event.get("code")
            checks.append(
                CheckResult(
                    check=str(event["check"]),
                    status=str(event["status"]),
                    strategy=event.get("strategy"),
                    version=event.get("version"),
                    code=None if code is None else ErrorCode(code),
                    message=str(event.get("message", "")),
                )
            )
        elif kind == "strategy":
            strategies.append(dict(event["info"]))
        elif kind == "timing":
            timing.append(
                Timing(
                    event["strategy"],
                    event.get("version"),
                    float(event["seconds_per_100k_bars"]),
                    int(event["bars"]),
                )
            )
        elif kind == "bars":
            bars = dict(event["bars"])
        elif kind == "internal":
            checks.append(
                CheckResult(
                    str((pending or {}).get("check", "import")),
                    FAIL,
                    code=ErrorCode.INTERNAL,
                    message=f"the strategy checker failed: {event.get('message', '')}",
                )
            )
            pending = None
        elif kind == "done":
            done = True
    if not done and not any(r.code is ErrorCode.INTERNAL for r in checks):
        checks.append(_unfinished(pending, status, timeout))
    return CheckReport(
        path,
        source.sha256,
        source.kind,
        tuple(strategies),
        tuple(checks),
        tuple(timing),
        bars,
    )


def _unfinished(
    pending: dict[str, Any] | None, status: _ChildStatus, timeout: float
) -> CheckResult:
    """The failure of a child that never said it was done: stopped after the timeout, or
    ended (exit, signal, crash) in the middle of ``pending``."""
    check = str(pending["check"]) if pending else "import"
    strategy = pending.get("strategy") if pending else None
    version = pending.get("version") if pending else None
    during = f"the {check} check" if pending else "the checks"
    if status.timed_out:
        return CheckResult(
            check,
            FAIL,
            strategy,
            version,
            ErrorCode.STRATEGY_CHECK_TIMEOUT,
            f"{during} did not finish within {timeout:g} s and was stopped",
        )
    code = status.returncode
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited ({code})"
    return CheckResult(
        check,
        FAIL,
        strategy,
        version,
        ErrorCode.STRATEGY_CHECK_CRASHED,
        f"the checking process {how} during {during}, before it could report",
    )

"""The Python API: what notebooks, the CLI and (later) the web edge call.

Each function takes a :class:`~quantrun.settings.Settings` and plain values, and returns a
result object with ``to_dict()``. Example::

    from quantrun.api import ingest_file
    from quantrun.settings import Settings

    result = ingest_file(Settings(runs_root="runs"), ["BTCUSDT-1m-2024-01.csv"], symbol="BTCUSDT")
    print(result.dataset_id, result.quality["coverage"])
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from quantrun.data.dialect import Format
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.runs.export import RUN_COLUMNS, csv_bytes, run_row
from quantrun.runs.killswitch import KillSwitch
from quantrun.runs.registry import RecoveryReport, Registry
from quantrun.settings import Settings

if TYPE_CHECKING:
    import polars as pl

    from quantrun.data.ingest import IngestRequest, IngestResult, Inspection
    from quantrun.runs.builder import Progress, RunResult
    from quantrun.runs.reader import RunView
    from quantrun.runs.request import RunCreateRequest

# The functions below import the data layer, the builder and the reader when they are called:
# those load polars and numba (about half a second), which listing runs, the kill switch and
# `--help` never need. The classes re-exported here are resolved on first use the same way.
_LAZY = {
    "RunCreateRequest": "quantrun.runs.request",
    "RunResult": "quantrun.runs.builder",
    "RunView": "quantrun.runs.reader",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quantrun.api' has no attribute {name!r}")


def _format(value: str) -> Format:
    try:
        return Format(value)
    except ValueError:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"unknown format {value!r}; use auto, generic or binance",
        ) from None


def _request(
    paths: Sequence[str],
    *,
    symbol: str | None,
    format: str,
    timeframe: str,
    timezone: str | None,
    sort: bool,
    drop_exact_duplicates: bool,
) -> IngestRequest:
    from quantrun.data.ingest import IngestRequest

    return IngestRequest(
        paths=list(paths),
        symbol=symbol,
        format=_format(format),
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )


def ingest_file(
    settings: Settings,
    paths: Sequence[str],
    *,
    symbol: str | None = None,
    format: str = "auto",
    timeframe: str = "1m",
    timezone: str | None = None,
    sort: bool = False,
    drop_exact_duplicates: bool = False,
) -> IngestResult:
    """Validate ``paths`` (concatenated in order) and store them as one dataset."""
    from quantrun.data.ingest import ingest

    request = _request(
        paths,
        symbol=symbol,
        format=format,
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    return ingest(request, settings)


def inspect_file(
    settings: Settings,
    paths: Sequence[str],
    *,
    symbol: str | None = None,
    format: str = "auto",
    timeframe: str = "1m",
    timezone: str | None = None,
    sort: bool = False,
    drop_exact_duplicates: bool = False,
) -> Inspection:
    """Run every check on ``paths`` and build the report, writing nothing."""
    from quantrun.data.ingest import inspect

    request = _request(
        paths,
        symbol=symbol,
        format=format,
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    return inspect(request, settings)


def refused_report(exc: QuantrunError) -> dict[str, Any]:
    """The inspection report's shape for an input refused as a whole (no row was checked)."""
    from quantrun.data.ingest import refused_report as report

    return report(exc)


def quality_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The few numbers of a quality report people look at first."""
    from quantrun.data.ingest import quality_summary as summary

    return summary(report)


__all__ = [
    "DemoResult",
    "RunCreateRequest",
    "RunResult",
    "RunView",
    "VerifyReport",
    "check_registry",
    "create_run",
    "create_run_from",
    "export_runs_csv",
    "ingest_file",
    "inspect_file",
    "killswitch_status",
    "list_datasets",
    "list_runs",
    "list_strategies",
    "load_dataset",
    "open_run",
    "quality_summary",
    "rebuild_registry",
    "refused_report",
    "run_demo",
    "set_killswitch",
    "verify_run",
]


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    import os

    return Settings.from_env(os.environ)


def _registry(settings: Settings, recover: bool = True) -> Registry:
    """The registry, recovered first (every CLI command does). ``recover=False`` is for a
    long-running reader that recovered at start-up (the web service): it reads the index as
    it is, under no lock, and recovers only when the index is missing or invalid while run
    folders exist, so reads never race the builders that keep the index current."""
    registry = Registry(settings.runs_root, settings.artifacts_root)
    if recover or (registry.index_state() != "valid" and registry.runs_dir.is_dir()):
        registry.recover()
    return registry


def load_dataset(dataset_id: str, settings: Settings | None = None) -> pl.DataFrame:
    """A stored dataset's canonical bars (``ts`` as Int64 epoch µs UTC)."""
    from quantrun.data.store import DatasetStore

    return DatasetStore(_settings(settings).runs_root).load_bars(dataset_id)


def create_run(
    paths: Sequence[str] | str,
    *,
    symbol: str,
    strategy: str,
    timeframe: str = "15m",
    params: dict[str, Any] | None = None,
    risk: str | None = "moderate",
    risk_config: dict[str, Any] | None = None,
    risk_file: str | None = None,
    commission_bps: float | None = None,
    slippage_bps: float | None = None,
    cash: float | None = None,
    start: str | None = None,
    end: str | None = None,
    base_timeframe: str = "1m",
    format: str = "auto",
    timezone: str | None = None,
    sort: bool = False,
    drop_exact_duplicates: bool = False,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Create a run (or return the existing one with the same inputs).

    >>> result = create_run("btc.csv", symbol="BTCUSDT", strategy="sma_crossover",
    ...                     params={"fast": 10, "slow": 30}, risk="moderate")  # doctest: +SKIP
    """
    request = _validated_request(
        paths=[paths] if isinstance(paths, str) else list(paths),
        symbol=symbol,
        timeframe=timeframe,
        strategy=strategy,
        params=dict(params or {}),
        risk=risk,
        risk_config=risk_config,
        risk_file=risk_file,
        commission_bps=commission_bps,
        slippage_bps=slippage_bps,
        cash=cash,
        start=start,
        end=end,
        base_timeframe=base_timeframe,
        format=_format(format),
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    return create_run_from(request, settings, progress=progress)


def _validated_request(**fields: Any) -> RunCreateRequest:
    from quantrun.runs.request import RunCreateRequest

    try:
        return RunCreateRequest(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"{where}: {first['msg']}") from None


def create_run_from(
    request: RunCreateRequest, settings: Settings | None = None, *, progress: Progress | None = None
) -> RunResult:
    """Create a run from a ready :class:`RunCreateRequest` (the web edge's entry point)."""
    from quantrun.runs.builder import create_run as build

    if progress is None:
        return build(request, _settings(settings))
    return build(request, _settings(settings), progress=progress)


def open_run(run_id: str, settings: Settings | None = None, *, recover: bool = True) -> RunView:
    """A published run: ``.manifest``, ``.metrics``, ``.trades()``, ``.decisions()``,
    ``.series()`` (equity/drawdown/position) and ``.bars()`` as polars frames.
    ``recover=False``: see :func:`list_runs`."""
    from quantrun.runs.reader import RunView

    return RunView.open(_registry(_settings(settings), recover), run_id)


def list_runs(
    settings: Settings | None = None,
    *,
    strategy: str | None = None,
    symbol: str | None = None,
    limit: int | None = None,
    recover: bool = True,
) -> list[dict[str, Any]]:
    """Registered runs, newest first (then by id), optionally filtered. The registry is
    recovered first unless ``recover=False`` (a server that recovered at start-up)."""
    rows = _registry(_settings(settings), recover).entries()
    if strategy is not None:
        rows = [r for r in rows if r["strategy"] == strategy]
    if symbol is not None:
        rows = [r for r in rows if r["symbol"] == symbol]
    rows.sort(key=lambda r: r["run_id"])
    rows.sort(key=lambda r: r.get("created_at") or "", reverse=True)
    return rows[:limit] if limit is not None else rows


def export_runs_csv(
    settings: Settings | None = None,
    *,
    strategy: str | None = None,
    symbol: str | None = None,
    recover: bool = True,
) -> bytes:
    """The runs :func:`list_runs` returns as spreadsheet-safe CSV (``runs.export``), one row
    each, with the source file names read from each run's manifest."""
    from quantrun.runs.reader import RunView

    resolved = _settings(settings)
    registry = _registry(resolved, recover)
    rows = []
    for entry in list_runs(resolved, strategy=strategy, symbol=symbol, recover=False):
        try:
            sources = RunView.open(registry, entry["run_id"]).manifest["dataset"]["sources"]
            names = [str(s.get("name") or s.get("path") or "") for s in sources]
        except (QuantrunError, KeyError, TypeError):
            names = []  # listed but unreadable: `registry check` names it; the row still shows
        rows.append(run_row(entry, names))
    return csv_bytes(RUN_COLUMNS, rows)


def list_strategies() -> list[dict[str, Any]]:
    """Every registered strategy with its parameters."""
    from quantrun.strategies.registry import catalogue

    return catalogue()


@dataclass(frozen=True)
class VerifyReport:
    run_id: str
    problems: list[str]
    rerun_checked: bool
    rerun_differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.rerun_differences

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "problems": self.problems,
            "rerun_checked": self.rerun_checked,
            "rerun_differences": self.rerun_differences,
        }


def verify_run(
    run_id: str, settings: Settings | None = None, *, rerun: bool = False
) -> VerifyReport:
    """Re-hash every artifact against the manifest; with ``rerun``, rebuild the run from its
    recorded request in a temporary RUNS_ROOT and compare every artifact byte for byte."""
    import tempfile

    from quantrun.runs.builder import create_run as build
    from quantrun.runs.reader import RunView

    resolved = _settings(settings)
    view = RunView.open(_registry(resolved), run_id)
    problems = view.verify()
    differences: list[str] = []
    run_id = view.run_id
    if rerun:
        request = _rerun_request(view, resolved)
        with tempfile.TemporaryDirectory(prefix="quantrun-rerun-") as tmp:
            again = build(request, resolved.model_copy(update={"runs_root": Path(tmp)}))
            if again.run_id != run_id:
                differences.append(f"rebuilt run id {again.run_id} differs")
            else:
                for artifact in [*view.manifest["artifacts"], {"name": "manifest.json"}]:
                    name = artifact["name"]
                    if (again.path / name).read_bytes() != view.read_bytes(name):
                        differences.append(f"{name}: bytes differ")
    return VerifyReport(run_id, problems, rerun, differences)


def _rerun_request(view: RunView, settings: Settings) -> RunCreateRequest:
    """The recorded request, with each input found again: at its recorded path, or (for an
    upload, recorded under its file name) in RUNS_ROOT/uploads by its sha256."""
    from quantrun.runs.request import RunCreateRequest

    recorded = view.manifest["request"]
    sources = view.manifest["dataset"]["sources"]
    paths = []
    for source in sources:
        candidate = Path(source["path"])
        upload = settings.layout.upload(source["sha256"])
        paths.append(str(candidate if candidate.is_file() or not upload.is_file() else upload))
    return RunCreateRequest.model_validate(
        recorded | {"paths": paths, "labels": [s["path"] for s in sources]}
    )


def check_registry(settings: Settings | None = None) -> dict[str, Any]:
    """Recover, then verify every listed run's artifacts."""
    from quantrun.runs.reader import RunView

    resolved = _settings(settings)
    registry = Registry(resolved.runs_root, resolved.artifacts_root)
    recovery = registry.recover()
    failing = {}
    rows = registry.entries()
    for row in rows:
        try:
            problems = RunView.open(registry, row["run_id"]).verify()
        except QuantrunError as exc:
            problems = [exc.detail]
        if problems:
            failing[row["run_id"]] = problems
    return {
        "runs": len(rows),
        "generation": registry.index()["generation"],
        "recovery": recovery.to_dict(),
        "failing": failing,
        "ok": not failing,
    }


def killswitch_status(settings: Settings | None = None, *, history: int = 20) -> dict[str, Any]:
    """The kill switch's state and its most recent audit entries (newest last)."""
    switch = KillSwitch(_settings(settings).runs_root)
    return {"state": switch.state().to_dict(), "history": switch.history(history)}


def set_killswitch(
    engaged: bool, reason: str, settings: Settings | None = None, *, actor: str | None = None
) -> dict[str, Any]:
    """Engage (``engaged=True``) or release the kill switch; the change is audited."""
    switch = KillSwitch(_settings(settings).runs_root)
    state = switch.engage(reason, actor) if engaged else switch.release(reason, actor)
    return state.to_dict()


def rebuild_registry(settings: Settings | None = None) -> RecoveryReport:
    """Rebuild index.json from the manifests, verifying each run and quarantining bad ones."""
    return Registry(_settings(settings).runs_root).rebuild()


def list_datasets(settings: Settings) -> list[dict[str, Any]]:
    """Stored datasets, oldest data first: id, symbol, timeframe, rows, first/last bar."""
    from quantrun.data.store import DatasetStore

    return DatasetStore(settings.runs_root).list()


#: The demo run: the embedded dataset, a 10/30 SMA crossover on 15-minute bars, moderate risk.
DEMO_STRATEGY = "sma_crossover"
DEMO_PARAMS: dict[str, Any] = {"fast": 10, "slow": 30}
DEMO_TIMEFRAME = "15m"


@dataclass(frozen=True)
class DemoResult:
    csv_path: Path
    ingest: IngestResult
    run: RunResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "csv_path": str(self.csv_path),
            "ingest": self.ingest.to_dict(),
            "run": self.run.to_dict(),
        }


def run_demo(settings: Settings, directory: Path) -> DemoResult:
    """Write the embedded demo CSV into ``directory``, ingest it and create the demo run."""
    from quantrun.data.demo import DEMO_SYMBOL, write_demo_csv

    csv_path = write_demo_csv(directory / f"{DEMO_SYMBOL}-1m-demo.csv")
    ingested = ingest_file(settings, [str(csv_path)], symbol=DEMO_SYMBOL)
    run = create_run(
        [str(csv_path)],
        symbol=DEMO_SYMBOL,
        strategy=DEMO_STRATEGY,
        params=DEMO_PARAMS,
        timeframe=DEMO_TIMEFRAME,
        risk="moderate",
        settings=settings,
    )
    return DemoResult(csv_path, ingested, run)

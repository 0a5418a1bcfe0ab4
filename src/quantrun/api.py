"""The Python API: what notebooks, the CLI and the web edge call. A facade over the core.

Every function takes ``settings`` as an optional argument (``None``: built from the
``QUANTRUN_*`` environment variables) and returns a typed result; those the edges print have
``to_dict()``. Requests are the core's models: :class:`~quantrun.runs.request.RunCreateRequest`
for a run, :class:`~quantrun.data.ingest.IngestRequest` for an ingest; the keyword arguments
below are their fields. Example::

    from quantrun.api import create_run, ingest_file
    from quantrun.settings import Settings

    settings = Settings(runs_root="runs")
    result = ingest_file(["BTCUSDT-1m-2024-01.csv"], settings, symbol="BTCUSDT")
    print(result.dataset_id, result.quality["coverage"])
    run = create_run("BTCUSDT-1m-2024-01.csv", settings, symbol="BTCUSDT",
                     strategy="sma_crossover", params={"fast": 10, "slow": 30})
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.fields import validated
from quantrun.runs.export import runs_csv
from quantrun.runs.killswitch import KillSwitch, KillSwitchStatus, SwitchState
from quantrun.runs.manifest import RunSummary
from quantrun.runs.registry import RecoveryReport, Registry
from quantrun.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from quantrun.data.fetch import FetchResult
    from quantrun.data.ingest import IngestResult, Inspection, QualitySummary, Refusal
    from quantrun.data.provider import FetchProgress, FetchRequest
    from quantrun.data.request import IngestRequest
    from quantrun.data.store import DatasetInfo
    from quantrun.runs.builder import Progress, RunResult
    from quantrun.runs.check import RegistryCheck
    from quantrun.runs.compare import Comparison
    from quantrun.runs.demo import DemoResult
    from quantrun.runs.reader import RunView
    from quantrun.runs.request import RunCreateRequest
    from quantrun.runs.verify import VerifyReport
    from quantrun.strategies.check import CheckReport
    from quantrun.strategies.info import StrategyDetail, StrategyInfo
    from quantrun.strategies.store import StoredStrategy
    from quantrun.sweeps.create import SweepResult
    from quantrun.sweeps.manifest import SweepSummary
    from quantrun.sweeps.materialize import Materialized
    from quantrun.sweeps.progress import SweepProgress
    from quantrun.sweeps.request import SweepRequest
    from quantrun.sweeps.view import SweepView

# The functions below import the data layer, the builder and the reader when they are called:
# those load polars and numba (about half a second), which listing runs, the kill switch and
# `--help` never need. The classes re-exported here are resolved on first use the same way.
_LAZY = {
    "RunCreateRequest": "quantrun.runs.request",
    "IngestRequest": "quantrun.data.request",
    "RunResult": "quantrun.runs.builder",
    "RunView": "quantrun.runs.reader",
    "VerifyReport": "quantrun.runs.verify",
    "DemoResult": "quantrun.runs.demo",
    "RegistryCheck": "quantrun.runs.check",
    "Comparison": "quantrun.runs.compare",
    "SweepRequest": "quantrun.sweeps.request",
    "SweepResult": "quantrun.sweeps.create",
    "SweepView": "quantrun.sweeps.view",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quantrun.api' has no attribute {name!r}")


__all__ = [
    "Comparison",
    "DemoResult",
    "IngestRequest",
    "RegistryCheck",
    "RunCreateRequest",
    "RunResult",
    "RunSummary",
    "RunView",
    "SweepRequest",
    "SweepResult",
    "SweepView",
    "VerifyReport",
    "add_strategy",
    "check_registry",
    "check_strategy_file",
    "compare_runs",
    "create_run",
    "create_sweep",
    "export_runs_csv",
    "export_sweep",
    "fetch_dataset",
    "ingest_file",
    "inspect_file",
    "killswitch_status",
    "list_datasets",
    "list_runs",
    "list_strategies",
    "list_sweeps",
    "load_dataset",
    "materialize_cells",
    "open_run",
    "open_sweep",
    "quality_summary",
    "rebuild_registry",
    "refused_report",
    "remove_strategy",
    "run_demo",
    "set_killswitch",
    "show_strategy",
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


def _paths(paths: Sequence[str] | str) -> list[str]:
    return [paths] if isinstance(paths, str) else list(paths)


# -- data ---------------------------------------------------------------------------------------


def ingest_file(
    paths: Sequence[str] | str, settings: Settings | None = None, **fields: Any
) -> IngestResult:
    """Validate ``paths`` (concatenated in order) and store them as one dataset. ``fields``:
    the other fields of :class:`~quantrun.data.ingest.IngestRequest` (symbol, format,
    timeframe, timezone, sort, drop_exact_duplicates)."""
    from quantrun.data.ingest import ingest
    from quantrun.data.request import IngestRequest

    request = validated(IngestRequest, {"paths": _paths(paths), **fields})
    return ingest(request, _settings(settings))


def inspect_file(
    paths: Sequence[str] | str, settings: Settings | None = None, **fields: Any
) -> Inspection:
    """Run every check on ``paths`` and build the report, writing nothing."""
    from quantrun.data.ingest import inspect
    from quantrun.data.request import IngestRequest

    request = validated(IngestRequest, {"paths": _paths(paths), **fields})
    return inspect(request, _settings(settings))


def refused_report(exc: QuantrunError) -> Refusal:
    """The inspection report of an input refused as a whole (no row was checked)."""
    from quantrun.data.ingest import Refusal

    return Refusal(exc)


def quality_summary(report: dict[str, Any]) -> QualitySummary:
    """The few numbers of a quality report people look at first."""
    from quantrun.data.ingest import QualitySummary

    return QualitySummary.of(report)


def list_datasets(settings: Settings | None = None) -> list[DatasetInfo]:
    """Stored datasets, oldest data first."""
    from quantrun.data.store import DatasetStore

    return DatasetStore(_settings(settings).runs_root).list()


def fetch_dataset(
    request: FetchRequest | str,
    settings: Settings | None = None,
    *,
    progress: FetchProgress | None = None,
    **fields: Any,
) -> FetchResult:
    """Download a provider's public archives (or find them cached under RUNS_ROOT), verify
    each against its published checksum and store them as one dataset. ``request``: a ready
    request (:class:`~quantrun.data.binance.BinanceFetchRequest`), or the provider's name with
    the request's fields as keywords::

        result = fetch_dataset("binance", settings, market="um", symbol="BTCUSDT",
                               from_period="2024-01", to_period="2024-03")
        result.dataset_id, result.downloaded

    A Ctrl-C (KeyboardInterrupt) propagates after the partial download is removed."""
    from quantrun.data.fetch import fetch
    from quantrun.data.provider import provider_class, provider_name_of

    if isinstance(request, str):
        name = request
        ready = validated(provider_class(name).request_model, fields)
    else:
        name = provider_name_of(request)
        ready = request if not fields else validated(type(request), request.model_dump() | fields)
    return fetch(name, ready, _settings(settings), progress=progress)


def load_dataset(dataset_id: str, settings: Settings | None = None) -> pl.DataFrame:
    """A stored dataset's canonical bars (``ts`` as Int64 epoch µs UTC)."""
    from quantrun.data.store import DatasetStore

    return DatasetStore(_settings(settings).runs_root).load_bars(dataset_id)


# -- runs ---------------------------------------------------------------------------------------


def create_run(
    request: RunCreateRequest | Sequence[str] | str,
    settings: Settings | None = None,
    *,
    progress: Progress | None = None,
    **fields: Any,
) -> RunResult:
    """Create a run (or return the existing one with the same inputs). ``request``: a ready
    :class:`RunCreateRequest`, or the input path(s) with the request's other fields as
    keywords.

    >>> result = create_run("btc.csv", symbol="BTCUSDT", strategy="sma_crossover",
    ...                     params={"fast": 10, "slow": 30}, risk="moderate")  # doctest: +SKIP
    """
    from quantrun.runs.builder import create_run as build
    from quantrun.runs.request import RunCreateRequest

    if not isinstance(request, RunCreateRequest):
        request = validated(RunCreateRequest, {"paths": _paths(request), **fields})
    elif fields:
        request = validated(RunCreateRequest, request.model_dump() | fields)
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
) -> list[RunSummary]:
    """Registered runs, newest first (then by id), optionally filtered. The registry is
    recovered first unless ``recover=False`` (a server that recovered at start-up)."""
    return _registry(_settings(settings), recover).rows(
        strategy=strategy, symbol=symbol, limit=limit
    )


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

    registry = _registry(_settings(settings), recover)
    rows = []
    for row in registry.rows(strategy=strategy, symbol=symbol):
        try:
            names = RunView.open(registry, row.run_id).manifest.source_names
        except QuantrunError:
            names = []  # listed but unreadable: `registry check` names it; the row still shows
        rows.append((row, names))
    return runs_csv(rows)


def verify_run(
    run_id: str, settings: Settings | None = None, *, rerun: bool = False
) -> VerifyReport:
    """Re-hash every artifact against the manifest; with ``rerun``, rebuild the run from its
    recorded request in a temporary RUNS_ROOT and compare every artifact byte for byte."""
    from quantrun.runs.verify import verify

    resolved = _settings(settings)
    return verify(_registry(resolved), run_id, resolved, rerun=rerun)


def compare_runs(
    run_ids: Sequence[str] | str,
    settings: Settings | None = None,
    *,
    all_fields: bool = False,
    recover: bool = True,
) -> Comparison:
    """Compare two or more runs (ids or unique 8+ hex prefixes; a string may hold several,
    comma-separated). The first is the reference: the inputs that differ (every input with
    ``all_fields``), each metric with its delta to the reference, and where each other run's
    decisions part from the reference's. At most ``settings.max_compare_runs`` runs.
    ``recover=False``: see :func:`list_runs`.

    >>> c = compare_runs(["4b09c990", "755fc509"])  # doctest: +SKIP
    >>> [f.path for f in c.differing_fields], c.divergences[0].decisions.first.ts  # doctest: +SKIP
    (['strategy.params.fast'], '2024-01-02T18:00:00Z')
    """
    from quantrun.runs.compare import compare
    from quantrun.sweeps.cells import cell_resolver

    resolved = _settings(settings)
    # A sweep cell (SWEEP_ID:K) names its materialised run.
    return compare(
        _registry(resolved, recover),
        run_ids,
        limit=resolved.max_compare_runs,
        all_fields=all_fields,
        cells=cell_resolver(resolved),
    )


def list_strategies(settings: Settings | None = None) -> list[StrategyInfo]:
    """Every strategy a run can name: the built-ins (current version) and the strategies added
    to RUNS_ROOT (latest version), each with its parameters and the sha256 of its code."""
    from quantrun.strategies.info import strategy_infos

    return strategy_infos(_settings(settings).layout)


def check_strategy_file(
    path: str | Path, settings: Settings | None = None, **options: Any
) -> CheckReport:
    """Run every check of a strategy file (in a child process); ``options``: ``data`` (a CSV
    to check on too), ``timeframe``, ``base_timeframe``."""
    from pathlib import Path as _Path

    from quantrun.strategies.check import check_strategy

    return check_strategy(_Path(path), _settings(settings), **options)


def add_strategy(
    path: str | Path, settings: Settings | None = None, **options: Any
) -> list[StoredStrategy]:
    """Check a strategy file and store its code under RUNS_ROOT, listing its strategies;
    refuses (with the failed check's code) a strategy that fails any check."""
    from pathlib import Path as _Path

    from quantrun.strategies.check import check_strategy
    from quantrun.strategies.source import StrategySource
    from quantrun.strategies.store import StrategyStore

    resolved = _settings(settings)
    report = check_strategy(_Path(path), resolved, **options)
    failure = report.first_failure()
    if failure is not None:
        raise failure
    source = StrategySource.from_path(_Path(path))
    if source.sha256 != report.source_sha256:  # the file changed while it was checked
        raise error(ErrorCode.STRATEGY_SOURCE_INVALID, f"{_Path(path).name} changed while checked")
    return StrategyStore(resolved.layout).add(source, list(report.strategies), str(path))


def show_strategy(
    strategy_id: str, settings: Settings | None = None, *, version: str | None = None
) -> StrategyDetail:
    """A strategy's description and its code (a built-in's class, an added strategy's files)."""
    from quantrun.strategies.info import strategy_detail

    return strategy_detail(_settings(settings).layout, strategy_id, version)


def remove_strategy(strategy_id: str, settings: Settings | None = None) -> list[StoredStrategy]:
    """Unlist an added strategy (every version). Runs that used it keep their own copy."""
    from quantrun.strategies.store import StrategyStore

    return StrategyStore(_settings(settings).layout).remove(strategy_id)


# -- sweeps -------------------------------------------------------------------------------------


def create_sweep(
    request: SweepRequest | Sequence[str] | str,
    settings: Settings | None = None,
    *,
    grid: Sequence[str] = (),
    grid_file: str | Path | None = None,
    skip_invalid: bool = False,
    datasets: Sequence[Mapping[str, Any]] = (),
    executor: str = "local",
    workers: int | None = None,
    progress: SweepProgress | None = None,
    **fields: Any,
) -> SweepResult:
    """Create (or find, or resume) a sweep: every cell of the grid is the run ``create_run``
    would make with those parameters (same run id, same metrics), computed without writing
    each run. ``request``: a ready :class:`SweepRequest`, or the input path(s) with ``grid``
    (``NAME=V1,V2`` or ``NAME=START:STOP:STEP`` specs), ``grid_file`` and the run request's
    other fields (not ``params``) as keywords. ``datasets``: further datasets of the dataset
    axis after the request's own input, each ``{"symbol": ..., "paths": [...]}`` or
    ``{"symbol": ..., "dataset": ID}`` (D47). ``executor``: ``local`` or ``dask://HOST:PORT``.

    >>> result = create_sweep("btc.csv", symbol="BTCUSDT", strategy="sma_crossover",
    ...                       grid=["fast=5:50:5", "slow=60:240:20"])  # doctest: +SKIP
    >>> result.sweep_id, result.cells()[0]["run_id"]  # doctest: +SKIP
    """
    from pathlib import Path as _Path

    from quantrun.runs.request import RunCreateRequest
    from quantrun.sweeps.create import create_sweep as create
    from quantrun.sweeps.grid import parse_grid
    from quantrun.sweeps.request import SweepRequest

    resolved = _settings(settings)
    if not isinstance(request, SweepRequest):
        data = ({"paths": _paths(request)} if request else {}) | fields
        run = validated(RunCreateRequest, data)
        axes = parse_grid(
            list(grid),
            _Path(grid_file) if grid_file is not None else None,
            resolved.max_sweep_cells,
        )
        request = validated(
            SweepRequest,
            {"run": run, "grid": axes, "skip_invalid": skip_invalid, "datasets": list(datasets)},
        )
    return create(request, resolved, executor=executor, workers=workers, progress=progress)


def list_sweeps(
    settings: Settings | None = None, *, limit: int | None = None, recover: bool = True
) -> list[SweepSummary]:
    """Published sweeps, newest first. ``recover=False``: see :func:`list_runs`."""
    from quantrun.sweeps.store import SweepStore

    store = SweepStore(_settings(settings))
    if recover or store.index().generation == 0:
        store.recover()
    return store.rows(limit=limit)


def open_sweep(sweep_id: str, settings: Settings | None = None) -> SweepView:
    """A published sweep (a full id or a unique 8+ hex prefix): ``.manifest`` and
    ``.results`` (the results table as a polars frame), ``.ranked(by=..., min_trades=...)``."""
    from quantrun.sweeps.store import SweepStore
    from quantrun.sweeps.view import SweepView

    return SweepView.open(SweepStore(_settings(settings)), sweep_id)


def export_sweep(sweep_id: str, settings: Settings | None = None, *, fmt: str = "csv") -> bytes:
    """A sweep's results table as stored: ``fmt`` ``csv`` or ``parquet``."""
    return open_sweep(sweep_id, settings).file_bytes(fmt)


def materialize_cells(
    sweep_id: str,
    settings: Settings | None = None,
    *,
    cells: Sequence[int] = (),
    top: int | None = None,
    by: str | None = None,
    min_trades: int | None = None,
) -> list[Materialized]:
    """Write and register the full runs of a sweep's ``cells`` (numbers in grid order), or
    of its ``top`` cells by the metric ``by`` (with at least ``min_trades`` trades): each is
    byte-identical to ``create_run`` with the same inputs."""
    from quantrun.sweeps.materialize import materialize

    resolved = _settings(settings)
    view = open_sweep(sweep_id, resolved)
    chosen = [view.cell(k) for k in cells]
    if top is not None:
        chosen += [
            view.cell(item["cell"])
            for item in view.rows(by=by, min_trades=min_trades, top=top, metrics=())
        ]
    return materialize(view.manifest, chosen, resolved)


# -- the registry and the kill switch -----------------------------------------------------------


def check_registry(settings: Settings | None = None) -> RegistryCheck:
    """Recover, then verify every listed run's artifacts."""
    from quantrun.runs.check import check_registry as check

    resolved = _settings(settings)
    return check(Registry(resolved.runs_root, resolved.artifacts_root))


def rebuild_registry(settings: Settings | None = None) -> RecoveryReport:
    """Rebuild index.json from the manifests, verifying each run and quarantining bad ones."""
    return Registry(_settings(settings).runs_root).rebuild()


def killswitch_status(settings: Settings | None = None, *, history: int = 20) -> KillSwitchStatus:
    """The kill switch's state and its most recent audit entries (newest last)."""
    return KillSwitch(_settings(settings).runs_root).status(history)


def set_killswitch(
    engaged: bool, reason: str, settings: Settings | None = None, *, actor: str | None = None
) -> SwitchState:
    """Engage (``engaged=True``) or release the kill switch; the change is audited."""
    switch = KillSwitch(_settings(settings).runs_root)
    return switch.engage(reason, actor) if engaged else switch.release(reason, actor)


# -- the demo -----------------------------------------------------------------------------------


def run_demo(directory: Path, settings: Settings | None = None) -> DemoResult:
    """Write the embedded demo CSV into ``directory``, ingest it and create the demo run."""
    from quantrun.runs.demo import run_demo as demo

    return demo(_settings(settings), directory)

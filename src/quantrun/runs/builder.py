"""The run builder: request → dataset → resampled bars → simulation → metrics → artifacts →
atomic publication → registry entry.

    result = create_run(RunCreateRequest(paths=["btc.csv"], symbol="BTCUSDT",
                                         strategy="sma_crossover"), settings)

The run id is the sha256 of the canonical identity (everything that decides the result, no
paths, no times). Creating an existing run returns it untouched (``created=False``). The run
folder is built in ``staging/``, fsynced, and renamed into ``runs/<run_id>`` — the commit
point — before the index is rewritten under the registry lock.

Its pieces are public so a sweep computes a cell with exactly this code and writes nothing:
:func:`prepare` (request → dataset → resampled, windowed bars), :func:`identify` (identity and
run id) and :func:`evaluate` (simulation and metrics); :func:`create_run` is those three, then
the artifacts, the manifest and the publication.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from quantrun.canonical import canonical_hash, sha256_hex
from quantrun.data.calendar import recorded_sessions
from quantrun.data.dialect import FIELDS
from quantrun.data.ingest import ingest
from quantrun.data.quality import iso
from quantrun.data.resample import (
    RESAMPLE_RULES_VERSION,
    RESAMPLE_RULES_VERSIONS,
    Resampled,
    resample,
)
from quantrun.data.store import QUALITY_FILE, DatasetStore
from quantrun.durable import fsync_dir, write_bytes
from quantrun.engine.simulate import ENGINE_VERSION, SimulationResult, simulate, warm_up
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import get_logger
from quantrun.metrics import compute_metrics
from quantrun.runs import artifacts as art
from quantrun.runs.killswitch import KillSwitch
from quantrun.runs.manifest import (
    BARS_IN_ARTIFACT,
    BARS_IN_DATASET,
    MANIFEST_FILE,
    MANIFEST_SCHEMA_VERSION,
    MANIFEST_SCHEMA_VERSIONS,
    Identity,
    Manifest,
    RunSummary,
    StrategyRef,
    Window,
)
from quantrun.runs.policy import require_creation, run_exists
from quantrun.runs.reader import STRATEGY_SOURCE_FILE
from quantrun.runs.registry import Registry
from quantrun.runs.request import ResolvedRequest, RunCreateRequest
from quantrun.runs.slots import BuildSlots
from quantrun.settings import Settings
from quantrun.staging import staging_dir
from quantrun.strategies.limits import time_limit as limited
from quantrun.strategies.store import finder
from quantrun.version import __version__

if TYPE_CHECKING:
    from quantrun.runs.request import StrategyFinder

log = get_logger(__name__)

#: 2: the strategy's source sha256 is part of the identity (issue 14). A run made under 1 is
#: rebuilt under 1 (``RunCreateRequest.identity_schema``), so its id keeps its meaning.
IDENTITY_SCHEMA_VERSION = 2
LIBRARIES = ("numba", "numpy", "polars", "pyarrow", "pydantic")

Progress = Callable[[str], None]

#: The strategy the kernel is warmed up with (the user's code never runs on that thread).
WARM_UP_STRATEGY = "buy_and_hold"
#: The artifact holding the strategy's code (identity schema 2 on).
STRATEGY_SOURCE = STRATEGY_SOURCE_FILE

#: The stages a build reports through its ``progress`` hook, in order: the CLI progress bar,
#: the job page and the benchmarks read this one tuple. A build waiting for a free slot
#: reports :data:`WAITING` first.
BUILD_STAGES = ("ingest", "resample", "simulate", "metrics", "write", "publish")
WAITING = "waiting"
Clock = Callable[[], datetime]


def _no_progress(stage: str) -> None:
    return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    created: bool
    path: Path
    manifest: Manifest

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "created": self.created,
            "path": str(self.path),
            "summary": self.manifest.summary.model_dump(mode="json"),
        }


def library_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in LIBRARIES}


def _pinned(requested: int | None, current: int, known: Collection[int], what: str) -> int:
    """The version of ``what`` a build follows: ``current`` unless the request pins an older
    one (a re-run of an older run, ``runs verify --rerun``)."""
    version = requested or current
    if version not in known:
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"unknown {what} {version}")
    return version


def identity_schema(request: RunCreateRequest) -> int:
    """The identity rules a build follows."""
    known = range(1, IDENTITY_SCHEMA_VERSION + 1)
    return _pinned(request.identity_schema, IDENTITY_SCHEMA_VERSION, known, "identity schema")


def resample_rules(request: RunCreateRequest) -> int:
    """The resampling rules a build follows."""
    known = RESAMPLE_RULES_VERSIONS
    return _pinned(request.resample_rules, RESAMPLE_RULES_VERSION, known, "resampling rules")


def artifact_schema(request: RunCreateRequest) -> int:
    """The artifact formats a build writes (the manifest's ``schema_version``)."""
    known = MANIFEST_SCHEMA_VERSIONS
    return _pinned(request.artifact_schema, MANIFEST_SCHEMA_VERSION, known, "artifact schema")


def bars_in_dataset(run_bars: RunBars, dataset: DatasetInput) -> bool:
    """The run's bars are the dataset's own rows within its window (the run's timeframe is
    the data's, each bar its own bucket): a schema-2 run references them instead of writing
    ``bars.parquet``. Checked on the values, not assumed from the timeframes."""
    bars = run_bars.bars
    if bars.height == 0 or not (bars["bar_count"] == 1).all() or bars["partial"].any():
        return False
    stored = dataset.bars
    window = stored.filter(
        (pl.col("ts") >= bars["ts"][0]) & (pl.col("ts") <= bars["ts"][-1])
    ).select(FIELDS)
    return window.height == bars.height and window.equals(bars.select(FIELDS))


def strategy_finder(settings: Settings) -> StrategyFinder:
    """Where a build looks strategies up: the built-ins, RUNS_ROOT's added strategies and
    installed entry points."""
    return finder(settings.layout)


def run_identity(resolved: ResolvedRequest, dataset_id: str, window: Window) -> Identity:
    """Everything that decides the result, and nothing else."""
    request = resolved.request
    schema = identity_schema(request)
    return Identity(
        schema_version=schema,
        engine_version=ENGINE_VERSION,
        dataset_id=dataset_id,
        symbol=request.symbol,
        timeframe=resolved.timeframe.name,
        window=window,
        strategy=StrategyRef(
            id=request.strategy,
            version=resolved.strategy.version,
            params=resolved.params.model_dump(mode="json"),
            source_sha256=resolved.source.sha256 if schema >= 2 else None,
        ),
        risk=resolved.risk.model_dump(mode="json"),
        costs=resolved.costs.model_dump(mode="json"),
        resample_rules_version=resample_rules(request),
    )


def _window(resampled: Resampled, resolved: ResolvedRequest) -> tuple[pl.DataFrame, Window]:
    frame = resampled.bars
    if resolved.start_micros is not None:
        frame = frame.filter(pl.col("ts") >= resolved.start_micros)
    if resolved.end_micros is not None:
        frame = frame.filter(pl.col("ts") < resolved.end_micros)
    if frame.height == 0:
        raise error(
            ErrorCode.RUN_WINDOW_EMPTY,
            f"no {resolved.timeframe.name} bars between "
            f"{resolved.request.start or 'the start'} and {resolved.request.end or 'the end'}",
        )
    window = Window(
        start=None if resolved.start_micros is None else iso(resolved.start_micros),
        end=None if resolved.end_micros is None else iso(resolved.end_micros),
    )
    return frame, window


@dataclass(frozen=True)
class RunBars:
    """What one run simulates: the windowed bars and what names them in the identity. A sweep
    cell needs only this (and its resolved request), so it is what a sweep ships to workers."""

    dataset_id: str
    bars: pl.DataFrame
    window: Window


@dataclass(frozen=True)
class Prepared:
    """A request made ready to simulate: :func:`prepare`'s result (data read once)."""

    resolved: ResolvedRequest
    dataset: DatasetInput
    resampled: Resampled
    run_bars: RunBars


@dataclass(frozen=True)
class Evaluated:
    """One run computed but not written: :func:`evaluate`'s result."""

    identity: Identity
    run_id: str
    sim: SimulationResult
    metrics: dict[str, Any]


def prepare(
    request: RunCreateRequest,
    settings: Settings,
    *,
    resolved: ResolvedRequest | None = None,
    progress: Progress = _no_progress,
    dataset: DatasetInput | None = None,
) -> Prepared:
    """Read the request's dataset (ingest its files, or load the stored one), resample it to
    the request's timeframe and cut its window. Every run (and every cell of a sweep) on the
    same data and window shares this. ``dataset``: the input already read (a sweep
    materialising a cell from the stored dataset its files made)."""
    resolved = resolved if resolved is not None else request.resolve(strategy_finder(settings))
    # A pinned version this build cannot follow is refused before any data is read or stored.
    rules = resample_rules(request)
    identity_schema(request)
    artifact_schema(request)
    progress("ingest")
    ingested = dataset if dataset is not None else _dataset_input(request, resolved, settings)
    progress("resample")
    # A dataset measured against an exchange calendar resamples by its sessions (the rules are
    # recorded in the manifest's resampling); the calendar is in its dataset id already.
    sessions = recorded_sessions(ingested.quality.get("calendar"), ingested.bars["ts"].to_numpy())
    resampled = resample(
        ingested.bars,
        resolved.timeframe,
        base_timeframe=resolved.base_timeframe,
        sessions=sessions,
        rules_version=rules,
    )
    bars, window = _window(resampled, resolved)
    return Prepared(resolved, ingested, resampled, RunBars(ingested.dataset_id, bars, window))


def identify(run_bars: RunBars, resolved: ResolvedRequest) -> tuple[Identity, str]:
    """The identity and run id of ``resolved`` run on ``run_bars``: the one place a run id is
    computed."""
    identity = run_identity(resolved, run_bars.dataset_id, run_bars.window)
    return identity, canonical_hash(identity.model_dump(mode="json"))


def evaluate(
    run_bars: RunBars,
    resolved: ResolvedRequest,
    *,
    progress: Progress = _no_progress,
    time_limit: float | None = None,
) -> Evaluated:
    """Simulate ``resolved`` on ``run_bars`` and compute its metrics, writing nothing: exactly
    what :func:`create_run` computes before it writes the artifacts."""
    identity, run_id = identify(run_bars, resolved)
    request = resolved.request
    bars = run_bars.bars
    progress("simulate")
    # A user's code may hang: it gets ``time_limit`` seconds (the built-ins are ours).
    limit = None if resolved.source.kind == "builtin" else time_limit
    try:
        with limited(limit, f"strategy {request.strategy} v{resolved.strategy.version}"):
            sim = simulate(
                bars,
                request.strategy,
                resolved.params,
                resolved.risk,
                resolved.costs,
                version=resolved.strategy.version,
                strategy_class=resolved.strategy,
            )
    except QuantrunError:
        raise
    except Exception as exc:
        if resolved.source.kind == "builtin":
            raise
        from quantrun.strategies.check import strategy_failure

        raise strategy_failure(exc, resolved.source) from None
    progress("metrics")
    metrics = compute_metrics(
        ts=sim.ts,
        equity=sim.equity,
        position=sim.position,
        close=bars["close"].to_numpy(),
        trades=sim.trades,
        initial_cash=resolved.costs.initial_cash,
        timeframe_micros=resolved.timeframe.micros,
        commissions_paid=sim.commissions_paid,
        ambiguous_bars=sim.ambiguous_bars,
    )
    return Evaluated(identity, run_id, sim, metrics)


def create_run(
    request: RunCreateRequest,
    settings: Settings,
    *,
    progress: Progress = _no_progress,
    clock: Clock = _utc_now,
    slot_wait: float | None = 0.0,
    prepared: Prepared | None = None,
    find: StrategyFinder | None = None,
) -> RunResult:
    """Create (or find) the run ``request`` describes. See the module docstring.

    At most ``settings.max_concurrent_jobs`` builds run at once per RUNS_ROOT; when all build
    slots are busy this waits ``slot_wait`` seconds (None: as long as it takes), then refuses
    with LIMIT_CONCURRENT_BUILDS. ``prepared``: the request's data already read by
    :func:`prepare` (a sweep materialising cells reads it once).
    """
    if prepared is not None:
        resolved = prepared.resolved
    else:
        resolved = request.resolve(find if find is not None else strategy_finder(settings))
    require_creation(settings, server=False)
    switch = KillSwitch(settings.runs_root)
    registry = Registry(settings.runs_root, settings.artifacts_root)
    registry.recover()
    slots = BuildSlots(settings.runs_root, settings.max_concurrent_jobs)
    with slots.hold(wait=slot_wait, on_wait=lambda: progress(WAITING)):
        switch.check()  # the switch may have been thrown while this build waited
        log.info("build.started", strategy=request.strategy, symbol=request.symbol)
        return _build(request, resolved, settings, registry, switch, progress, clock, prepared)


def _build(
    request: RunCreateRequest,
    resolved: ResolvedRequest,
    settings: Settings,
    registry: Registry,
    switch: KillSwitch,
    progress: Progress,
    clock: Clock,
    prepared: Prepared | None,
) -> RunResult:
    # numba is imported and loads the compiled kernel (mostly Python work) on a thread while
    # the CSV is read and checked (mostly polars, outside the GIL); simulate() below then finds
    # it loaded (or waits on the import lock until it is). Importing this module loads no numba.
    # With a built-in strategy: the user's code runs only where its failures are reported.
    _in_background(warm_up, WARM_UP_STRATEGY, {}, resolved.risk, resolved.costs)
    if prepared is None:
        prepared = prepare(request, settings, resolved=resolved, progress=progress)
    ingested, resampled, run_bars = prepared.dataset, prepared.resampled, prepared.run_bars
    bars = run_bars.bars
    identity, run_id = identify(run_bars, resolved)

    final = registry.runs_dir / run_id
    if run_exists(settings, run_id):
        existing = registry.existing_or_quarantine(run_id)
        if existing is not None:
            registry.add(run_id, RunSummary.from_manifest(existing, created_at=_stamp(clock)))
            log.info("build.exists", run_id=run_id)
            return RunResult(run_id, False, final, existing)

    evaluated = evaluate(
        run_bars, resolved, progress=progress, time_limit=settings.strategy_time_limit_seconds
    )
    sim, metrics = evaluated.sim, evaluated.metrics
    schema = artifact_schema(request)
    bars_source = None
    if schema >= 2:
        bars_source = BARS_IN_DATASET if bars_in_dataset(run_bars, ingested) else BARS_IN_ARTIFACT
    progress("write")
    try:
        with staging_dir(settings.runs_root, f"run-{run_id[:16]}") as work:
            write_bars = bars_source != BARS_IN_DATASET
            files = _write_artifacts(
                work, ingested, settings, bars, sim, metrics, schema, write_bars=write_bars
            )
            if identity.schema_version >= 2:  # the run keeps the code it ran
                source = art.json_bytes(resolved.source.to_json())
                files[STRATEGY_SOURCE] = _write_file(work / STRATEGY_SOURCE, source)
            manifest = _manifest(
                run_id,
                identity,
                resolved,
                ingested,
                resampled,
                bars,
                sim,
                metrics,
                files,
                schema,
                bars_source,
            )
            switch.check()  # again just before the commit point: a switch thrown mid-run holds
            progress("publish")
            created = _publish(work, registry, run_id, manifest)
    except OSError as exc:
        raise error(
            ErrorCode.STORAGE_FAILED,
            f"could not publish run {run_id[:12]}: {exc.strerror or type(exc).__name__}",
        ) from None
    registry.add(run_id, RunSummary.from_manifest(manifest, created_at=_stamp(clock)))
    log.info(
        "build.done", run_id=run_id, created=created, bars=bars.height, trades=sim.trades.height
    )
    return RunResult(run_id, created, final, manifest)


@dataclass(frozen=True)
class DatasetInput:
    """The dataset a run reads: ingested from its files, or a stored one loaded by id."""

    dataset_id: str
    content_sha256: str
    bars: pl.DataFrame
    quality: dict[str, Any]
    #: The manifest's dataset.sources.
    sources: list[dict[str, Any]]


def _dataset_input(
    request: RunCreateRequest, resolved: ResolvedRequest, settings: Settings
) -> DatasetInput:
    if request.dataset is not None:
        loaded = DatasetStore(settings.runs_root).load_for_run(request.dataset)
        if loaded.symbol is not None and loaded.symbol != request.symbol:
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"dataset {loaded.dataset_id[:12]} holds {loaded.symbol}, not {request.symbol}",
            )
        if loaded.timeframe != resolved.base_timeframe.name:
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"dataset {loaded.dataset_id[:12]} holds {loaded.timeframe} bars; "
                f"pass --base-timeframe {loaded.timeframe}",
            )
        return DatasetInput(
            loaded.dataset_id,
            loaded.content_sha256,
            loaded.bars,
            loaded.quality,
            loaded.manifest_sources(),
        )
    ingested = ingest(request.ingest_request(), settings)
    assert ingested.inspection.bars is not None and ingested.inspection.content_sha256
    labels = request.source_labels()
    return DatasetInput(
        ingested.dataset_id,
        ingested.inspection.content_sha256,
        ingested.inspection.bars,
        ingested.quality,
        [
            s.to_dict() | {"path": label, "name": Path(label).name}
            for s, label in zip(ingested.inspection.sources, labels, strict=True)
        ],
    )


def _in_background(func: Callable[..., object], *args: Any) -> None:
    """Start ``func(*args)`` on a thread and never wait for it: best effort only. Its result
    and any error are dropped (the real work, done later, raises its own errors)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quantrun-warm-up")
    pool.submit(func, *args)
    pool.shutdown(wait=False)


def _stamp(clock: Clock) -> str:
    return clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Artifacts whose bytes polars encodes (outside the GIL), with the encoder for each: the
#: two largest go to a worker thread, one after the other; the others are done here.
_Encoder = Callable[[pl.DataFrame, SimulationResult], bytes]


@dataclass(frozen=True)
class _Encoders:
    on_worker: dict[str, _Encoder]
    on_caller: dict[str, _Encoder]


def _encoders(schema: int, *, write_bars: bool) -> _Encoders:
    """The frame artifacts of manifest schema ``schema``: under 1 the decision records are
    JSON lines and the bars always copied; under 2 the records are Parquet and the bars are
    written only when they are not the stored dataset's (``write_bars``)."""
    records: dict[str, _Encoder] = (
        {"decision_records.jsonl": lambda bars, sim: art.decision_records_bytes(sim.records)}
        if schema == 1
        else {
            "decision_records.parquet": lambda bars, sim: art.decision_records_parquet_bytes(
                sim.records
            )
        }
    )
    bars_file: dict[str, _Encoder] = (
        {"bars.parquet": lambda bars, sim: art.parquet_bytes(bars)} if write_bars else {}
    )
    series: dict[str, _Encoder] = {
        "series.parquet": lambda bars, sim: art.parquet_bytes(art.series_frame(sim))
    }
    trades: dict[str, _Encoder] = {"trades.csv": lambda bars, sim: art.trades_csv_bytes(sim.trades)}
    if schema == 2:
        # No JSON lines to encode and, on the data's own timeframe, no bars, while this thread
        # writes every trade event into timeline.json: the series joins the worker.
        return _Encoders(on_worker=records | bars_file | series, on_caller=trades)
    # Schema 1 (the JSON lines on the worker) and 3 (timeline.json lists no events, so this
    # thread's JSON is small): the series is encoded here.
    return _Encoders(on_worker=records | bars_file, on_caller=series | trades)


def _write_artifacts(
    folder: Path,
    ingested: DatasetInput,
    settings: Settings,
    bars: pl.DataFrame,
    sim: SimulationResult,
    metrics: dict[str, Any],
    schema: int,
    *,
    write_bars: bool,
) -> dict[str, ArtifactFile]:
    """Encode every artifact and write it (fsynced) into ``folder``; return each one's size and
    sha256. A worker thread encodes and writes the two largest files (polars and the disk work
    outside the GIL) while this thread builds the JSON artifacts and then the smaller frames:
    on two cores the two halves overlap. A file's bytes are dropped once written and the two
    largest never coexist, which bounds peak memory. Every write has finished when this
    returns (or raised its failure)."""
    encoders = _encoders(schema, write_bars=write_bars)
    quality = (
        DatasetStore(settings.runs_root).path_of(ingested.dataset_id) / QUALITY_FILE
    ).read_bytes()
    done: dict[str, Future[ArtifactFile]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quantrun-write") as pool:
        for name, encode in encoders.on_worker.items():
            done[name] = pool.submit(_encode_and_write, folder / name, encode, bars, sim)
        written = {"data_quality.json": _write_file(folder / QUALITY_FILE, quality)}
        metrics_file = art.json_bytes({"schema_version": 1, "metrics": metrics})
        written["metrics.json"] = _write_file(folder / "metrics.json", metrics_file)
        timeline_version = art.SPECS["timeline.json"].version_under(schema)
        timeline = art.json_bytes(art.timeline(sim, timeline_version))
        written["timeline.json"] = _write_file(folder / "timeline.json", timeline)
        del timeline
        for name, encode in encoders.on_caller.items():
            written[name] = _encode_and_write(folder / name, encode, bars, sim)
    written |= {name: future.result() for name, future in done.items()}
    return {name: written[name] for name in art.ARTIFACT_NAMES if name in written}


@dataclass(frozen=True)
class ArtifactFile:
    """What the manifest records of a written artifact."""

    bytes: int
    sha256: str


def _write_file(path: Path, data: bytes) -> ArtifactFile:
    write_bytes(path, data)
    return ArtifactFile(len(data), sha256_hex(data))


def _encode_and_write(
    path: Path,
    encode: _Encoder,
    bars: pl.DataFrame,
    sim: SimulationResult,
) -> ArtifactFile:
    return _write_file(path, encode(bars, sim))


def _manifest(
    run_id: str,
    identity: Identity,
    resolved: ResolvedRequest,
    ingested: DatasetInput,
    resampled: Resampled,
    bars: pl.DataFrame,
    sim: SimulationResult,
    metrics: dict[str, Any],
    files: dict[str, ArtifactFile],
    schema: int,
    bars_source: str | None,
) -> Manifest:
    """The one place a manifest is built (``schema``: the artifact schema the files follow;
    ``bars_source``, schema 2 on: where the run's bars are)."""
    request = resolved.request
    quality = ingested.quality
    value = {k: v["value"] for k, v in metrics.items()}
    return Manifest.model_validate(
        {
            "schema_version": schema,
            "run_id": run_id,
            "inputs_hash": canonical_hash([s["sha256"] for s in ingested.sources]),
            "identity": identity,
            # A stored dataset is recorded by its full id, whatever prefix was given.
            "request": request.record(resolved.params)
            | ({"dataset": ingested.dataset_id} if request.dataset is not None else {}),
            "dataset": {
                "dataset_id": ingested.dataset_id,
                "content_sha256": ingested.content_sha256,
                "rows": quality["rows"],
                "first_bar": quality["first_bar"],
                "last_bar": quality["last_bar"],
                "base_timeframe": resolved.base_timeframe.name,
                "sources": ingested.sources,
            },
            "resampling": resampled.summary(),
            "window": identity.window,
            "strategy": identity.strategy,
            "risk": {"level": resolved.risk_level, "config": identity.risk},
            "costs": identity.costs,
            "engine": {
                "engine_version": ENGINE_VERSION,
                "quantrun_version": __version__,
                "libraries": library_versions(),
            },
            "summary": {
                "bars": bars.height,
                "first_bar": iso(int(bars["ts"][0])),
                "last_bar": iso(int(bars["ts"][-1])),
                "trades": value.get("trades"),
                "total_return": value.get("total_return"),
                "sharpe": value.get("sharpe"),
                "max_drawdown": value.get("max_drawdown"),
                "final_equity": value.get("final_equity"),
                "ambiguous_bars": sim.ambiguous_bars,
                "halted_at": None if sim.halt_bar is None else iso(int(sim.ts[sim.halt_bar])),
            },
            "artifacts": [
                {
                    "name": name,
                    "bytes": files[name].bytes,
                    "sha256": files[name].sha256,
                    "schema_version": art.SPECS[name].version_under(schema),
                    "media_type": art.SPECS[name].media_type,
                }
                for name in art.ARTIFACT_NAMES
                if name in files
            ],
            "bars_source": bars_source,
        }
    )


def _publish(work: Path, registry: Registry, run_id: str, manifest: Manifest) -> bool:
    """Write the manifest last, fsync, rename the staged folder into place (the commit point).
    False when another creator published the same run first."""
    final = registry.runs_dir / run_id
    write_bytes(work / MANIFEST_FILE, art.json_bytes(manifest.to_json()))
    fsync_dir(work)
    registry.runs_dir.mkdir(parents=True, exist_ok=True)
    try:
        work.rename(final)
    except OSError:
        if (final / MANIFEST_FILE).is_file():
            return False
        raise
    fsync_dir(registry.runs_dir)
    return True

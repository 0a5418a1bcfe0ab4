"""Creating a sweep: check, plan, resume, compute the missing cells, publish.

    result = create_sweep(request, settings, executor="local", workers=2)
    result.sweep_id, result.created, result.computed, result.resumed

1. :func:`~quantrun.sweeps.plan.check`: every cell validated, nothing read or written;
2. the creation policy (kill switch, free disk), as for a run; one build slot is held while
   the sweep computes;
3. :func:`~quantrun.sweeps.plan.plan`: the data read once, every cell's run id, the sweep id;
4. a published sweep with that id is returned as it is (``created=False``): nothing is
   recomputed;
5. the checkpoint of an interrupted attempt is read back: those cells are not computed again;
6. the first two missing cells are computed here, before any progress is reported: the second
   one's time makes the estimate (:class:`~quantrun.sweeps.progress.Estimate`), reported before
   the first progress update, and both results are kept; the rest go to the executor; each
   finished batch is appended to the checkpoint;
7. the results table and ``sweep.json`` are published atomically, then listed.

A Ctrl-C stops the executor, keeps every finished cell in the checkpoint and raises
SWEEP_INTERRUPTED, whose hint says how to resume; a kill at any instant loses at most the cells
in flight.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from quantrun.engine.simulate import warm_up
from quantrun.errors import ErrorCode, error
from quantrun.logs import get_logger
from quantrun.runs.builder import WARM_UP_STRATEGY
from quantrun.runs.killswitch import KillSwitch
from quantrun.runs.policy import require_creation
from quantrun.runs.request import ResolvedRequest
from quantrun.runs.slots import BuildSlots
from quantrun.settings import Settings
from quantrun.sweeps.executor import (
    CellTask,
    DaskExecutor,
    Executor,
    InlineExecutor,
    PoolExecutor,
    dask_address,
)
from quantrun.sweeps.manifest import (
    RESULTS_CSV,
    RESULTS_PARQUET,
    SweepManifest,
    SweepSummary,
    dataset_list,
    dataset_names,
)
from quantrun.sweeps.plan import Plan, check, plan
from quantrun.sweeps.progress import Estimate, SweepProgress
from quantrun.sweeps.request import SweepRequest
from quantrun.sweeps.results import (
    HEADLINE,
    csv_bytes,
    metric_ids,
    parquet_bytes,
    results_frame,
)
from quantrun.sweeps.store import CellResult, Checkpoint, SweepStore, file_entry, stamp

log = get_logger(__name__)

#: Below this much estimated work (seconds) the local executor computes in this process:
#: a spawned worker loads polars, numba and quantrun first, 2 to 4 s on two busy cores.
POOL_THRESHOLD_SECONDS = 10.0
#: Cells computed in this process before the rest go to the executor; the last one's time
#: makes the estimate.
CALIBRATION_CELLS = 2
#: Finished cells are appended to the checkpoint (and fsynced) at most this often.
FLUSH_SECONDS = 0.5
#: How often the kill switch is read while cells are computed.
SWITCH_SECONDS = 0.5


@dataclass(frozen=True)
class SweepResult:
    sweep_id: str
    created: bool
    path: Path
    manifest: SweepManifest
    results: pl.DataFrame
    #: Cells computed by this call, and cells taken from an interrupted attempt's checkpoint.
    computed: int
    resumed: int
    #: The estimate reported before the cells were computed (None when none were).
    estimate: Estimate | None = None

    def cells(self) -> list[dict[str, Any]]:
        """Every cell in grid order: its number, parameters, run id and headline metrics, and
        the symbol and dataset it reads."""
        rows = self.results.select(["cell", "run_id", *HEADLINE]).to_dicts()
        return [
            {"cell": c.cell, "params": c.params, "grid": c.grid}
            | dataset_names(self.manifest, c)
            | values
            for c, values in zip(self.manifest.cells, rows, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "created": self.created,
            "path": str(self.path),
            "strategy": self.manifest.strategy.id,
            "axes": self.manifest.axis_names,
            "datasets": dataset_list(self.manifest),
            "computed": self.computed,
            "resumed": self.resumed,
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "cells": self.cells(),
            "skipped": [s.model_dump(mode="json") for s in self.manifest.skipped],
        }


def resolve_workers(workers: int | None, settings: Settings) -> int:
    """``--workers``, else the setting, else the machine's cores."""
    chosen = workers if workers is not None else settings.sweep_workers
    if chosen is not None and chosen < 0:
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"--workers {chosen}: give 1 or more")
    return chosen or os.cpu_count() or 1


def create_sweep(
    request: SweepRequest,
    settings: Settings,
    *,
    executor: str = "local",
    workers: int | None = None,
    progress: SweepProgress | None = None,
    slot_wait: float | None = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> SweepResult:
    """Create (or find, or resume) the sweep ``request`` describes. See the module docstring."""
    report = progress or SweepProgress()
    if executor != "local":
        dask_address(executor)  # a malformed address is a usage error before any work
    count = resolve_workers(workers, settings)
    checked = check(request, settings)
    require_creation(settings, server=False)
    _warm_up(checked.cells[0].resolved)
    planned = plan(checked, settings, progress=report.stage)
    store = SweepStore(settings)
    store.recover()
    found = _existing(store, planned)
    if found is not None:
        report.planned(planned.sweep_id, len(planned.cells), len(planned.cells), 0)
        return found
    slots = BuildSlots(settings.runs_root, settings.max_concurrent_jobs)
    with slots.hold(wait=slot_wait), store.computing(planned.sweep_id) as checkpoint:
        done = checkpoint.load(planned.run_ids)
        resumed = len(done)
        report.planned(planned.sweep_id, len(planned.cells), resumed, len(planned.skipped))
        computed, estimate = _compute(
            planned,
            checkpoint,
            done,
            executor,
            count,
            settings,
            report,
            clock,
            workers is not None or settings.sweep_workers > 0,
        )
        manifest, frame, files = _tables(planned, done)
        published = store.publish(manifest, files)
    store.add(SweepSummary.from_manifest(manifest, stamp()))
    store.discard_partial(planned.sweep_id)
    log.info("sweep.done", sweep_id=planned.sweep_id, computed=computed, resumed=resumed)
    path = settings.layout.sweep(planned.sweep_id)
    return SweepResult(
        planned.sweep_id, published, path, manifest, frame, computed, resumed, estimate
    )


class _Interrupted(Exception):
    """Ctrl-C, noted by :class:`_CtrlC` and acted on between two batches."""


class _CtrlC:
    """While a sweep computes, Ctrl-C (SIGINT) is noted rather than raised wherever the main
    thread happens to be (in the middle of a checkpoint write, say): the loop stops at the next
    batch, keeps every finished cell and says how to resume. A second Ctrl-C raises at once.
    Only in the main thread, and only where SIGINT has Python's default handler (a sweep
    started in the background with SIGINT ignored keeps ignoring it)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _CtrlC:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise _Interrupted

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _warm_up(resolved: ResolvedRequest) -> None:
    """Load the compiled kernel on a thread while the data is read (as ``create_run`` does),
    with a built-in strategy: the first cell then finds it loaded. Best effort only."""

    # A built-in's own code (its compiled helpers too); a user's code runs only where its
    # failures are reported, so a built-in stands in for it.
    builtin = resolved.source.kind == "builtin"
    strategy = resolved.request.strategy if builtin else WARM_UP_STRATEGY
    params: Any = resolved.params if builtin else {}
    version = resolved.strategy.version if builtin else None

    def load() -> None:
        with contextlib.suppress(Exception):
            warm_up(strategy, params, resolved.risk, resolved.costs, version)

    threading.Thread(target=load, name="quantrun-warm-up", daemon=True).start()


def _existing(store: SweepStore, planned: Plan) -> SweepResult | None:
    manifest = store.existing(planned.sweep_id)
    if manifest is None:
        return None
    store.add(SweepSummary.from_manifest(manifest, stamp()))
    store.discard_partial(planned.sweep_id)
    path = store.layout.sweep(planned.sweep_id)
    frame = pl.read_parquet(path / RESULTS_PARQUET)
    return SweepResult(planned.sweep_id, False, path, manifest, frame, 0, 0)


def _compute(
    planned: Plan,
    checkpoint: Checkpoint,
    done: dict[int, CellResult],
    executor: str,
    workers: int,
    settings: Settings,
    report: SweepProgress,
    clock: Callable[[], float],
    explicit: bool,
) -> tuple[int, Estimate | None]:
    """Compute every cell missing from ``done`` (filled in place); the number computed and
    the estimate reported before them."""
    total = len(planned.cells)
    tasks = [
        CellTask(c.cell, c.run_id, c.resolved, c.dataset)
        for c in planned.cells
        if c.cell not in done
    ]
    if not tasks:
        report.advanced(total, total)
        return 0, None
    switch = KillSwitch(settings.runs_root)
    run_bars = [prepared.run_bars for prepared in planned.datasets]
    computed = 0
    estimate: Estimate | None = None
    last_check = last_flush = clock()
    unsaved: list[CellResult] = []

    def flush() -> None:
        nonlocal last_flush
        checkpoint.append(unsaved)
        unsaved.clear()
        last_flush = clock()

    def keep(batch: list[CellResult], report_progress: bool = True) -> None:
        nonlocal computed, last_check
        unsaved.extend(batch)
        for result in batch:
            done[result.cell] = result
        computed += len(batch)
        # One fsync per FLUSH_SECONDS, not per cell: a kill loses at most that much work.
        if clock() - last_flush >= FLUSH_SECONDS:
            flush()
        if report_progress:
            report.advanced(len(done), total)
        if clock() - last_check >= SWITCH_SECONDS:
            last_check = clock()
            switch.check()
        ctrl_c.check()

    # Worker processes asked for start now, so they load while this process times two cells.
    early = _pool(executor, workers, explicit, checkpoint.folder)
    chosen: Executor | None = early
    ctrl_c = _CtrlC()
    try:
        ctrl_c.__enter__()
        # Calibration, before any progress is reported: the first cell pays for loading the
        # compiled kernel, the last one is timed for the estimate. Their results are kept.
        inline = InlineExecutor()
        per_cell = 0.0
        for task in tasks[:CALIBRATION_CELLS]:
            started = clock()
            batches = list(inline.run(run_bars, [task]))
            per_cell = clock() - started
            for batch in batches:
                keep(batch, report_progress=False)
        rest = tasks[CALIBRATION_CELLS:]
        if chosen is None and rest:
            chosen = _executor(executor, workers, per_cell * len(rest), checkpoint.folder)
        measured = tasks[:CALIBRATION_CELLS][-1].cell
        estimate = Estimate.measured(per_cell, len(rest), chosen.workers if chosen else 1, measured)
        report.estimated(estimate)
        report.advanced(len(done), total)
        if rest and chosen is not None:
            for batch in chosen.run(run_bars, rest):
                keep(batch)
    except (KeyboardInterrupt, _Interrupted):
        raise error(
            ErrorCode.SWEEP_INTERRUPTED,
            f"sweep {planned.sweep_id[:12]} stopped after {len(done)} of {total} cells; "
            "the finished cells are kept",
            extra={"sweep_id": planned.sweep_id, "done": len(done), "total": total},
        ) from None
    finally:
        flush()  # every finished cell is kept, whatever stopped the loop
        if chosen is not None:
            chosen.close()
        ctrl_c.__exit__()
    return computed, estimate


def _pool(executor: str, workers: int, explicit: bool, folder: Path) -> PoolExecutor | None:
    """The local pool, started at once, when worker processes were asked for."""
    if executor == "local" and explicit and workers > 1:
        return PoolExecutor(workers, folder)
    return None


def _executor(executor: str, workers: int, work_seconds: float, folder: Path) -> Executor:
    """Dask when asked; else the local pool, unless the work is too short to be worth
    starting processes (the worker count left to its default) or one worker is all there is."""
    if executor != "local":
        return DaskExecutor(dask_address(executor))
    if workers <= 1 or work_seconds < POOL_THRESHOLD_SECONDS:
        return InlineExecutor()
    return PoolExecutor(workers, folder)


def _tables(
    planned: Plan, done: dict[int, CellResult]
) -> tuple[SweepManifest, pl.DataFrame, dict[str, bytes]]:
    results = [done[c.cell] for c in planned.cells]
    axes = [axis.name for axis in planned.request.grid]
    params = [c.params for c in planned.cells]
    frame = results_frame(axes, params, results, planned.cell_datasets())
    files = {RESULTS_PARQUET: parquet_bytes(frame), RESULTS_CSV: csv_bytes(frame)}
    entries = [file_entry(name, files[name]) for name in (RESULTS_CSV, RESULTS_PARQUET)]
    return planned.manifest(entries, metric_ids()), frame, files

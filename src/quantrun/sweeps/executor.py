"""Computing cells: in this process, on a local process pool, or on a Dask cluster.

Every executor runs the same function, :func:`evaluate_cells`, which calls the builder's
:func:`~quantrun.runs.builder.evaluate` for each cell and checks that the worker computed the
run id the plan expects (a worker with another quantrun would not). Results come back in
completion order with their cell number; the caller orders them, so nothing depends on the
executor, the worker count or the order cells finish in.

- :class:`InlineExecutor`: this process, one cell after the other.
- :class:`PoolExecutor`: ``N`` spawned worker processes. Each dataset's bars are written
  once, as an uncompressed Arrow IPC file in the sweep's checkpoint folder, and each worker
  maps it (``memory_map``) the first time a chunk needs it: the pages are shared, and no cell
  copies them.
- :class:`DaskExecutor`: a ``distributed`` cluster (``dask://HOST:PORT``). Each dataset's
  bars are scattered to every worker once, by content (hashed), never as a path; each task is
  a chunk of cells of one dataset.

On a dataset axis (several datasets) each task names its dataset (its place in the list of
:class:`~quantrun.runs.builder.RunBars` the executor is given) and every chunk holds cells of
one dataset only.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from quantrun.allocator import keep_freed_memory
from quantrun.engine.simulate import ENGINE_VERSION
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.runs.builder import RunBars, evaluate, library_versions
from quantrun.runs.manifest import Window
from quantrun.runs.request import ResolvedRequest
from quantrun.strategies.source import StrategySource
from quantrun.sweeps.store import CellResult
from quantrun.version import __version__

#: Chunks per worker a sweep is cut into (progress stays smooth, stragglers stay short).
CHUNKS_PER_WORKER = 4
MAX_CHUNK = 64
DASK_SCHEME = "dask://"
#: The longest the pool's loop waits for a chunk before it hands control back.
POLL_SECONDS = 0.25
DASK_CONNECT_SECONDS = 10.0


@dataclass(frozen=True)
class CellTask:
    """One cell to compute: its number, the run id the plan expects, its resolved request."""

    cell: int
    run_id: str
    resolved: ResolvedRequest
    #: The cell's dataset: its place in the executor's list of bars.
    dataset: int = 0


@dataclass(frozen=True)
class ChunkOutcome:
    """What a worker sends back: its environment, the results, or the refusal it met
    (a QuantrunError's code and detail: exceptions with keyword arguments do not pickle)."""

    environment: dict[str, Any]
    results: list[CellResult]
    failure: tuple[str, str] | None = None


@functools.cache
def environment() -> dict[str, Any]:
    """What must match between the planner and every worker for equal results (read once per
    process: the library versions come from package metadata)."""
    return {
        "quantrun_version": __version__,
        "engine_version": ENGINE_VERSION,
        "libraries": library_versions(),
    }


def evaluate_cells(run_bars: RunBars, tasks: Sequence[CellTask]) -> ChunkOutcome:
    """Compute ``tasks`` on ``run_bars`` with the builder's own code (see the module
    docstring). Runs in whichever process or worker the executor picked."""
    results = []
    try:
        for task in tasks:
            evaluated = evaluate(run_bars, task.resolved)
            if evaluated.run_id != task.run_id:
                raise error(
                    ErrorCode.SWEEP_EXECUTOR_FAILED,
                    f"cell {task.cell}: the worker computed run id {evaluated.run_id[:12]}, "
                    f"the plan {task.run_id[:12]}",
                )
            values = {name: metric["value"] for name, metric in evaluated.metrics.items()}
            results.append(CellResult(task.cell, task.run_id, values))
    except QuantrunError as refused:
        return ChunkOutcome(environment(), results, (str(refused.code), refused.detail))
    return ChunkOutcome(environment(), results)


#: Strategy code kinds that travel with the tasks (a built-in or an installed package's
#: strategy is imported where quantrun is installed).
_SHIPPED_KINDS = ("file", "package")


@dataclass(frozen=True)
class Portable:
    """Cell tasks as they travel to another process: the code of the user's strategies they
    name (by content) and the tasks pickled. A worker loads the code first (under the module
    name unique to its hash), so the pickled classes and parameters resolve there too."""

    sources: tuple[StrategySource, ...]
    payload: bytes


def portable(tasks: Sequence[CellTask]) -> Portable:
    sources: dict[str, StrategySource] = {}
    for task in tasks:
        source = task.resolved.source
        if source.kind in _SHIPPED_KINDS:
            sources.setdefault(source.sha256, source)
    return Portable(tuple(sources.values()), pickle.dumps(list(tasks)))


def evaluate_portable(run_bars: RunBars, chunk: Portable) -> ChunkOutcome:
    """:func:`evaluate_cells` on a worker: the strategies' code loaded, then the tasks."""
    try:
        for source in chunk.sources:
            source.load()
        tasks: list[CellTask] = pickle.loads(chunk.payload)
    except QuantrunError as refused:
        return ChunkOutcome(environment(), [], (str(refused.code), refused.detail))
    except Exception as exc:  # the user's code failed to import here
        detail = f"a worker could not load the strategy's code: {type(exc).__name__}"
        return ChunkOutcome(environment(), [], (str(ErrorCode.STRATEGY_FAILED), detail))
    return evaluate_cells(run_bars, tasks)


def _accept(outcome: ChunkOutcome, expected: dict[str, Any]) -> list[CellResult]:
    if outcome.environment != expected:
        raise error(
            ErrorCode.SWEEP_EXECUTOR_FAILED,
            "a worker runs other versions than this machine: "
            f"{_differences(expected, outcome.environment)}",
        )
    if outcome.failure is not None:
        code, detail = outcome.failure
        raise error(ErrorCode(code), detail)
    return outcome.results


def _differences(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    flat_ours = {**ours, **ours.get("libraries", {})}
    flat_theirs = {**theirs, **theirs.get("libraries", {})}
    names = sorted(
        k
        for k in flat_ours.keys() | flat_theirs.keys()
        if k != "libraries" and flat_ours.get(k) != flat_theirs.get(k)
    )
    return ", ".join(f"{k} {flat_theirs.get(k)} (here {flat_ours.get(k)})" for k in names)


def chunks(tasks: Sequence[CellTask], workers: int) -> list[list[CellTask]]:
    """``tasks`` cut into chunks of equal size, about CHUNKS_PER_WORKER per worker, each of
    one dataset (a chunk ends where the dataset changes)."""
    if not tasks:
        return []
    size = max(1, min(MAX_CHUNK, math.ceil(len(tasks) / (workers * CHUNKS_PER_WORKER))))
    out: list[list[CellTask]] = []
    for task in tasks:
        if not out or len(out[-1]) >= size or out[-1][-1].dataset != task.dataset:
            out.append([])
        out[-1].append(task)
    return out


class Executor(Protocol):
    """Computes cell tasks, yielding each finished batch of results as it arrives."""

    @property
    def workers(self) -> int: ...

    def run(
        self, bars: Sequence[RunBars], tasks: Sequence[CellTask]
    ) -> Iterator[list[CellResult]]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """This process, one cell after the other."""

    workers = 1

    def close(self) -> None:
        return None

    def run(self, bars: Sequence[RunBars], tasks: Sequence[CellTask]) -> Iterator[list[CellResult]]:
        expected = environment()
        for task in tasks:
            yield _accept(evaluate_cells(bars[task.dataset], [task]), expected)


# -- the local process pool -------------------------------------------------------------------

_POOL_BARS: dict[str, RunBars] = {}
#: What a pool worker is started with (see PoolExecutor).
WORKER_ENVIRONMENT = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in ``os.environ`` for the ``with`` body, then restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _watch_parent(parent: int) -> None:
    """A pool worker's guard: exit when the process that started it is gone (killed), so a
    killed sweep leaves no idle workers behind."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _init_pool_worker(parent: int) -> None:
    # Ctrl-C is the parent's: it stops the pool and records what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()  # a pool worker lives for one sweep (D53)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _warm_pool_worker() -> int:
    """Load the engine's compiled kernel while the parent is still planning."""
    from quantrun.engine.risk import costs_from, risk_from_level
    from quantrun.engine.simulate import warm_up

    with contextlib.suppress(Exception):
        warm_up("buy_and_hold", {}, risk_from_level("moderate"), costs_from())
    return os.getpid()


def _pool_bars(path: str, dataset_id: str, window: dict[str, Any]) -> RunBars:
    """The bars of ``path``, mapped once per worker process (each dataset of a sweep's axis
    has its own file; the maps of another sweep's files are dropped)."""
    found = _POOL_BARS.get(path)
    if found is None:
        import pyarrow as pa

        # A memory map: every worker reads the same pages of the page cache, none copies them.
        table = pa.ipc.open_file(pa.memory_map(path)).read_all()
        bars = pl.from_arrow(table, rechunk=False)
        assert isinstance(bars, pl.DataFrame)
        found = RunBars(dataset_id, bars, Window.model_validate(window))
        folder = Path(path).parent
        for known in [k for k in _POOL_BARS if Path(k).parent != folder]:
            del _POOL_BARS[known]
        _POOL_BARS[path] = found
    return found


def _pool_chunk(
    path: str, dataset_id: str, window: dict[str, Any], chunk: Portable
) -> ChunkOutcome:
    return evaluate_portable(_pool_bars(path, dataset_id, window), chunk)


class PoolExecutor:
    """``workers`` spawned processes sharing one memory-mapped copy of the bars. The processes
    start when the executor is made (call :meth:`close` when done), so they load quantrun
    while this process is still busy."""

    def __init__(self, workers: int, folder: Path) -> None:
        import multiprocessing

        self._workers = workers
        self.folder = folder
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_pool_worker,
            initargs=(os.getpid(),),
        )
        # Each worker computes one cell at a time with one thread: the workers are the
        # parallelism (polars' own pool in each would oversubscribe the cores: a 1M-bar
        # 100-cell sweep took 26 s with it, 15 s without, on two cores). The processes start
        # on these submissions and read the variables then; this process's are restored.
        with _environment(WORKER_ENVIRONMENT):
            self._warming = [self.pool.submit(_warm_pool_worker) for _ in range(workers)]

    @property
    def workers(self) -> int:
        return self._workers

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _bars_file(self, run_bars: RunBars, number: int) -> Path:
        path = self.folder / f"bars-{number}-{run_bars.dataset_id[:16]}.arrow"
        temp = path.with_name(path.name + f".{os.getpid()}.tmp")
        run_bars.bars.write_ipc(temp, compression="uncompressed")
        temp.replace(path)
        return path

    def run(self, bars: Sequence[RunBars], tasks: Sequence[CellTask]) -> Iterator[list[CellResult]]:
        if not tasks:
            return
        expected = environment()
        used = sorted({task.dataset for task in tasks})
        paths: dict[int, Path] = {}
        pending: set[Future[ChunkOutcome]] = set()
        try:
            for number in used:
                paths[number] = self._bars_file(bars[number], number)
            for chunk in chunks(tasks, self._workers):
                run_bars = bars[chunk[0].dataset]
                window = run_bars.window.model_dump(mode="json")
                mapped = str(paths[chunk[0].dataset])
                args = (mapped, run_bars.dataset_id, window, portable(chunk))
                pending.add(self.pool.submit(_pool_chunk, *args))
            while pending:
                # A bounded wait: an empty batch now and then lets the caller act on a
                # Ctrl-C or the kill switch while long chunks run.
                done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if not done:
                    yield []
                for future in done:
                    yield _accept(_outcome(future), expected)
        finally:
            for future in pending:
                future.cancel()
            for path in paths.values():
                path.unlink(missing_ok=True)


def _outcome(future: Future[ChunkOutcome]) -> ChunkOutcome:
    try:
        return future.result()
    except QuantrunError:
        raise
    except Exception as exc:  # a worker died or could not start
        raise error(
            ErrorCode.SWEEP_EXECUTOR_FAILED,
            f"a worker process failed ({type(exc).__name__}); a script that starts a sweep "
            "with local workers must guard its entry point with if __name__ == '__main__'",
        ) from None


# -- Dask -------------------------------------------------------------------------------------


def dask_address(executor: str) -> str:
    """``dask://HOST:PORT`` as distributed's ``tcp://HOST:PORT`` (USAGE_INVALID_OPTION for
    anything else)."""
    rest = executor[len(DASK_SCHEME) :] if executor.startswith(DASK_SCHEME) else ""
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in rest:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"--executor {executor[:80]!r} is not 'local' or dask://HOST:PORT",
        )
    return f"tcp://{host}:{port}"


class DaskExecutor:
    """Cells on a distributed cluster; the bars go to every worker once, by content."""

    def __init__(self, address: str, connect_seconds: float = DASK_CONNECT_SECONDS) -> None:
        try:
            import distributed
        except ImportError:
            raise error(
                ErrorCode.SWEEP_EXECUTOR_FAILED,
                "the Dask executor needs the 'dask' extra: pip install 'quantrun[dask]'",
            ) from None
        try:
            client: Any = distributed.Client  # distributed is untyped
            self.client: Any = client(address, timeout=connect_seconds, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise error(
                ErrorCode.SWEEP_EXECUTOR_FAILED,
                f"could not reach the Dask scheduler at {address}: {type(exc).__name__}",
            ) from None

    @property
    def workers(self) -> int:
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def close(self) -> None:
        self.client.close()

    def run(self, bars: Sequence[RunBars], tasks: Sequence[CellTask]) -> Iterator[list[CellResult]]:
        import distributed

        as_completed: Any = distributed.as_completed
        if not tasks:
            return
        expected = environment()
        # Each dataset's bars once per worker, named by their content hash (no path travels).
        shared = {
            number: self.client.scatter(bars[number], broadcast=True, hash=True)
            for number in sorted({task.dataset for task in tasks})
        }
        futures = [
            self.client.submit(
                evaluate_portable, shared[chunk[0].dataset], portable(chunk), pure=False
            )
            for chunk in chunks(tasks, self.workers)
        ]
        try:
            for future in as_completed(futures, loop=self.client.loop):
                try:
                    outcome = future.result()
                except QuantrunError:
                    raise
                except Exception as exc:
                    raise error(
                        ErrorCode.SWEEP_EXECUTOR_FAILED,
                        f"a Dask task failed: {type(exc).__name__}",
                    ) from None
                yield _accept(outcome, expected)
        finally:
            with contextlib.suppress(Exception):
                self.client.cancel(futures)

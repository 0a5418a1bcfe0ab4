"""The Dask executor on a real ``distributed.LocalCluster``: two worker processes on loopback
(no threads, no mock), the same published bytes as a local sweep."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantrun.api import create_sweep
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings
from quantrun.sweeps.executor import ChunkOutcome, DaskExecutor, _accept, environment

distributed = pytest.importorskip("distributed")

BASE: dict[str, Any] = {"symbol": "DEMOUSD", "strategy": "sma_crossover", "timeframe": "15m"}
GRID = ["fast=3:14:1", "slow=30,60"]


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", days=5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes, one thread each, on 127.0.0.1; closed whatever happens."""
    with warnings.catch_warnings():
        # distributed may warn about its own start-up (a slow event loop on a busy machine);
        # those warnings are about the cluster, not about quantrun.
        warnings.filterwarnings("ignore", category=UserWarning, module="distributed")
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # Any free port: None means the default 8787, and a busy 8787 (another cluster on
            # the machine) makes distributed retry and leak the socket it failed to bind.
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address=None,
        )
    try:
        yield local
    finally:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="distributed")
            local.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_local_cluster_sweep_is_byte_identical(
    demo_csv: Path, tmp_path: Path, cluster: Any
) -> None:
    local = create_sweep(
        str(demo_csv), Settings(runs_root=tmp_path / "local"), grid=GRID, workers=1, **BASE
    )
    address = cluster.scheduler_address.removeprefix("tcp://")
    assert address.startswith("127.0.0.1:")
    assert len(cluster.scheduler_info["workers"]) == 2
    on_dask = create_sweep(
        str(demo_csv),
        Settings(runs_root=tmp_path / "dask"),
        grid=GRID,
        executor=f"dask://{address}",
        **BASE,
    )
    assert on_dask.sweep_id == local.sweep_id
    assert on_dask.computed == len(local.cells()) == 24
    assert _files(on_dask.path) == _files(local.path)
    # The 22 cells after the two timed in process ran on the cluster, in 8 chunks of 3 or
    # fewer, in its worker processes (nannies: processes, not threads).
    prefix = cluster.scheduler.task_prefixes["evaluate_portable"]
    assert prefix.state_counts["memory"] == 8
    assert all(isinstance(w, distributed.Nanny) for w in cluster.workers.values())


def test_a_worker_with_other_versions_is_refused() -> None:
    ours = environment()
    theirs = ours | {"quantrun_version": "0.0.0"}
    with pytest.raises(QuantrunError) as caught:
        _accept(ChunkOutcome(theirs, []), ours)
    assert caught.value.code == ErrorCode.SWEEP_EXECUTOR_FAILED
    assert "quantrun_version 0.0.0" in caught.value.detail


def test_an_unreachable_scheduler_is_a_coded_failure() -> None:
    with pytest.raises(QuantrunError) as caught:
        DaskExecutor("tcp://127.0.0.1:9", connect_seconds=1.0)
    assert caught.value.code == ErrorCode.SWEEP_EXECUTOR_FAILED


def test_a_users_strategy_travels_to_the_cluster_by_content(
    demo_csv: Path, tmp_path: Path, cluster: Any
) -> None:
    from quantrun.api import add_strategy

    example = Path(__file__).resolve().parents[1] / "examples" / "strategies" / "above_sma.py"
    fields = BASE | {"strategy": "above_sma"}
    address = cluster.scheduler_address.removeprefix("tcp://")
    made = {}
    for name, executor in (("local", "local"), ("dask", f"dask://{address}")):
        settings = Settings(runs_root=tmp_path / name)
        add_strategy(str(example), settings)
        made[name] = create_sweep(
            str(demo_csv),
            settings,
            grid=["period=5:60:5"],
            executor=executor,
            workers=1 if executor == "local" else None,
            **fields,
        )
    assert made["dask"].sweep_id == made["local"].sweep_id
    assert _files(made["dask"].path) == _files(made["local"].path)


def test_a_dataset_axis_on_a_local_cluster_is_byte_identical(
    demo_csv: Path, tmp_path: Path, cluster: Any
) -> None:
    """Two datasets (the demo data under two symbols' files): each dataset's bars scattered
    once by content, chunks of one dataset each; the same bytes as the local sweep."""
    other = write_demo_csv(tmp_path / "other.csv", days=4)
    fields = BASE | {"datasets": [{"symbol": "OTHERUSD", "paths": [str(other)]}]}
    local = create_sweep(
        str(demo_csv), Settings(runs_root=tmp_path / "local"), grid=GRID, workers=1, **fields
    )
    address = cluster.scheduler_address.removeprefix("tcp://")
    on_dask = create_sweep(
        str(demo_csv),
        Settings(runs_root=tmp_path / "dask"),
        grid=GRID,
        executor=f"dask://{address}",
        **fields,
    )
    assert on_dask.sweep_id == local.sweep_id and local.manifest.schema_version == 2
    assert [c["symbol"] for c in on_dask.cells()] == ["DEMOUSD"] * 24 + ["OTHERUSD"] * 24
    assert _files(on_dask.path) == _files(local.path)

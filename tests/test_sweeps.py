"""Sweeps: the grid, up-front validation, identity (a cell is its run), storage, the CLI
journey sweep -> show -> materialize -> run page, and the local process pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from conftest import tree, written
from quantrun.api import (
    create_run,
    create_sweep,
    ingest_file,
    list_sweeps,
    materialize_cells,
    open_run,
    open_sweep,
)
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings
from quantrun.sweeps.grid import GridAxis, parse_axis, range_values, read_grid_file
from quantrun.sweeps.manifest import RESULTS_CSV, RESULTS_PARQUET, SWEEP_FILE
from quantrun.sweeps.results import metric_ids
from quantrun.sweeps.store import CellResult, Checkpoint

BASE: dict[str, Any] = {"symbol": "DEMOUSD", "strategy": "sma_crossover", "timeframe": "15m"}
GRID = ["fast=5:15:5", "slow=30,60"]


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", days=5)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _code(call: Any) -> str:
    with pytest.raises(QuantrunError) as caught:
        call()
    return str(caught.value.code)


# -- the grid ---------------------------------------------------------------------------------


def test_ranges_include_both_ends_and_stay_decimal() -> None:
    assert range_values("5:50:5", 100) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert range_values("60:240:20", 100) == [60, 80, 100, 120, 140, 160, 180, 200, 220, 240]
    assert range_values("0.1:0.3:0.1", 100) == [0.1, 0.2, 0.3]
    assert range_values("1:2:0.4", 100) == [1.0, 1.4, 1.8]
    assert range_values("3:3:1", 100) == [3]
    assert parse_axis("ties=strict,inclusive", 10).values == ["strict", "inclusive"]
    assert parse_axis(" fast = 5, 7 ", 10) == GridAxis(name="fast", values=[5, 7])


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("fast", "SWEEP_GRID_INVALID"),
        ("=5", "SWEEP_GRID_INVALID"),
        ("fast=", "SWEEP_GRID_INVALID"),
        ("fast=5,,6", "SWEEP_GRID_INVALID"),
        ("fast=5:1:1", "SWEEP_RANGE_INVALID"),
        ("fast=1:5:0", "SWEEP_RANGE_INVALID"),
        ("fast=1:5:-1", "SWEEP_RANGE_INVALID"),
        ("fast=1:5", "SWEEP_RANGE_INVALID"),
        ("fast=a:5:1", "SWEEP_RANGE_INVALID"),
        ("fast=1:1e12:1", "LIMIT_SWEEP_CELLS"),
    ],
)
def test_malformed_axes_have_stable_codes(spec: str, code: str) -> None:
    assert _code(lambda: parse_axis(spec, 1000)) == code


def test_grid_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.json"
    path.write_text(
        json.dumps(
            {"fast": [5, 10], "slow": "60:100:20", "ties": {"start": 1, "stop": 2, "step": 1}}
        )
    )
    axes = read_grid_file(path, 100)
    assert [(a.name, a.values) for a in axes] == [
        ("fast", [5, 10]),
        ("slow", [60, 80, 100]),
        ("ties", [1, 2]),
    ]
    path.write_text("[1, 2]")
    assert _code(lambda: read_grid_file(path, 100)) == "SWEEP_GRID_INVALID"
    path.write_text('{"fast": []}')
    assert _code(lambda: read_grid_file(path, 100)) == "SWEEP_GRID_INVALID"
    path.write_text('{"fast": {"start": 1}}')
    assert _code(lambda: read_grid_file(path, 100)) == "SWEEP_RANGE_INVALID"


# -- validation: stable codes, nothing written ------------------------------------------------


@pytest.mark.parametrize(
    ("grid", "extra", "code"),
    [
        (["speed=1,2"], {}, "SWEEP_PARAM_UNKNOWN"),
        (["fast=5,abc"], {}, "SWEEP_VALUE_INVALID"),
        (["fast=9:1:1"], {}, "SWEEP_RANGE_INVALID"),
        (["fast=5,5"], {}, "SWEEP_GRID_INVALID"),
        (["fast=5", "fast=6"], {}, "SWEEP_GRID_INVALID"),
        ([], {}, "SWEEP_GRID_INVALID"),
        (["fast=5,40", "slow=30"], {}, "SWEEP_CELLS_INVALID"),
        (["fast=5"], {"params": {"slow": 30}}, "SWEEP_GRID_INVALID"),
        (["fast=1:200:1", "slow=300:500:1"], {}, "LIMIT_SWEEP_CELLS"),
        (["fast=5"], {"strategy": "nope"}, "STRATEGY_UNKNOWN"),
    ],
)
def test_refused_sweeps_write_nothing(
    demo_csv: Path, settings: Settings, grid: list[str], extra: dict[str, Any], code: str
) -> None:
    fields = BASE | extra
    assert _code(lambda: create_sweep(str(demo_csv), settings, grid=grid, **fields)) == code
    assert written(settings.runs_root) == []


def test_a_bad_dataset_is_refused(settings: Settings) -> None:
    assert (
        _code(lambda: create_sweep([], settings, grid=["fast=5"], dataset="abcdef12", **BASE))
        == "DATASET_NOT_FOUND"
    )
    assert written(settings.runs_root) == []


def test_invalid_cells_are_named_or_skipped(demo_csv: Path, settings: Settings) -> None:
    grid = ["fast=10,30,50", "slow=20,40"]
    with pytest.raises(QuantrunError) as caught:
        create_sweep(str(demo_csv), settings, grid=grid, **BASE)
    refused = caught.value
    assert refused.code == ErrorCode.SWEEP_CELLS_INVALID
    assert refused.extra["invalid_cells"] == 3
    assert [item["params"] for item in refused.extra["invalid"]] == [
        {"fast": 30, "slow": 20},
        {"fast": 50, "slow": 20},
        {"fast": 50, "slow": 40},
    ]
    assert "fast=30 slow=20" in refused.detail
    result = create_sweep(str(demo_csv), settings, grid=grid, skip_invalid=True, **BASE)
    assert [(c["cell"], c["params"]["fast"]) for c in result.cells()] == [(0, 10), (1, 10), (2, 30)]
    assert [s.params for s in result.manifest.skipped] == [
        item["params"] for item in refused.extra["invalid"]
    ]


def test_the_cap_is_a_setting(demo_csv: Path, tmp_path: Path) -> None:
    settings = Settings(runs_root=tmp_path / "rr", max_sweep_cells=5)
    assert (
        _code(lambda: create_sweep(str(demo_csv), settings, grid=GRID, **BASE))
        == "LIMIT_SWEEP_CELLS"
    )
    assert tree(tmp_path / "rr") == []


# -- identity: a cell is its run --------------------------------------------------------------


def test_each_cell_is_the_run_runs_create_makes(
    demo_csv: Path, settings: Settings, tmp_path: Path
) -> None:
    result = create_sweep(str(demo_csv), settings, grid=GRID, **BASE)
    assert result.created and result.computed == 6 and result.resumed == 0
    cells = result.cells()
    assert [(c["params"]["fast"], c["params"]["slow"]) for c in cells] == [
        (5, 30),
        (5, 60),
        (10, 30),
        (10, 60),
        (15, 30),
        (15, 60),
    ]
    # Each cell's run id and every metric are exactly those of the run `runs create` makes.
    other = Settings(runs_root=tmp_path / "separate")
    table = result.results.to_dicts()
    for cell, values in zip(cells, table, strict=True):
        run = create_run(str(demo_csv), other, params=cell["params"], **BASE)
        assert run.run_id == cell["run_id"] == values["run_id"]
        metrics = open_run(run.run_id, other).metrics
        assert {k: m["value"] for k, m in metrics.items()} == {k: values[k] for k in metrics}
    # Nothing written for the cells themselves: no run folder, no registry entry.
    assert not settings.layout.runs.exists()
    # The same sweep again recomputes nothing and rewrites nothing.
    folder = result.path
    before = _files(folder)
    again = create_sweep(str(demo_csv), settings, grid=GRID, **BASE)
    assert (again.sweep_id, again.created, again.computed) == (result.sweep_id, False, 0)
    assert _files(folder) == before
    # Another spelling of the same cells is the same sweep.
    spelled = create_sweep(str(demo_csv), settings, grid=["fast=5,10,15", "slow=30:60:30"], **BASE)
    assert spelled.sweep_id == result.sweep_id and not spelled.created


def test_the_sweep_id_covers_what_decides_the_results(demo_csv: Path, settings: Settings) -> None:
    first = create_sweep(str(demo_csv), settings, grid=GRID, **BASE).sweep_id
    ids = {
        first,
        create_sweep(str(demo_csv), settings, grid=["fast=5:15:5", "slow=30,61"], **BASE).sweep_id,
        create_sweep(
            str(demo_csv), settings, grid=GRID, **(BASE | {"risk": "aggressive"})
        ).sweep_id,
        create_sweep(str(demo_csv), settings, grid=GRID, **(BASE | {"timeframe": "5m"})).sweep_id,
        create_sweep(str(demo_csv), settings, grid=["slow=30,60", "fast=5:15:5"], **BASE).sweep_id,
    }
    assert len(ids) == 5
    assert [s.sweep_id for s in list_sweeps(settings)].count(first) == 1


def test_storage_is_listed_and_verified(demo_csv: Path, settings: Settings) -> None:
    result = create_sweep(str(demo_csv), settings, grid=GRID, **BASE)
    folder = settings.layout.sweep(result.sweep_id)
    assert sorted(p.name for p in folder.iterdir()) == [RESULTS_CSV, RESULTS_PARQUET, SWEEP_FILE]
    manifest = json.loads((folder / SWEEP_FILE).read_text())
    assert manifest["sweep_id"] == result.sweep_id
    assert [c["run_id"] for c in manifest["cells"]] == [c["run_id"] for c in result.cells()]
    assert manifest["request"]["paths"] == [str(demo_csv)]
    assert "params" not in manifest["request"]
    frame = pl.read_parquet(folder / RESULTS_PARQUET)
    assert frame.columns[:4] == ["cell", "fast", "slow", "run_id"]
    assert frame["cell"].to_list() == list(range(6))
    csv_rows = (folder / RESULTS_CSV).read_text().splitlines()
    assert len(csv_rows) == 7 and csv_rows[0].startswith("cell,fast,slow,run_id,total_return")
    assert not settings.layout.sweep_partial(result.sweep_id).exists()
    # The listing is derived: lost, it is rebuilt from the folders.
    settings.layout.sweeps_index.unlink()
    assert [s.sweep_id for s in list_sweeps(settings)] == [result.sweep_id]
    settings.layout.sweeps_index.write_text("{not json")
    assert [s.sweep_id for s in list_sweeps(settings)] == [result.sweep_id]
    # A damaged results file is not trusted: the folder is set aside and the sweep rebuilt.
    (folder / RESULTS_CSV).write_text("tampered\n")
    assert _code(lambda: open_sweep(result.sweep_id, settings)) == "SWEEP_NOT_FOUND"
    rebuilt = create_sweep(str(demo_csv), settings, grid=GRID, **BASE)
    assert rebuilt.created and rebuilt.sweep_id == result.sweep_id


def test_a_checkpoint_survives_a_torn_line(demo_csv: Path, settings: Settings) -> None:
    reference = create_sweep(str(demo_csv), settings, grid=GRID, **BASE)
    ref_files = _files(reference.path)
    other = Settings(runs_root=settings.runs_root.parent / "resumed")
    # Cells 0 and 2 from an earlier attempt, a stale entry and a torn last line.
    rows = reference.results.to_dicts()
    kept = [
        CellResult(rows[k]["cell"], rows[k]["run_id"], {m: rows[k][m] for m in metric_ids()})
        for k in (0, 2)
    ]
    folder = other.layout.sweep_partial(reference.sweep_id)
    folder.mkdir(parents=True)
    stale = CellResult(1, "0" * 64, {}).line()
    torn = b'{"cell": 3, "ru'
    (folder / "cells.jsonl").write_bytes(
        b"".join(r.line() + b"\n" for r in kept) + stale + b"\n" + torn
    )
    assert sorted(Checkpoint(folder).load(reference.results["run_id"].to_list())) == [0, 2]
    resumed = create_sweep(str(demo_csv), other, grid=GRID, **BASE)
    assert (resumed.resumed, resumed.computed) == (2, 4)
    assert _files(resumed.path) == ref_files
    assert not folder.exists()


def test_a_process_pool_gives_the_same_bytes(demo_csv: Path, tmp_path: Path) -> None:
    inline = create_sweep(
        str(demo_csv), Settings(runs_root=tmp_path / "a"), grid=GRID, workers=1, **BASE
    )
    pooled = create_sweep(
        str(demo_csv), Settings(runs_root=tmp_path / "b"), grid=GRID, workers=2, **BASE
    )
    assert pooled.sweep_id == inline.sweep_id
    assert _files(pooled.path) == _files(inline.path)
    # The pool's shared bars file is gone with the checkpoint.
    assert not (tmp_path / "b" / "sweeps" / ".partial" / pooled.sweep_id).exists()


def test_a_dataset_sweep_materialises_like_runs_create(
    demo_csv: Path, settings: Settings, tmp_path: Path
) -> None:
    first = create_run(str(demo_csv), settings, params={"fast": 5, "slow": 30}, **BASE)
    dataset = first.manifest.dataset.dataset_id
    result = create_sweep([], settings, grid=GRID, dataset=dataset[:12], **BASE)
    assert result.cells()[0]["run_id"] == first.run_id
    assert result.manifest.request["dataset"] == dataset
    other = Settings(runs_root=tmp_path / "other")
    ingest_file(str(demo_csv), other, symbol="DEMOUSD")
    twin = create_run([], other, dataset=dataset, params={"fast": 10, "slow": 60}, **BASE)
    (made,) = materialize_cells(result.sweep_id, settings, cells=[3])
    assert made.run_id == twin.run_id and made.created
    assert _files(settings.layout.run(made.run_id)) == _files(other.layout.run(twin.run_id))


# -- the CLI journey ----------------------------------------------------------------------------


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_sweep_show_materialize_run_page(
    demo_csv: Path, runs_root: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from quantrun.web.app import create_app

    root = ["--runs-root", str(runs_root)]
    base = [str(demo_csv), "--symbol", "DEMOUSD", "--strategy", "sma_crossover"]
    made = _cli(
        "sweeps", "create", *base, "--timeframe", "15m", "--grid", "fast=5:15:5",
        "--grid", "slow=30,60", "--risk", "aggressive", "--commission-bps", "5", *root, "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    out = json.loads(made.stdout)
    sweep_id = out["sweep_id"]
    assert [c["cell"] for c in out["cells"]] == list(range(6))
    first = out["cells"][0]
    assert set(first) >= {"params", "run_id", "total_return", "sharpe", "max_drawdown", "trades"}
    assert first["params"] == {"fast": 5, "slow": 30, "ties": "strict"}

    text = _cli("sweeps", "create", *base, "--grid", "fast=5:15:5", "--grid", "slow=30,60",
                "--risk", "aggressive", "--commission-bps", "5", *root)  # fmt: skip
    assert text.exit_code == 0
    assert text.stdout.splitlines()[0] == sweep_id
    assert "already existed (nothing recomputed)" in text.stdout
    assert "6 cell(s)" in text.stderr

    listed = _cli("sweeps", "list", *root, "--json")
    assert [s["sweep_id"] for s in json.loads(listed.stdout)["sweeps"]] == [sweep_id]

    shown = _cli("sweeps", "show", sweep_id[:10], "--sort", "sharpe", "--top", "2", *root, "--json")
    assert shown.exit_code == 0, shown.output
    best = json.loads(shown.stdout)["results"]
    sharpes = sorted((c["sharpe"] for c in out["cells"] if c["sharpe"] is not None), reverse=True)
    assert [c["sharpe"] for c in best] == sharpes[:2]
    assert (
        _cli("sweeps", "show", sweep_id, "--min-trades", "100000", *root, "--json").exit_code == 0
    )
    bad = _cli("sweeps", "show", sweep_id, "--sort", "luck", *root)
    assert bad.exit_code == 2 and "USAGE_INVALID_OPTION" in bad.stderr
    missing = _cli("sweeps", "show", "0" * 64, *root)
    assert missing.exit_code == 3 and "SWEEP_NOT_FOUND" in missing.stderr

    exported = _cli("sweeps", "export", sweep_id, "--csv", *root)
    assert exported.stdout.encode() == (runs_root / "sweeps" / sweep_id / RESULTS_CSV).read_bytes()
    parquet = tmp_path / "r.parquet"
    assert _cli("sweeps", "export", sweep_id, "--parquet", "-o", str(parquet), *root).exit_code == 0
    assert parquet.read_bytes() == (runs_root / "sweeps" / sweep_id / RESULTS_PARQUET).read_bytes()

    cell = best[0]["cell"]
    mat = _cli("sweeps", "materialize", sweep_id, "--cell", str(cell), *root, "--json")
    assert mat.exit_code == 0, mat.output
    (run,) = json.loads(mat.stdout)["runs"]
    assert run == {"cell": cell, "run_id": best[0]["run_id"], "created": True}
    again = _cli("sweeps", "materialize", sweep_id, "--top", "1", "--by", "sharpe", *root, "--json")
    assert json.loads(again.stdout)["runs"][0] | {"created": False} == run | {"created": False}
    assert json.loads(again.stdout)["runs"][0]["created"] is False

    # Byte-identical to `runs create` with the cell's parameters.
    params = out["cells"][cell]["params"]
    other = tmp_path / "runs-create"
    created = _cli(
        "runs", "create", *base, "--risk", "aggressive", "--commission-bps", "5",
        "--param", f"fast={params['fast']}", "--param", f"slow={params['slow']}",
        "--runs-root", str(other), "--json",
    )  # fmt: skip
    assert json.loads(created.stdout)["run_id"] == run["run_id"]
    assert _files(runs_root / "runs" / run["run_id"]) == _files(other / "runs" / run["run_id"])

    # The run is registered and its page opens.
    with TestClient(
        create_app(Settings(runs_root=runs_root), start_worker=False),
        base_url="http://127.0.0.1",
    ) as client:
        page = client.get(f"/runs/{run['run_id']}")
        assert page.status_code == 200 and run["run_id"] in page.text


def test_cli_refusals_print_codes(demo_csv: Path, runs_root: Path) -> None:
    base = [str(demo_csv), "--symbol", "DEMOUSD", "--strategy", "sma_crossover"]
    root = ["--runs-root", str(runs_root)]
    invalid = _cli("sweeps", "create", *base, "--grid", "fast=10,40", "--grid", "slow=30", *root)
    assert invalid.exit_code == 2
    assert "error[SWEEP_CELLS_INVALID]" in invalid.stderr and "fast=40 slow=30" in invalid.stderr
    assert "--skip-invalid" in invalid.stderr
    param = _cli("sweeps", "create", *base, "--param", "fast=5", "--grid", "slow=30", *root)
    assert param.exit_code == 2 and "USAGE_INVALID_OPTION" in param.stderr
    executor = _cli("sweeps", "create", *base, "--grid", "fast=5", "--executor", "spark", *root)
    assert executor.exit_code == 2 and "USAGE_INVALID_OPTION" in executor.stderr
    no_choice = _cli("sweeps", "materialize", "abcdef12", *root)
    assert no_choice.exit_code == 2
    assert written(runs_root) == []


def test_runs_compare_takes_materialised_sweep_cells(demo_csv: Path, settings: Settings) -> None:
    from quantrun.api import compare_runs

    result = create_sweep(str(demo_csv), settings, grid=GRID, **BASE)
    sweep_id = result.sweep_id
    cells = result.cells()
    with pytest.raises(QuantrunError) as caught:
        compare_runs([f"{sweep_id[:10]}:0", f"{sweep_id}:1"], settings)
    assert caught.value.code == ErrorCode.RUN_NOT_FOUND
    assert f"sweeps materialize {sweep_id[:12]} --cell 0" in caught.value.hint
    materialize_cells(sweep_id, settings, cells=[0, 1])
    comparison = compare_runs([f"{sweep_id[:10]}:0", f"{sweep_id}:1"], settings)
    assert [r.run_id for r in comparison.runs] == [cells[0]["run_id"], cells[1]["run_id"]]
    assert [f.path for f in comparison.differing_fields] == ["strategy.params.slow"]
    assert _code(lambda: compare_runs([f"{sweep_id}:0", f"{sweep_id}:99"], settings)) == (
        "SWEEP_NOT_FOUND"
    )


def test_materialise_reads_the_stored_dataset_wherever_the_files_went(
    tmp_path: Path, settings: Settings
) -> None:
    import shutil

    from quantrun.data.demo import demo_bars

    csv = write_demo_csv(tmp_path / "moving" / "demo.csv", days=3)
    label = str(csv)
    reference = Settings(runs_root=tmp_path / "reference")
    twin = create_run(label, reference, params={"fast": 10, "slow": 30}, **BASE)
    sweep = create_sweep(label, settings, grid=GRID, **BASE)
    moved = csv.rename(tmp_path / "elsewhere.csv")
    (made,) = materialize_cells(sweep.sweep_id, settings, cells=[2])
    assert made.run_id == twin.run_id and made.created
    assert _files(settings.layout.run(made.run_id)) == _files(twin.path)

    # Without the stored dataset, the files are read again: gone, INPUT_NOT_FOUND; back, the
    # same run; changed, SWEEP_INPUT_CHANGED and nothing written.
    shutil.rmtree(settings.layout.dataset(sweep.manifest.dataset.dataset_id))
    assert _code(lambda: materialize_cells(sweep.sweep_id, settings, cells=[3])) == (
        "INPUT_NOT_FOUND"
    )
    moved.rename(csv)
    (again,) = materialize_cells(sweep.sweep_id, settings, cells=[3])
    assert again.created
    shutil.rmtree(settings.layout.dataset(sweep.manifest.dataset.dataset_id))
    bars = demo_bars(days=3, seed=7)
    assert bars.height > 0
    write_demo_csv(csv, days=3, seed=7)
    runs_before = sorted(p.name for p in settings.layout.runs.iterdir())
    assert _code(lambda: materialize_cells(sweep.sweep_id, settings, cells=[4])) == (
        "SWEEP_INPUT_CHANGED"
    )
    assert sorted(p.name for p in settings.layout.runs.iterdir()) == runs_before


def test_a_users_strategy_sweeps_in_worker_processes(demo_csv: Path, tmp_path: Path) -> None:
    """The user's code travels with the tasks (by content): the pool's workers load it, and
    every cell is still the run `runs create` makes with that strategy."""
    from quantrun.api import add_strategy

    example = Path(__file__).resolve().parents[1] / "examples" / "strategies" / "above_sma.py"
    fields = BASE | {"strategy": "above_sma"}
    made = {}
    for name, workers in (("inline", 1), ("pool", 2)):
        settings = Settings(runs_root=tmp_path / name)
        add_strategy(str(example), settings)
        made[name] = create_sweep(
            str(demo_csv), settings, grid=["period=10:40:10"], workers=workers, **fields
        )
    assert made["pool"].sweep_id == made["inline"].sweep_id
    assert _files(made["pool"].path) == _files(made["inline"].path)
    run = create_run(
        str(demo_csv), Settings(runs_root=tmp_path / "pool"), params={"period": 20}, **fields
    )
    assert run.run_id == made["pool"].cells()[1]["run_id"]


def test_the_kill_switch_stops_a_sweep_before_any_work(demo_csv: Path, settings: Settings) -> None:
    from quantrun.api import set_killswitch

    set_killswitch(True, "maintenance", settings, actor="test")
    assert _code(lambda: create_sweep(str(demo_csv), settings, grid=GRID, **BASE)) == (
        "KILL_SWITCH_ENGAGED"
    )
    assert not settings.layout.sweeps.exists() and not settings.layout.datasets.exists()
    set_killswitch(False, "done", settings, actor="test")
    assert create_sweep(str(demo_csv), settings, grid=GRID, **BASE).created

"""The dataset as an axis of a sweep (issue 15, D47): several files or symbols, each cell the
run ``runs create`` makes on its own dataset, validation before anything is written, the old
one-dataset sweeps unchanged (id and bytes), the local pool and the web on two datasets.

Real data: two months of Binance 1-minute klines from ``../shared/data/real`` (skipped with a
reason when that folder is absent)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

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
from quantrun.errors import QuantrunError
from quantrun.settings import Settings
from quantrun.web.app import create_app

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
LINK = REAL / "LINKUSDT-1m-2023-02.csv"
DOT = REAL / "DOTUSDT-1m-2025-11.csv"
LTC = REAL / "LTCUSDT-1m-2026-02.csv"
pytestmark = pytest.mark.skipif(not LINK.is_file(), reason="../shared/data/real is not here")

BASE: dict[str, Any] = {"strategy": "sma_crossover", "timeframe": "15m"}
GRID = ["fast=5,10", "slow=30,60"]
#: The one-dataset sweep below, made (and copied to tests/fixtures/sweep_v1) before the
#: dataset axis existed: its id and its results' bytes must not change.
V1_SWEEP_ID = "3f01d6ea915a28b0bfe43c9a2a8ca23a6d863b021aec0fc1e12acfe5af3374fa"
V1_FIXTURE = REPO / "tests" / "fixtures" / "sweep_v1" / V1_SWEEP_ID
DOT_DATASET = {"symbol": "DOTUSDT", "paths": [str(DOT)]}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _code(call: Any) -> str:
    with pytest.raises(QuantrunError) as caught:
        call()
    return str(caught.value.code)


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _two(settings: Settings, **extra: Any) -> Any:
    return create_sweep(
        str(LINK), settings, grid=GRID, symbol="LINKUSDT", datasets=[DOT_DATASET], **BASE | extra
    )


# -- a sweep of one dataset is what it always was ------------------------------------------------


def test_a_one_dataset_sweep_keeps_its_id_and_bytes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the fixture records its input as ../shared/data/real/...
    made = create_sweep(
        "../shared/data/real/LINKUSDT-1m-2023-02.csv",
        settings,
        grid=GRID,
        symbol="LINKUSDT",
        workers=1,
        resample_rules=1,  # the fixture was made before resampling rules 2 (D52)
        **BASE,
    )
    assert made.sweep_id == V1_SWEEP_ID and made.manifest.schema_version == 1
    old = _files(V1_FIXTURE)
    new = _files(made.path)
    assert new["results.csv"] == old["results.csv"]
    assert new["results.parquet"] == old["results.parquet"]
    # sweep.json byte for byte but for the library versions it records (they move with the
    # lock file; the id does not cover them).
    ours, theirs = json.loads(new["sweep.json"]), json.loads(old["sweep.json"])
    assert ours.pop("versions")["engine_version"] == theirs.pop("versions")["engine_version"]
    assert ours == theirs
    assert "symbol" not in made.results.columns and "datasets" not in ours


def test_a_sweep_stored_before_the_axis_lists_shows_exports_materialises(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    shutil.copytree(V1_FIXTURE, settings.layout.sweep(V1_SWEEP_ID))
    (listed,) = list_sweeps(settings)
    assert (listed.sweep_id, listed.symbol, listed.cells) == (V1_SWEEP_ID, "LINKUSDT", 4)
    view = open_sweep(V1_SWEEP_ID[:10], settings)
    rows = view.rows(by="sharpe")
    assert {r["symbol"] for r in rows} == {"LINKUSDT"} and len(rows) == 4
    assert view.summary()["datasets"][0]["symbol"] == "LINKUSDT"
    assert view.file_bytes("csv") == (V1_FIXTURE / "results.csv").read_bytes()
    shown = _cli("sweeps", "show", V1_SWEEP_ID[:12], "--runs-root", str(settings.runs_root))
    assert shown.exit_code == 0 and "LINKUSDT" in shown.output
    (made,) = materialize_cells(V1_SWEEP_ID, settings, cells=[1])
    assert made.run_id == view.manifest.cells[1].run_id


# -- two datasets ----------------------------------------------------------------------------------


def test_each_cell_is_the_run_runs_create_makes_on_its_dataset(
    settings: Settings, tmp_path: Path
) -> None:
    result = _two(settings, workers=1)
    manifest = result.manifest
    assert manifest.schema_version == 2 and manifest.identity.schema_version == 2
    assert manifest.symbols == ["LINKUSDT", "DOTUSDT"]
    cells = result.cells()
    # The dataset axis is the outermost: every LINKUSDT cell, then every DOTUSDT cell.
    assert [(c["symbol"], c["params"]["fast"], c["params"]["slow"]) for c in cells] == [
        (symbol, fast, slow)
        for symbol in ("LINKUSDT", "DOTUSDT")
        for fast in (5, 10)
        for slow in (30, 60)
    ]
    ids = [d.dataset.dataset_id for d in manifest.inputs()]
    assert [c["dataset_id"] for c in cells] == [ids[0]] * 4 + [ids[1]] * 4
    assert manifest.identity.datasets == ids
    assert [c.symbol for c in manifest.identity.cells] == ["LINKUSDT"] * 4 + ["DOTUSDT"] * 4
    table = result.results
    assert table.columns[:5] == ["cell", "symbol", "dataset_id", "fast", "slow"]
    assert pl.read_csv(result.path / "results.csv")["symbol"].to_list() == [
        c["symbol"] for c in cells
    ]

    # Cells of both datasets against `runs create` (its CLI) in another RUNS_ROOT: the same
    # run id and every metric the same.
    other = tmp_path / "other"
    for number in (1, 6):
        cell = cells[number]
        path = LINK if cell["symbol"] == "LINKUSDT" else DOT
        made = _cli(
            "runs", "create", str(path), "--symbol", cell["symbol"], "--strategy",
            "sma_crossover", "--timeframe", "15m", "--param", f"fast={cell['params']['fast']}",
            "--param", f"slow={cell['params']['slow']}", "--runs-root", str(other), "--json",
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        run_id = json.loads(made.output)["run_id"]
        assert run_id == cell["run_id"]
        metrics = open_run(run_id, Settings(runs_root=other)).metrics
        row = table.row(number, named=True)
        assert {k: m["value"] for k, m in metrics.items()} == {k: row[k] for k in metrics}

    # Materialising a DOTUSDT cell writes the run `runs create` writes, byte for byte.
    (done,) = materialize_cells(result.sweep_id, settings, cells=[6])
    assert done.created and done.run_id == cells[6]["run_id"]
    assert _files(settings.layout.run(done.run_id)) == _files(
        Settings(runs_root=other).layout.run(done.run_id)
    )

    # Again: nothing recomputed, nothing rewritten; the order of the datasets is the sweep's.
    before = _files(result.path)
    again = _two(settings)
    assert (again.sweep_id, again.created, again.computed) == (result.sweep_id, False, 0)
    assert _files(result.path) == before
    swapped = create_sweep(
        str(DOT),
        Settings(runs_root=tmp_path / "swapped"),
        grid=GRID,
        symbol="DOTUSDT",
        datasets=[{"symbol": "LINKUSDT", "paths": [str(LINK)]}],
        **BASE,
    )
    assert swapped.sweep_id != result.sweep_id
    assert sorted(c["run_id"] for c in swapped.cells()) == sorted(c["run_id"] for c in cells)


def test_the_cli_takes_datasets_and_a_pool_gives_the_same_bytes(tmp_path: Path) -> None:
    inline = _two(Settings(runs_root=tmp_path / "a"), workers=1)
    root = tmp_path / "b"
    made = _cli(
        "sweeps", "create", "--data", f"LINKUSDT={LINK}", "--data", f"DOTUSDT={DOT}",
        "--strategy", "sma_crossover", "--timeframe", "15m", "--grid", "fast=5,10",
        "--grid", "slow=30,60", "--workers", "2", "--runs-root", str(root), "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    out = json.loads(made.output)
    assert out["sweep_id"] == inline.sweep_id
    assert [
        {k: c[k] for k in ("params", "run_id", "symbol", "total_return", "trades")}
        for c in out["cells"]
    ] == [
        {k: c[k] for k in ("params", "run_id", "symbol", "total_return", "trades")}
        for c in inline.cells()
    ]
    assert [d["symbol"] for d in out["datasets"]] == ["LINKUSDT", "DOTUSDT"]
    pooled = Settings(runs_root=root).layout.sweep(out["sweep_id"])
    assert _files(pooled) == _files(inline.path)
    # The FILE argument with --symbol is the first dataset; --data adds more: the same sweep.
    mixed = _cli(
        "sweeps", "create", str(LINK), "--symbol", "LINKUSDT", "--data", f"DOTUSDT={DOT}",
        "--strategy", "sma_crossover", "--timeframe", "15m", "--grid", "fast=5,10",
        "--grid", "slow=30,60", "--runs-root", str(root), "--json",
    )  # fmt: skip
    assert json.loads(mixed.output)["sweep_id"] == inline.sweep_id
    shown = _cli("sweeps", "show", inline.sweep_id[:12], "--runs-root", str(root))
    assert "DOTUSDT" in shown.output and "LINKUSDT" in shown.output
    listed = _cli("sweeps", "list", "--runs-root", str(root), "--json")
    assert json.loads(listed.output)["sweeps"][0]["symbol"] == "LINKUSDT,DOTUSDT"


def test_stored_datasets_make_the_axis_too(settings: Settings, tmp_path: Path) -> None:
    link = ingest_file(str(LINK), settings, symbol="LINKUSDT").dataset_id
    dot = ingest_file(str(DOT), settings, symbol="DOTUSDT").dataset_id
    from_files = _two(Settings(runs_root=tmp_path / "files"))
    stored = create_sweep(
        [],
        settings,
        grid=GRID,
        dataset=link[:12],
        symbol="LINKUSDT",
        datasets=[{"symbol": "DOTUSDT", "dataset": dot[:10]}],
        **BASE,
    )
    # The same datasets and cells: the same runs, the same sweep id.
    assert stored.sweep_id == from_files.sweep_id
    assert stored.manifest.inputs()[1].request == {"symbol": "DOTUSDT", "paths": [], "dataset": dot}
    (done,) = materialize_cells(stored.sweep_id, settings, cells=[7])
    other = Settings(runs_root=tmp_path / "twin")
    ingest_file(str(DOT), other, symbol="DOTUSDT")
    params = {"fast": 10, "slow": 60}
    twin = create_run([], other, dataset=dot, symbol="DOTUSDT", params=params, **BASE)
    assert done.run_id == twin.run_id == stored.cells()[7]["run_id"]
    assert _files(settings.layout.run(done.run_id)) == _files(other.layout.run(twin.run_id))


# -- refused before anything is written ------------------------------------------------------


def test_bad_axes_are_refused_with_stable_codes_and_write_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    root = settings.runs_root

    def sweep(*more: dict[str, Any], **extra: Any) -> Any:
        fields = {"symbol": "LINKUSDT"} | BASE | extra
        return lambda: create_sweep(str(LINK), settings, grid=GRID, datasets=list(more), **fields)

    # The same input twice; the same bars under another symbol (found when read).
    assert _code(sweep({"symbol": "LINKUSDT", "paths": [str(LINK)]})) == "SWEEP_DATASET_DUPLICATE"
    assert written(root) == []
    assert _code(sweep({"symbol": "DOTUSDT", "paths": [str(LINK)]})) == "SWEEP_DATASET_DUPLICATE"
    assert written(root) == []
    # One bad file among several: its own ingest code, naming its dataset; nothing stored,
    # not even the good datasets read before it.
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time,open,high,low,close,volume\n1,2,3,x,5,6\n")
    with pytest.raises(QuantrunError) as caught:
        sweep(DOT_DATASET, {"symbol": "LTCUSDT", "paths": [str(bad)]})()
    alone = Settings(runs_root=tmp_path / "alone")
    fields = BASE | {"symbol": "LTCUSDT", "params": {"fast": 5, "slow": 30}}
    assert caught.value.code == _code(lambda: create_run(str(bad), alone, **fields))
    assert "dataset 3 (LTCUSDT=" in caught.value.detail
    assert caught.value.extra["dataset"] == 2
    assert written(root) == []
    # No input, or both files and a dataset, in an entry: the run request's own rule.
    assert _code(sweep({"symbol": "DOTUSDT"})) == "USAGE_INVALID_OPTION"
    assert _code(sweep({"symbol": "DOTUSDT", "paths": ["x.csv"], "dataset": "abcdef12"})) == (
        "USAGE_INVALID_OPTION"
    )
    assert _code(sweep({"symbol": "DOTUSDT", "path": [str(DOT)]})) == "USAGE_INVALID_OPTION"
    # The cap counts every dataset's cells.
    capped = settings.model_copy(update={"max_sweep_cells": 6})
    assert (
        _code(
            lambda: create_sweep(
                str(LINK), capped, grid=GRID, symbol="LINKUSDT", datasets=[DOT_DATASET], **BASE
            )
        )
        == "LIMIT_SWEEP_CELLS"
    )
    assert written(root) == []

    # A stored dataset named with another symbol.
    dot = ingest_file(str(DOT), settings, symbol="DOTUSDT").dataset_id
    before = tree(root)
    assert _code(sweep({"symbol": "LTCUSDT", "dataset": dot})) == "SWEEP_DATASET_MISMATCH"
    assert _code(sweep({"symbol": "DOTUSDT", "dataset": "abcdef12"})) == "DATASET_NOT_FOUND"
    assert tree(root) == before


def test_cli_refusals(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    common = ["--strategy", "sma_crossover", "--grid", "fast=5", "--grid", "slow=30"]
    both = _cli(
        "sweeps", "create", "--symbol", "LINKUSDT", "--data", f"LINKUSDT={LINK}",
        "--data", f"DOTUSDT={DOT}", *common, "--runs-root", root,
    )  # fmt: skip
    assert both.exit_code == 2 and "USAGE_INVALID_OPTION" in both.output
    malformed = _cli("sweeps", "create", "--data", str(LINK), *common, "--runs-root", root)
    assert malformed.exit_code == 2 and "--data" in malformed.output
    nothing = _cli("sweeps", "create", *common, "--runs-root", root)
    assert nothing.exit_code == 2 and "USAGE_INVALID_OPTION" in nothing.output
    twice = _cli(
        "sweeps", "create", "--data", f"LINKUSDT={LINK}", "--data", f"LINKUSDT={LINK}",
        *common, "--runs-root", root,
    )  # fmt: skip
    assert twice.exit_code == 2 and "SWEEP_DATASET_DUPLICATE" in twice.output
    assert tree(tmp_path / "root") == []


# -- the web ------------------------------------------------------------------------------------


def _wait(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_the_web_posts_and_shows_a_dataset_axis(settings: Settings, tmp_path: Path) -> None:
    on = settings.model_copy(update={"enable_run_creation": True, "rate_limit_per_minute": 0})
    expected = _two(Settings(runs_root=tmp_path / "cli"))
    dot = ingest_file(str(DOT), on, symbol="DOTUSDT").dataset_id
    web = {"X-Quantrun-Client": "web"}
    fields = {"symbol": "LINKUSDT", "strategy": "sma_crossover", "timeframe": "15m"}
    grid = '{"fast": [5, 10], "slow": [30, 60]}'
    app = create_app(on, start_worker=True)
    with TestClient(app, base_url="http://127.0.0.1") as client:

        def post(datasets: str) -> Any:
            files = {"file": (LINK.name, LINK.read_bytes(), "text/csv")}
            data = fields | {"grid": grid, "datasets": datasets}
            return client.post("/api/v1/sweeps", headers=web, files=files, data=data)

        refused = post('[{"symbol": "DOTUSDT", "paths": ["/etc/passwd"]}]')
        assert refused.status_code == 400 and refused.json()["code"] == "USAGE_INVALID_OPTION"
        queued = post(json.dumps([{"symbol": "DOTUSDT", "dataset": dot}]))
        assert queued.status_code == 202, queued.text
        job = _wait(client, queued.json()["job"]["job_id"])
        assert job["state"] == "succeeded", job
        assert job["sweep_id"] == expected.sweep_id and job["cells_total"] == 8

        sweep_id = expected.sweep_id
        first = client.get(f"/api/v1/sweeps/{sweep_id}").json()
        assert first["choice"]["dataset"] == "0"
        assert [d["symbol"] for d in first["options"]["datasets"]] == ["LINKUSDT", "DOTUSDT"]
        assert {r["symbol"] for r in first["table"]["rows"]} == {"LINKUSDT"}
        second = client.get(f"/api/v1/sweeps/{sweep_id}?dataset=1&sort=cell").json()
        assert [r["cell"] for r in second["table"]["rows"]] == [4, 5, 6, 7]
        flat = [c for row in second["heatmap"]["cells"] for c in row]
        assert sorted(flat) == [4, 5, 6, 7]
        every = client.get(f"/api/v1/sweeps/{sweep_id}?dataset=all").json()
        assert every["table"]["matching"] == 8
        bad = client.get(f"/api/v1/sweeps/{sweep_id}?dataset=2")
        assert bad.status_code == 400 and bad.json()["code"] == "USAGE_INVALID_OPTION"
        page = client.get(f"/sweeps/{sweep_id}?dataset=1").text
        assert 'id="choice-dataset"' in page and '<th scope="col">Symbol</th>' in page
        assert page.count("<td>DOTUSDT</td>") == 4

"""Sweeps on the web, in process: the API, the pages and their JSON twins, materialising a cell
under the creation policy, and POST /api/v1/sweeps through a job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantrun.api import create_sweep, open_sweep
from quantrun.data.demo import write_demo_csv
from quantrun.settings import Settings
from quantrun.web.app import create_app

BASE: dict[str, Any] = {"symbol": "DEMOUSD", "strategy": "sma_crossover", "timeframe": "15m"}
GRID = ["fast=5:15:5", "slow=30,60"]
WEB = {"X-Quantrun-Client": "web"}


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", days=5)


def _client(settings: Settings, *, worker: bool = False) -> TestClient:
    return TestClient(create_app(settings, start_worker=worker), base_url="http://127.0.0.1")


@pytest.fixture
def made(demo_csv: Path, settings: Settings) -> Iterator[tuple[Settings, str]]:
    sweep = create_sweep(str(demo_csv), settings, grid=GRID, **BASE)
    yield settings, sweep.sweep_id


def test_listing_detail_and_twins(made: tuple[Settings, str]) -> None:
    settings, sweep_id = made
    with _client(settings) as client:
        listed = client.get("/api/v1/sweeps").json()
        assert [s["sweep_id"] for s in listed["sweeps"]] == [sweep_id]
        assert listed == client.get("/sweeps?format=json").json()
        page = client.get("/sweeps")
        assert page.status_code == 200 and sweep_id[:12] in page.text

        api = client.get(f"/api/v1/sweeps/{sweep_id[:10]}?metric=total_return&agg=median")
        assert api.status_code == 200
        view = api.json()
        twin = client.get(f"/sweeps/{sweep_id}?metric=total_return&agg=median&format=json")
        assert twin.json() == view
        assert view["choice"] | {"lower_is_better": False} == {
            "metric": "total_return",
            "x": "fast",
            "y": "slow",
            "agg": "median",
            "sort": "total_return",
            "min_trades": None,
            "lower_is_better": False,
        }
        heatmap = view["heatmap"]
        assert heatmap["x_values"] == [5, 10, 15] and heatmap["y_values"] == [30, 60]
        results = open_sweep(sweep_id, settings).results
        by_cell = {r["cell"]: r for r in results.to_dicts()}
        for j, row in enumerate(heatmap["cells"]):
            for i, cell in enumerate(row):
                assert heatmap["z"][j][i] == by_cell[cell]["total_return"]
        returns = [r["total_return"] for r in view["table"]["rows"]]
        assert returns == sorted(returns, reverse=True)
        line = client.get(f"/api/v1/sweeps/{sweep_id}?y=&x=slow").json()
        assert line["heatmap"] is None and line["line"]["x_values"] == [30, 60]
        html = client.get(f"/sweeps/{sweep_id}")
        assert 'id="sweep-heatmap"' in html.text and "plotly.min.js" in html.text

        for query, code in (
            ("metric=luck", "USAGE_INVALID_OPTION"),
            ("x=speed", "USAGE_INVALID_OPTION"),
            ("agg=mean", "USAGE_INVALID_OPTION"),
            ("min_trades=-1", "USAGE_INVALID_OPTION"),
        ):
            refused = client.get(f"/api/v1/sweeps/{sweep_id}?{query}")
            assert refused.status_code == 400 and refused.json()["code"] == code, query
        missing = client.get(f"/api/v1/sweeps/{'0' * 64}")
        assert missing.status_code == 404 and missing.json()["code"] == "SWEEP_NOT_FOUND"

        csv = client.get(f"/api/v1/sweeps/{sweep_id}/results.csv")
        assert csv.content == (settings.layout.sweep(sweep_id) / "results.csv").read_bytes()
        assert client.get(f"/api/v1/sweeps/{sweep_id}/results.xlsx").status_code == 400


def test_opening_a_cell_runs_a_job_under_the_creation_policy(made: tuple[Settings, str]) -> None:
    settings, sweep_id = made
    run_id = open_sweep(sweep_id, settings).cell(2).run_id
    with _client(settings) as client:  # creation off
        refused = client.post(f"/api/v1/sweeps/{sweep_id}/cells/2/run", headers=WEB)
        assert refused.status_code == 403 and refused.json()["code"] == "RUN_CREATION_DISABLED"
        assert not settings.layout.run(run_id).exists() and not settings.layout.jobs.exists()
    on = settings.model_copy(update={"enable_run_creation": True, "rate_limit_per_minute": 0})
    with _client(on, worker=True) as client:
        queued = client.post(f"/api/v1/sweeps/{sweep_id}/cells/2/run", headers=WEB)
        # Not written inside the request: 202 and the job that writes it.
        assert queued.status_code == 202, queued.text
        body = queued.json()
        job_id = body["job"]["job_id"]
        assert body | {"job": None} == {
            "sweep_id": sweep_id,
            "cells": [2],
            "run_ids": [run_id],
            "cell": 2,
            "run_id": run_id,
            "created": None,
            "job": None,
            "url": f"/jobs/{job_id}",
        }
        assert body["job"]["kind"] == "materialize" and body["job"]["cells"] == [2]
        page = client.get(f"/jobs/{job_id}")
        assert "Writing the run of sweep cell 2" in page.text
        assert f'href="/sweeps/{sweep_id}"' in page.text
        job = _wait(client, job_id)
        assert job["state"] == "succeeded", job
        assert job["run_id"] == run_id and job["run_ids"] == [run_id] and job["created"] is True
        assert job["run_url"] == f"/runs/{run_id}" and job["compare_url"] is None
        assert 'id="job-run-link"' in client.get(f"/jobs/{job_id}").text
        assert client.get(f"/runs/{run_id}").status_code == 200
        # Written: the run at once, no job.
        done = client.post(f"/api/v1/sweeps/{sweep_id}/cells/2/run", headers=WEB)
        assert done.status_code == 200
        assert done.json() | {"job": "-"} == body | {
            "created": False,
            "job": "-",
            "url": f"/runs/{run_id}",
        }
        outside = client.post(f"/api/v1/sweeps/{sweep_id}/cells/6/run", headers=WEB)
        assert outside.status_code == 404 and outside.json()["code"] == "SWEEP_NOT_FOUND"
    with _client(settings) as client:  # off again: a written cell still opens
        again = client.post(f"/api/v1/sweeps/{sweep_id}/cells/2/run", headers=WEB)
        assert again.status_code == 200 and again.json()["created"] is False
        row = next(
            r
            for r in client.get(f"/api/v1/sweeps/{sweep_id}?sort=cell").json()["table"]["rows"]
            if r["cell"] == 2
        )
        assert row["materialized"] is True and row["ref"] == f"{sweep_id}:2"


def test_comparing_cells_writes_the_missing_runs_then_compares(
    made: tuple[Settings, str],
) -> None:
    settings, sweep_id = made
    view = open_sweep(sweep_id, settings)
    on = settings.model_copy(update={"enable_run_creation": True, "rate_limit_per_minute": 0})
    url = f"/api/v1/sweeps/{sweep_id}/runs"
    with _client(on, worker=True) as client:
        for cells, code in (
            ("", "USAGE_INVALID_OPTION"),
            ("1,x", "USAGE_INVALID_OPTION"),
            ("1,1", "USAGE_INVALID_OPTION"),
            (f"{'0' * 12}:1,2", "USAGE_INVALID_OPTION"),
            ("1,9", "SWEEP_NOT_FOUND"),
        ):
            refused = client.post(url, params={"cells": cells}, headers=WEB)
            assert refused.json()["code"] == code, cells
        two = on.model_copy(update={"max_compare_runs": 2})
        with _client(two) as small:
            over = small.post(url, params={"cells": "0,1,2"}, headers=WEB)
            assert over.status_code == 400 and over.json()["code"] == "LIMIT_COMPARE_RUNS"
        assert not on.layout.jobs.exists()

        # Cell 4 then cell 1 (as ticked, SWEEP_ID:K as the page sends them): a job writes
        # both, and its page leads to their comparison in that order.
        refs = f"{sweep_id}:4,{sweep_id[:12]}:1"
        queued = client.post(url, params={"cells": refs}, headers=WEB)
        assert queued.status_code == 202, queued.text
        body = queued.json()
        assert body["cells"] == [4, 1]
        assert body["run_ids"] == [view.cell(4).run_id, view.cell(1).run_id]
        job = _wait(client, body["job"]["job_id"])
        assert job["state"] == "succeeded", job
        compare = f"/compare?runs={sweep_id}:4,{sweep_id}:1"
        assert job["compare_url"] == compare and job["run_ids"] == body["run_ids"]
        assert 'id="job-compare-link"' in client.get(body["url"]).text
        shown = client.get(compare)
        assert shown.status_code == 200, shown.text
        assert [r["run_id"] for r in client.get(compare + "&format=json").json()["runs"]] == (
            body["run_ids"]
        )
        # Written now: straight to the comparison.
        again = client.post(url, params={"cells": "4,1"}, headers=WEB)
        assert again.status_code == 200 and again.json()["url"] == compare


def _wait(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_post_a_sweep_runs_it_as_a_job(demo_csv: Path, settings: Settings, tmp_path: Path) -> None:
    on = settings.model_copy(update={"enable_run_creation": True, "rate_limit_per_minute": 0})
    content = demo_csv.read_bytes()
    fields = BASE | {"risk": "moderate"}
    grid = '{"fast": "5:15:5", "slow": [30, 60]}'
    expected = create_sweep(str(demo_csv), Settings(runs_root=tmp_path / "cli"), grid=GRID, **BASE)
    with _client(on, worker=True) as client:

        def post(data: dict[str, Any], file: bool = True) -> Any:
            files = {"file": ("demo.csv", content, "text/csv")} if file else None
            return client.post("/api/v1/sweeps", headers=WEB, files=files, data=data)

        refused = post(fields | {"grid": '{"fast": [5, 40], "slow": [30]}'})
        assert refused.status_code == 400 and refused.json()["code"] == "SWEEP_CELLS_INVALID"
        bad_grid = post(fields | {"grid": '{"fast": "9:1:1"}'})
        assert bad_grid.json()["code"] == "SWEEP_RANGE_INVALID"
        not_json = post(fields | {"grid": "fast=5"})
        assert not_json.json()["code"] == "SWEEP_GRID_INVALID"
        assert not on.layout.uploads.exists() and not on.layout.jobs.exists()

        queued = post(fields | {"grid": grid})
        assert queued.status_code == 202, queued.text
        job_id = queued.json()["job"]["job_id"]
        assert queued.json()["job"]["kind"] == "sweep"
        page = client.get(f"/jobs/{job_id}")
        assert "Creating a sweep" in page.text and 'id="job-cells"' in page.text
        job = _wait(client, job_id)
        assert job["state"] == "succeeded", job
        assert job["sweep_id"] == expected.sweep_id
        assert (job["cells_done"], job["cells_total"]) == (6, 6)
        # The estimate made before the cells were computed, measured, and the time left.
        estimate = job["estimate"]
        assert estimate["seconds"] > 0 and estimate["per_cell"] > 0, estimate
        assert (estimate["cells"], estimate["measured_cell"]) == (4, 1)
        assert estimate["seconds"] == pytest.approx(4 * estimate["per_cell"] / estimate["workers"])
        assert job["eta_seconds"] == 0.0
        finished = client.get(f"/jobs/{job_id}").text
        assert 'id="job-estimate"' in finished and estimate["basis"] in finished
        assert job["sweep_url"] == f"/sweeps/{expected.sweep_id}"
        ours = on.layout.sweep(expected.sweep_id)
        assert (ours / "results.parquet").read_bytes() == (
            expected.path / "results.parquet"
        ).read_bytes()
        manifest = open_sweep(expected.sweep_id, on).manifest
        assert manifest.request["paths"] == ["demo.csv"]  # the upload under its file name
        assert 'id="job-sweep-link"' in client.get(f"/jobs/{job_id}").text

        again = post(fields | {"grid": grid})
        assert again.status_code == 200 and again.json()["sweep_id"] == expected.sweep_id

        # A stored dataset instead of a file.
        dataset = manifest.dataset.dataset_id
        by_id = post(
            fields | {"grid": '{"fast": [5], "slow": [30, 60]}', "dataset": dataset}, False
        )
        assert by_id.status_code == 202, by_id.text
        done = _wait(client, by_id.json()["job"]["job_id"])
        assert done["state"] == "succeeded", done
        first = open_sweep(done["sweep_id"], on).cell(0).run_id
        assert first == expected.cells()[0]["run_id"]

    off = settings.model_copy(update={"enable_run_creation": False})
    with _client(off) as client:
        blocked = client.post(
            "/api/v1/sweeps",
            headers=WEB,
            files={"file": ("demo.csv", content, "text/csv")},
            data=fields | {"grid": grid},
        )
        assert blocked.status_code == 403 and blocked.json()["code"] == "RUN_CREATION_DISABLED"

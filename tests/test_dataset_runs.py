"""Runs from a stored dataset (`runs create --dataset ID`, `dataset` in the API and the form):
the same run id as from the file the dataset was ingested from, a stored dataset found by id
or prefix, refusals that say what to do, and `verify --rerun` rebuilding from the dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from quantrun.api import create_run, ingest_file, list_runs, verify_run
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings
from test_web_api import assert_problem, creation_on, open_client, wait_for_job

SMA: dict[str, Any] = {
    "strategy": "sma_crossover",
    "params": {"fast": 10, "slow": 30},
    "timeframe": "1h",
}


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return write_demo_csv(tmp_path / "DEMO-1m.csv", days=4)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(runs_root=tmp_path / "root")


def test_a_run_from_a_stored_dataset_is_the_run_of_its_file(
    csv: Path, settings: Settings, tmp_path: Path
) -> None:
    dataset_id = ingest_file([str(csv)], settings, symbol="DEMO").dataset_id
    from_dataset = create_run([], settings, dataset=dataset_id[:10], symbol="DEMO", **SMA)
    from_file = create_run(str(csv), Settings(runs_root=tmp_path / "other"), symbol="DEMO", **SMA)
    assert from_dataset.run_id == from_file.run_id
    manifest = from_dataset.manifest
    assert manifest.request["dataset"] == dataset_id  # the full id, whatever prefix was given
    assert manifest.request["paths"] == []
    assert [s.name for s in manifest.dataset.sources] == ["DEMO-1m.csv"]
    assert verify_run(from_dataset.run_id, settings, rerun=True).ok


def test_a_dataset_stored_before_file_hashes_were_recorded_still_runs(
    csv: Path, settings: Settings
) -> None:
    dataset_id = ingest_file([str(csv)], settings, symbol="DEMO").dataset_id
    meta_path = settings.layout.dataset(dataset_id) / "dataset.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.pop("files", None)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    run = create_run([], settings, dataset=dataset_id, symbol="DEMO", **SMA)
    assert run.created


def test_bad_dataset_requests_are_refused(csv: Path, settings: Settings) -> None:
    dataset_id = ingest_file([str(csv)], settings, symbol="DEMO").dataset_id
    cases: list[tuple[dict[str, Any], ErrorCode]] = [
        ({"dataset": dataset_id, "symbol": "DEMO", "sort": True}, ErrorCode.USAGE_INVALID_OPTION),
        ({"dataset": dataset_id, "symbol": "OTHER"}, ErrorCode.USAGE_INVALID_OPTION),
        ({"symbol": "DEMO"}, ErrorCode.USAGE_INVALID_OPTION),  # neither files nor a dataset
    ]
    for fields, code in cases:
        with pytest.raises(QuantrunError) as caught:
            create_run([], settings, **SMA, **fields)
        assert caught.value.code == code, fields
    with pytest.raises(QuantrunError) as both:
        create_run(str(csv), settings, dataset=dataset_id, symbol="DEMO", **SMA)
    assert both.value.code == ErrorCode.USAGE_INVALID_OPTION
    assert list_runs(settings) == []


def test_the_cli_creates_a_run_from_a_dataset(csv: Path, settings: Settings) -> None:
    root = ["--runs-root", str(settings.runs_root)]
    runner = CliRunner()
    ingested = runner.invoke(
        main, ["data", "ingest", str(csv), "--symbol", "DEMO", "--json", *root]
    )
    dataset_id = json.loads(ingested.output)["dataset_id"]
    made = runner.invoke(
        main,
        [
            "runs",
            "create",
            "--dataset",
            dataset_id[:12],
            "--symbol",
            "DEMO",
            "--strategy",
            "sma_crossover",
            "--timeframe",
            "1h",
            "--json",
            *root,
        ],
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["created"] is True
    refused = runner.invoke(
        main, ["runs", "create", "--symbol", "DEMO", "--strategy", "sma_crossover", *root]
    )
    assert refused.exit_code == 2 and "error[USAGE_INVALID_OPTION]" in refused.stderr


def test_the_web_offers_stored_datasets_and_runs_on_one(csv: Path, settings: Settings) -> None:
    settings = creation_on(settings)
    dataset_id = ingest_file([str(csv)], settings, symbol="DEMO").dataset_id
    with open_client(settings) as client:
        page = client.get("/runs/new")
        assert f'<option value="{dataset_id}"' in page.text
        form = {"symbol": "DEMO", "strategy": "sma_crossover", "timeframe": "1h"}
        accepted = client.post("/api/v1/runs", data=form | {"dataset": dataset_id})
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(client, accepted.json()["job"]["job_id"])
        assert job["state"] == "succeeded", job
        assert_problem(client.post("/api/v1/runs", data=form), 400, "UPLOAD_MISSING")
    [row] = list_runs(settings)
    assert row.run_id == job["run_id"] and row.dataset_id == dataset_id

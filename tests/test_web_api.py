"""The REST API and the pages' JSON twins, in process through ``TestClient``.

Every response any test here receives passes a hygiene hook: no ``Traceback`` and no RUNS_ROOT
path in the body. Jobs run in real worker processes; every wait for one is bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import polars as pl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import T0_MS, minute_rows, tree
from quantrun.api import create_run, list_strategies, open_run
from quantrun.data.demo import write_demo_csv
from quantrun.runs.jobs import RUNNING, JobStore
from quantrun.settings import Settings
from quantrun.web import create_app, views
from quantrun.web.problems import PROBLEM_MEDIA_TYPE

JOB_TIMEOUT = 45.0
# The Host the service answers to by default (TestClient would send "testserver").
BASE_URL = "http://127.0.0.1"
SMA_PARAMS = {"fast": 5, "slow": 20}
#: The parameters a run records: the given ones with the current version's defaults filled in
#: (v2 adds the tie rule, strict by default).
SMA_RECORDED = {**SMA_PARAMS, "ties": "strict"}

Client = TestClient
Hook = Callable[[httpx2.Response], None]


# --- helpers --------------------------------------------------------------------------------


def _hygiene(settings: Settings) -> Hook:
    """Fail the request that leaks a stack trace or the server's RUNS_ROOT."""
    secrets = {str(settings.runs_root), str(settings.runs_root.resolve())}

    def check(response: httpx2.Response) -> None:
        response.read()
        text = response.content.decode("utf-8", errors="replace")
        where = f"{response.request.method} {response.request.url}"
        assert "Traceback" not in text, f"{where} shows a stack trace"
        for secret in secrets:
            assert secret not in text, f"{where} leaks the RUNS_ROOT path"

    return check


@contextlib.contextmanager
def open_client(settings: Settings, *, start_worker: bool = True) -> Iterator[Client]:
    """A client with the app's lifespan (recovery, worker) running, and the hygiene hook on."""
    with TestClient(create_app(settings, start_worker=start_worker), base_url=BASE_URL) as client:
        client.event_hooks["response"].append(_hygiene(settings))
        yield client


def creation_on(settings: Settings) -> Settings:
    return settings.model_copy(update={"enable_run_creation": True})


def assert_problem(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    for field in ("title", "detail", "hint", "request_id"):
        assert isinstance(body[field], str) and body[field], field
    assert response.headers["x-request-id"] == body["request_id"]
    return body


def post_run(client: Client, content: bytes, name: str = "demo.csv", **fields: str) -> Any:
    data = {
        "symbol": "DEMOUSD",
        "strategy": "sma_crossover",
        "timeframe": "15m",
        "risk": "moderate",
        "params": json.dumps(SMA_PARAMS),
    } | fields
    return client.post("/api/v1/runs", files={"file": (name, content, "text/csv")}, data=data)


def wait_for_job(client: Client, job_id: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
    """Poll until the job succeeded or failed; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["state"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id[:12]} still {job['state']}"
        time.sleep(0.05)


def job_files(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.runs_root / "jobs").glob("*.json"))


def stored_uploads(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.runs_root / "uploads").glob("*"))


def run_folders(settings: Settings) -> list[str]:
    folder = settings.runs_root / "runs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_hygiene_hook_catches_leaks(settings: Settings) -> None:
    check = _hygiene(settings)
    request = httpx2.Request("GET", "http://testserver/x")
    check(httpx2.Response(200, text="all fine", request=request))
    for leak in ("Traceback (most recent call last):", f"at {settings.runs_root}/runs/x"):
        with pytest.raises(AssertionError):
            check(httpx2.Response(500, text=leak, request=request))
    with open_client(settings, start_worker=False) as client:
        assert client.event_hooks["response"]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", days=3).read_bytes()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, str]]:
    """A RUNS_ROOT with three runs made through the Python API (read-only for the tests)."""
    root = tmp_path_factory.mktemp("library")
    csv = write_demo_csv(root / "demo.csv", days=3)
    settings = Settings(runs_root=root / "runs-root")
    made = {
        "sma": create_run(
            str(csv),
            symbol="DEMOUSD",
            strategy="sma_crossover",
            params=SMA_PARAMS,
            settings=settings,
        ),
        "hold": create_run(str(csv), symbol="DEMOUSD", strategy="buy_and_hold", settings=settings),
        "other": create_run(
            str(csv),
            symbol="OTHERUSD",
            strategy="rsi_reversion",
            timeframe="5m",
            settings=settings,
        ),
    }
    return settings, {k: v.run_id for k, v in made.items()}


@pytest.fixture
def invalid_csv() -> bytes:
    return b"time,open,high,low\n2024-01-01T00:00:00Z,1,2,0.5\n"


# --- reading runs ---------------------------------------------------------------------------


def test_runs_list_pages_filters_and_sorts(library: tuple[Settings, dict[str, str]]) -> None:
    settings, ids = library
    with open_client(settings, start_worker=False) as client:
        body = client.get("/api/v1/runs").json()
        assert body["total"] == 3 and body["pages"] == 1 and body["jobs"] == []
        assert sorted(r["run_id"] for r in body["runs"]) == sorted(ids.values())
        assert {r["status"] for r in body["runs"]} == {"succeeded"}
        assert all(r["created_at"] and r["url"] == f"/runs/{r['run_id']}" for r in body["runs"])

        first = client.get("/api/v1/runs", params={"size": 2, "page": 1}).json()
        second = client.get("/api/v1/runs", params={"size": 2, "page": 2}).json()
        assert (first["pages"], len(first["runs"]), len(second["runs"])) == (2, 2, 1)
        seen = [r["run_id"] for r in first["runs"] + second["runs"]]
        assert sorted(seen) == sorted(ids.values())
        beyond = client.get("/api/v1/runs", params={"size": 2, "page": 9}).json()
        assert beyond["page"] == 2 and beyond["runs"] == second["runs"]

        def run_ids(**query: str) -> list[str]:
            response = client.get("/api/v1/runs", params=query)
            assert response.status_code == 200, response.text
            return [r["run_id"] for r in response.json()["runs"]]

        assert run_ids(symbol="OTHERUSD") == [ids["other"]]
        assert run_ids(strategy="buy_and_hold") == [ids["hold"]]
        assert sorted(run_ids(symbol="DEMOUSD")) == sorted([ids["sma"], ids["hold"]])
        assert run_ids(symbol="DEMOUSD", strategy="rsi_reversion") == []
        assert len(run_ids(status="succeeded")) == 3
        assert run_ids(status="failed") == []

        for sort, key in (("symbol", "symbol"), ("return", "total_return"), ("trades", "trades")):
            asc = client.get("/api/v1/runs", params={"sort": sort, "order": "asc"}).json()
            desc = client.get("/api/v1/runs", params={"sort": sort, "order": "desc"}).json()
            values = [r[key] for r in asc["runs"]]
            assert values == sorted(values), sort
            assert [r[key] for r in desc["runs"]] == sorted(values, reverse=True), sort

        assert_problem(client.get("/api/v1/runs?order=sideways"), 400, "USAGE_INVALID_OPTION")
        assert_problem(client.get("/api/v1/runs?size=0"), 400, "USAGE_INVALID_OPTION")
        assert_problem(client.get("/api/v1/runs?page=x"), 400, "USAGE_INVALID_OPTION")


def test_run_detail_has_manifest_and_metrics(library: tuple[Settings, dict[str, str]]) -> None:
    settings, ids = library
    run_id = ids["sma"]
    with open_client(settings, start_worker=False) as client:
        body = client.get(f"/api/v1/runs/{run_id}").json()
        assert body["run_id"] == run_id and body["read_only"] is False
        assert body["manifest"]["run_id"] == run_id
        assert body["manifest"]["identity"]["strategy"]["params"] == SMA_RECORDED
        assert body["metrics"] == json.loads(json.dumps(open_run(run_id, settings).metrics))
        assert {"total_return", "sharpe", "max_drawdown"} <= set(body["metrics"])
        assert client.get(f"/api/v1/runs/{run_id[:12]}").json()["run_id"] == run_id

        assert_problem(client.get(f"/api/v1/runs/{'0' * 64}"), 404, "RUN_NOT_FOUND")
        assert_problem(client.get("/api/v1/runs/not-a-run"), 404, "RUN_NOT_FOUND")


def test_every_listed_artifact_downloads_with_its_manifest_hash(
    library: tuple[Settings, dict[str, str]],
) -> None:
    settings, ids = library
    with open_client(settings, start_worker=False) as client:
        for run_id in ids.values():
            manifest = client.get(f"/api/v1/runs/{run_id}").json()["manifest"]
            assert len(manifest["artifacts"]) >= 7
            for artifact in manifest["artifacts"]:
                response = client.get(f"/api/v1/runs/{run_id}/artifacts/{artifact['name']}")
                assert response.status_code == 200, artifact["name"]
                assert len(response.content) == artifact["bytes"]
                assert sha256(response.content) == artifact["sha256"], artifact["name"]
                media = response.headers["content-type"].split(";")[0]
                assert media == artifact["media_type"]
                assert artifact["name"] in response.headers["content-disposition"]
            raw = client.get(f"/api/v1/runs/{run_id}/artifacts/manifest.json")
            assert raw.status_code == 200 and json.loads(raw.content) == manifest


@pytest.mark.parametrize(
    "name",
    [
        "secret",
        "index.json",
        "..%2Findex.json",
        "..%2F..%2Findex.json",
        "%2E%2E%2Fjobs",
        "bars.parquet.tmp",
        "%2Fetc%2Fpasswd",
    ],
)
def test_unlisted_artifact_is_run_not_found(
    library: tuple[Settings, dict[str, str]], name: str
) -> None:
    settings, ids = library
    with open_client(settings, start_worker=False) as client:
        response = client.get(f"/api/v1/runs/{ids['sma']}/artifacts/{name}")
        assert_problem(response, 404, "RUN_NOT_FOUND")
        assert b"generation" not in response.content  # never index.json's content


def test_dot_segments_never_leave_the_run(library: tuple[Settings, dict[str, str]]) -> None:
    """An unencoded ``../`` is resolved by the client; whatever arrives is a 404 problem."""
    settings, ids = library
    index = (settings.runs_root / "index.json").read_bytes()
    with open_client(settings, start_worker=False) as client:
        for url in (
            f"/api/v1/runs/{ids['sma']}/artifacts/../index.json",
            f"/api/v1/runs/{ids['sma']}/artifacts/../../index.json",
            "/api/v1/runs/../index.json",
        ):
            response = client.get(url)
            assert response.status_code == 404, url
            assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
            assert response.content != index


def test_decisions_page_and_filter_by_action(library: tuple[Settings, dict[str, str]]) -> None:
    settings, ids = library
    run_id = ids["sma"]
    records = open_run(run_id, settings).decisions()
    fills = records.filter(records["action"] == "fill").height
    assert records.height > 20 and fills > 0
    with open_client(settings, start_worker=False) as client:
        url = f"/api/v1/runs/{run_id}/decisions"
        one = client.get(url, params={"size": 10, "page": 1}).json()
        two = client.get(url, params={"size": 10, "page": 2}).json()
        assert one["total"] == records.height and one["pages"] == -(-records.height // 10)
        seqs = [item["seq"] for item in one["items"] + two["items"]]
        assert seqs == list(range(1, 21))
        assert one["items"][0] == json.loads(json.dumps(records.row(0, named=True)))

        filled = client.get(url, params={"action": "fill", "size": 1000}).json()
        assert filled["total"] == fills == len(filled["items"])
        assert {item["action"] for item in filled["items"]} == {"fill"}
        none = client.get(url, params={"action": "no-such-action"}).json()
        assert (none["total"], none["items"], none["pages"]) == (0, [], 1)

        assert_problem(client.get(url, params={"size": 0}), 400, "USAGE_INVALID_OPTION")
        assert_problem(client.get(f"/api/v1/runs/{'f' * 64}/decisions"), 404, "RUN_NOT_FOUND")


def test_strategies_lists_the_registry(settings: Settings) -> None:
    with open_client(settings, start_worker=False) as client:
        body = client.get("/api/v1/strategies").json()
    listed = [s.to_dict() for s in list_strategies(settings)]
    # The API adds each strategy's code to what `strategies list --json` shows.
    assert [{k: v for k, v in s.items() if k != "source"} for s in body["strategies"]] == (
        json.loads(json.dumps(listed))
    )
    assert all(s["source"]["sha256"] == s["source_sha256"] for s in body["strategies"])
    by_id = {s["id"]: s for s in body["strategies"]}
    assert {"sma_crossover", "buy_and_hold", "rsi_reversion"} <= set(by_id)
    assert {p["name"] for p in by_id["sma_crossover"]["params"]} == {"fast", "slow", "ties"}


# --- creating runs --------------------------------------------------------------------------


def test_post_run_is_refused_while_creation_is_off(settings: Settings, demo_csv: bytes) -> None:
    assert settings.enable_run_creation is False
    with open_client(settings) as client:
        before = tree(settings.runs_root)
        body = assert_problem(post_run(client, demo_csv), 403, "RUN_CREATION_DISABLED")
        assert "--enable-run-creation" in body["hint"]
        assert_problem(client.post(f"/api/v1/jobs/{'a' * 64}/retry"), 403, "RUN_CREATION_DISABLED")
        assert tree(settings.runs_root) == before
        assert client.get("/api/v1/runs").json()["total"] == 0
        assert client.get("/api/v1/health/ready").json()["run_creation_enabled"] is False


def test_post_run_queues_a_job_that_publishes_the_run_once(
    settings: Settings, demo_csv: bytes
) -> None:
    settings = creation_on(settings)
    with open_client(settings) as client:
        response = post_run(client, demo_csv)
        assert response.status_code == 202, response.text
        accepted = response.json()
        job_id = accepted["job"]["job_id"]
        assert accepted["run_id"] is None
        assert accepted["job"]["state"] in ("queued", "running")
        assert accepted["job"]["source_names"] == ["demo.csv"]

        job = wait_for_job(client, job_id)
        assert job["state"] == "succeeded", job
        assert (job["attempts"], job["created"], job["error"]) == (1, True, None)
        run_id = job["run_id"]
        assert job["run_url"] == f"/runs/{run_id}"

        listed = client.get("/api/v1/runs").json()
        assert [r["run_id"] for r in listed["runs"]] == [run_id]
        assert listed["runs"][0]["status"] == "succeeded" and listed["jobs"] == []
        manifest = client.get(f"/api/v1/runs/{run_id}").json()["manifest"]
        assert manifest["dataset"]["sources"][0]["path"] == "demo.csv"
        assert manifest["identity"]["strategy"]["params"] == SMA_RECORDED

        again = post_run(client, demo_csv)
        assert again.status_code == 200, again.text
        assert again.json()["run_id"] == run_id and again.json()["created"] is False
        assert again.json()["job"]["job_id"] == job_id
        assert job_files(settings) == [f"{job_id}.json"]
        assert run_folders(settings) == [run_id]
        assert client.get("/api/v1/runs").json()["total"] == 1

        assert_problem(client.post(f"/api/v1/jobs/{job_id}/retry"), 409, "JOB_NOT_RETRYABLE")
        assert client.get(f"/api/v1/jobs/{job_id}").json() == job


def test_invalid_csv_fails_the_job_with_its_code_and_lists_nothing(
    settings: Settings, invalid_csv: bytes
) -> None:
    settings = creation_on(settings)
    with open_client(settings) as client:
        response = post_run(client, invalid_csv, name="broken.csv")
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["job"]["job_id"])
        assert job["state"] == "failed" and job["run_id"] is None
        assert job["error"]["code"] == "CSV_MISSING_COLUMN"
        assert "close" in job["error"]["detail"] and job["error"]["hint"]

        listed = client.get("/api/v1/runs").json()
        assert (listed["total"], listed["runs"]) == (0, [])
        assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]
        assert listed["jobs"][0]["state"] == "failed"
        failed = client.get("/api/v1/runs", params={"status": "failed"}).json()
        assert [j["job_id"] for j in failed["jobs"]] == [job["job_id"]]
        assert client.get("/api/v1/runs", params={"status": "queued"}).json()["jobs"] == []
        assert run_folders(settings) == []
        assert not (settings.runs_root / "datasets").exists() or not any(
            (settings.runs_root / "datasets").iterdir()
        )


def test_retry_queues_a_failed_job_again(settings: Settings, invalid_csv: bytes) -> None:
    settings = creation_on(settings)
    with open_client(settings) as client:
        job_id = post_run(client, invalid_csv).json()["job"]["job_id"]
        assert wait_for_job(client, job_id)["state"] == "failed"
    # Without a worker the retried job stays queued, so its state can be checked exactly.
    with open_client(settings, start_worker=False) as client:
        retried = client.post(f"/api/v1/jobs/{job_id}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["state"] == "queued" and retried.json()["error"] is None
        assert client.get(f"/api/v1/jobs/{job_id}").json()["state"] == "queued"
        assert_problem(client.post(f"/api/v1/jobs/{job_id}/retry"), 409, "JOB_NOT_RETRYABLE")
    with open_client(settings) as client:
        job = wait_for_job(client, job_id)
        assert (job["state"], job["attempts"]) == ("failed", 2)
        assert job["error"]["code"] == "CSV_MISSING_COLUMN"
        assert client.get("/api/v1/runs").json()["total"] == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"strategy": "no_such_strategy"}, "STRATEGY_UNKNOWN"),
        ({"params": json.dumps({"fast": "quick"})}, "STRATEGY_PARAMS_INVALID"),
        ({"params": json.dumps({"fast": 5, "slow": 20, "extra": 1})}, "STRATEGY_PARAMS_INVALID"),
        ({"params": "[5, 20]"}, "STRATEGY_PARAMS_INVALID"),
        ({"params": "{not json"}, "STRATEGY_PARAMS_INVALID"),
        ({"risk": "reckless"}, "RISK_LEVEL_UNKNOWN"),
        ({"timeframe": "7q"}, "TIMEFRAME_UNKNOWN"),
        ({"format": "xml"}, "USAGE_INVALID_OPTION"),
        ({"start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "RUN_WINDOW_INVALID"),
    ],
)
def test_bad_choices_are_refused_at_once_without_a_job(
    settings: Settings, demo_csv: bytes, fields: dict[str, str], code: str
) -> None:
    settings = creation_on(settings)
    with open_client(settings) as client:
        assert_problem(post_run(client, demo_csv, **fields), 400, code)
        assert job_files(settings) == []
        assert stored_uploads(settings) == []  # a refused request keeps no copy of the file
        assert client.get("/api/v1/runs").json()["jobs"] == []
        assert run_folders(settings) == []


def test_post_run_without_a_file_is_a_problem(settings: Settings) -> None:
    with open_client(creation_on(settings)) as client:
        response = client.post("/api/v1/runs", data={"symbol": "X", "strategy": "buy_and_hold"})
        # The file is optional in the form since a stored `dataset` can stand for it.
        assert_problem(response, 400, "UPLOAD_MISSING")
        assert job_files(settings) == []


def test_unknown_job_is_404(settings: Settings) -> None:
    with open_client(creation_on(settings)) as client:
        for job_id in ("a" * 64, "A" * 64, "not-a-job"):
            assert_problem(client.get(f"/api/v1/jobs/{job_id}"), 404, "JOB_NOT_FOUND")
            assert_problem(client.post(f"/api/v1/jobs/{job_id}/retry"), 404, "JOB_NOT_FOUND")


def test_inspect_previews_and_writes_nothing(settings: Settings, demo_csv: bytes) -> None:
    with open_client(settings) as client:
        before = tree(settings.runs_root)
        valid = client.post(
            "/api/v1/inspect", files={"file": ("demo.csv", demo_csv, "text/csv")}
        ).json()
        assert valid["valid"] is True and len(valid["dataset_id"]) == 64
        assert valid["sources"][0]["path"] == "demo.csv"
        assert valid["sources"][0]["rows"] == demo_csv.count(b"\n") - 1
        assert valid["checks"] and all(c["status"] == "pass" for c in valid["checks"])
        assert valid["quality"]["rows"] == valid["sources"][0]["rows"]

        rows = minute_rows(5)
        rows[3] = f"{T0_MS + 180_000},1,0.5,2,1,3"
        bad_csv = ("time,open,high,low,close,volume\n" + "\n".join(rows) + "\n").encode()
        invalid = client.post(
            "/api/v1/inspect", files={"file": ("bad.csv", bad_csv, "text/csv")}
        ).json()
        assert invalid["valid"] is False and invalid["dataset_id"] is None
        assert invalid["error"]["code"] == "CSV_HIGH_BELOW_LOW"
        assert invalid["error"]["lines"] == [5]

        missing = client.post(
            "/api/v1/inspect", files={"file": ("x.csv", b"time,open\n1,2\n", "text/csv")}
        ).json()
        assert missing["error"]["code"] == "CSV_MISSING_COLUMN"
        assert tree(settings.runs_root) == before


def test_health_live_and_ready(settings: Settings) -> None:
    not_started_app = create_app(settings)  # entered without its lifespan: never "ready"
    with contextlib.closing(TestClient(not_started_app, base_url=BASE_URL)) as not_started:
        assert not_started.get("/api/v1/health/live").json() == {"status": "ok"}
        assert not_started.get("/api/v1/health/ready").status_code == 503
    with open_client(settings) as client:
        assert client.get("/api/v1/health/live").json() == {"status": "ok"}
        ready = client.get("/api/v1/health/ready")
        assert ready.status_code == 200
        # A read-only server runs no worker: nothing may execute jobs queued by another.
        body = ready.json()
        assert body["status"] == "ready" and body["run_creation_enabled"] is False
        assert body["checks"]["worker"] == {
            "ok": True,
            "detail": "not needed (read-only)",
            "alive": False,
        }
    with open_client(creation_on(settings)) as client:
        assert client.get("/api/v1/health/ready").json()["checks"]["worker"]["alive"] is True
    with open_client(creation_on(settings), start_worker=False) as client:
        # Creation on without a worker: jobs would queue forever, so the service is not ready.
        not_ready = client.get("/api/v1/health/ready")
        assert not_ready.status_code == 503 and not_ready.json()["status"] == "not_ready"
        assert not_ready.json()["checks"]["worker"]["ok"] is False


# --- restarts -------------------------------------------------------------------------------


def test_job_left_running_is_interrupted_on_restart_and_retries_to_one_run(
    settings: Settings, demo_csv: bytes
) -> None:
    settings = creation_on(settings)
    # 1. A job queued while no worker runs, then "crashed" mid-run: its file says running.
    with open_client(settings, start_worker=False) as client:
        job_id = post_run(client, demo_csv).json()["job"]["job_id"]
    JobStore(settings).update(job_id, state=RUNNING, stage="simulating", attempts=1)

    with open_client(settings) as client:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        assert job["state"] == "failed" and job["error"]["code"] == "JOB_INTERRUPTED"
        assert job["error"]["hint"]
        assert client.post(f"/api/v1/jobs/{job_id}/retry").status_code == 200
        job = wait_for_job(client, job_id)
        assert (job["state"], job["attempts"], job["created"]) == ("succeeded", 2, True)
        run_id = job["run_id"]

    # 2. The same job "crashes" again after publishing: the retry finds the run, adds none.
    JobStore(settings).update(job_id, state=RUNNING, run_id=None, created=None)
    with open_client(settings) as client:
        assert client.get(f"/api/v1/jobs/{job_id}").json()["error"]["code"] == "JOB_INTERRUPTED"
        client.post(f"/api/v1/jobs/{job_id}/retry")
        job = wait_for_job(client, job_id)
        assert (job["state"], job["run_id"], job["created"]) == ("succeeded", run_id, False)
        assert client.get("/api/v1/runs").json()["total"] == 1
        assert run_folders(settings) == [run_id]
        assert job_files(settings) == [f"{job_id}.json"]


def test_a_worker_that_dies_mid_job_fails_the_job_without_a_restart(
    settings: Settings, demo_csv: bytes
) -> None:
    """The supervisor notices its child died (its job lock is free) and fails the job."""
    settings = creation_on(settings)
    with open_client(settings, start_worker=False) as client:
        job_id = post_run(client, demo_csv).json()["job"]["job_id"]
    store = JobStore(settings)
    store.update(job_id, state=RUNNING, stage="simulate", attempts=1)
    lock = store.lock(job_id)
    lock.acquire()  # a live worker holds it: start-up recovery leaves the job alone
    try:
        with open_client(settings) as client:
            assert client.get(f"/api/v1/jobs/{job_id}").json()["state"] == "running"
            assert isinstance(client.app, FastAPI)
            worker = client.app.state.worker
            dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"])
            dead.wait(10)
            lock.release()  # the child died: the kernel freed its lock...
            worker._children[job_id] = dead  # ...and the supervisor reaps it on its next tick
            job = wait_for_job(client, job_id, timeout=10)
            assert job["state"] == "failed" and job["error"]["code"] == "JOB_INTERRUPTED"
            assert client.post(f"/api/v1/jobs/{job_id}/retry").status_code == 200
            job = wait_for_job(client, job_id)
            assert (job["state"], job["created"]) == ("succeeded", True)
            assert client.get("/api/v1/runs").json()["total"] == 1
    finally:
        if lock.is_locked:
            lock.release()


def test_same_bytes_under_another_name_find_the_same_run(
    settings: Settings, demo_csv: bytes
) -> None:
    settings = creation_on(settings)
    with open_client(settings) as client:
        first = wait_for_job(client, post_run(client, demo_csv).json()["job"]["job_id"])
        response = post_run(client, demo_csv, name="renamed.csv")
        assert response.status_code == 202  # another label is another job...
        second = wait_for_job(client, response.json()["job"]["job_id"])
        assert second["job_id"] != first["job_id"]
        assert (second["state"], second["run_id"], second["created"]) == (
            "succeeded",
            first["run_id"],
            False,
        )  # ...but never a second run
        assert run_folders(settings) == [first["run_id"]]
        assert client.get("/api/v1/runs").json()["total"] == 1
        assert len(stored_uploads(settings)) == 1


def test_restart_keeps_every_run_and_job(
    settings: Settings, demo_csv: bytes, invalid_csv: bytes
) -> None:
    settings = creation_on(settings)
    with open_client(settings) as client:
        ok = post_run(client, demo_csv).json()["job"]["job_id"]
        bad = post_run(client, invalid_csv, name="broken.csv").json()["job"]["job_id"]
        jobs = {job_id: wait_for_job(client, job_id) for job_id in (ok, bad)}
        listing = client.get("/api/v1/runs").json()
        run_id = jobs[ok]["run_id"]
        detail = client.get(f"/api/v1/runs/{run_id}").json()
    assert (jobs[ok]["state"], jobs[bad]["state"]) == ("succeeded", "failed")

    for start_worker in (True, False):
        with open_client(settings, start_worker=start_worker) as client:
            assert client.get("/api/v1/runs").json() == listing
            assert client.get(f"/api/v1/runs/{run_id}").json() == detail
            for job_id, job in jobs.items():
                assert client.get(f"/api/v1/jobs/{job_id}").json() == job


# --- pages: JSON twins and errors -----------------------------------------------------------


def _plain(data: Any) -> Any:
    """What a view model looks like after a JSON round trip."""
    return json.loads(json.dumps(data))


def test_page_twins_equal_the_view_models_and_agree_with_the_api(
    library: tuple[Settings, dict[str, str]],
) -> None:
    settings, ids = library
    ctx = views.Context(settings)
    with open_client(settings, start_worker=False) as client:
        page = client.get("/runs?format=json")
        assert page.status_code == 200, page.text
        assert page.json() == _plain(views.runs_index(ctx))
        assert page.json()["runs"] == client.get("/api/v1/runs").json()["runs"]
        filtered = client.get("/runs?format=json&symbol=OTHERUSD").json()
        assert [r["run_id"] for r in filtered["runs"]] == [ids["other"]]

        for run_id in ids.values():
            detail = client.get(f"/runs/{run_id}?format=json")
            assert detail.status_code == 200, detail.text
            body = detail.json()
            assert body == _plain(views.run_detail(ctx, run_id))
            api = client.get(f"/api/v1/runs/{run_id}").json()
            assert body["manifest"] == api["manifest"]
            assert {m["id"]: m["value"] for m in body["metrics"]} == {
                k: v["value"] for k, v in api["metrics"].items()
            }
            chart = body["chart"]
            assert chart["bars_shown"] == len(chart["bars"]["ts"]) > 0
            assert len(chart["equity"]["equity"]) > 0

        form = client.get("/runs/new?format=json")
        assert form.status_code == 200, form.text
        assert form.json() == _plain(views.new_run_form(ctx))

        missing = client.get(f"/runs/{'0' * 64}?format=json")
        assert missing.status_code == 404
        assert missing.json()["code"] == "RUN_NOT_FOUND"


ORDER = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2}


def _ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def test_pages_render_with_the_agreed_element_ids(
    library: tuple[Settings, dict[str, str]],
) -> None:
    settings, ids = library
    with open_client(settings, start_worker=False) as client:
        listing = client.get("/runs")
        assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/")
        assert all(run_id in listing.text for run_id in ids.values())
        for run_id in ids.values():
            page = client.get(f"/runs/{run_id}")
            assert page.status_code == 200, page.text[:500]
            assert {
                "price-chart",
                "equity-chart",
                "metrics-table",
                "decisions-table",
                "quality-panel",
            } <= _ids(page.text)
        off = client.get("/runs/new")
        assert off.status_code == 200 and "--enable-run-creation" in off.text
        assert client.get("/").status_code == 200  # redirected to the list
    with open_client(creation_on(settings), start_worker=False) as client:
        form = client.get("/runs/new")
        assert form.status_code == 200
        assert {"preview", "form-error", "file", "symbol", "timeframe", "strategy", "risk"} <= (
            _ids(form.text)
        )
        for field in ("file", "symbol", "timeframe", "strategy", "risk"):
            assert f'name="{field}"' in form.text, field


def _job_state(page: dict[str, Any]) -> str:
    job = page.get("job", page)
    state: str = job["state"]
    return state


def test_job_page_status_equals_the_api_status(
    settings: Settings, demo_csv: bytes, invalid_csv: bytes
) -> None:
    settings = creation_on(settings)
    with open_client(settings) as client:
        ok = post_run(client, demo_csv).json()["job"]["job_id"]
        bad = post_run(client, invalid_csv).json()["job"]["job_id"]
        for job_id in (ok, bad):
            # Mid-flight the job may move on between two reads, never backwards.
            api = client.get(f"/api/v1/jobs/{job_id}").json()
            page = client.get(f"/jobs/{job_id}?format=json")
            assert page.status_code == 200, page.text
            assert ORDER[_job_state(page.json())] >= ORDER[api["state"]]
            after = client.get(f"/api/v1/jobs/{job_id}").json()
            assert ORDER[after["state"]] >= ORDER[_job_state(page.json())]
            done = wait_for_job(client, job_id)
            page_done = client.get(f"/jobs/{job_id}?format=json").json()
            assert _job_state(page_done) == done["state"]
            html = client.get(f"/jobs/{job_id}")
            assert html.status_code == 200 and "text/html" in html.headers["content-type"]
            assert "job-state" in _ids(html.text)
            assert f'data-state="{done["state"]}"' in html.text
        assert client.get(f"/jobs/{'a' * 64}?format=json").status_code == 404


def test_unknown_route_is_problem_json_under_api_and_html_elsewhere(settings: Settings) -> None:
    with open_client(settings, start_worker=False) as client:
        assert_problem(client.get("/api/v1/no/such/thing"), 404, "ROUTE_NOT_FOUND")
        assert_problem(client.post("/api/v1/strategies"), 400, "USAGE_INVALID_OPTION")
        page = client.get("/no/such/page")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "ROUTE_NOT_FOUND" in page.text and page.headers["x-request-id"]
        missing_run = client.get(f"/runs/{'0' * 64}")
        assert missing_run.status_code == 404
        assert missing_run.headers["content-type"].startswith("text/html")
        assert "RUN_NOT_FOUND" in missing_run.text


def test_kill_switch_refuses_post_and_explains_on_the_pages(tmp_path: Path) -> None:
    from quantrun.api import set_killswitch
    from quantrun.web import create_app

    settings = Settings(runs_root=tmp_path / "root", enable_run_creation=True)
    set_killswitch(True, "exchange outage", settings, actor="ops")
    with TestClient(create_app(settings, start_worker=False), base_url=BASE_URL) as client:
        csv = write_demo_csv(tmp_path / "demo.csv", days=1)
        with csv.open("rb") as handle:
            refused = client.post(
                "/api/v1/runs",
                files={"file": ("demo.csv", handle, "text/csv")},
                data={"symbol": "D", "strategy": "buy_and_hold"},
            )
        assert refused.status_code == 503
        assert refused.json()["code"] == "KILL_SWITCH_ENGAGED"
        assert not (settings.runs_root / "uploads").exists()
        form = client.get("/runs/new?format=json").json()
        assert form["creation"]["enabled"] is False
        assert "exchange outage" in form["creation"]["reason"]


def test_the_run_page_lists_the_first_timeline_events_and_says_where_the_rest_are(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with more events than the page lists (a fast 1m crossover on three days): the page
    shows the first TIMELINE_SHOWN, says how many there are, and links to all of them."""
    monkeypatch.setattr(views, "TIMELINE_SHOWN", 120)
    csv = tmp_path / "demo.csv"
    write_demo_csv(csv, days=3)
    run = create_run(
        str(csv),
        settings,
        symbol="DEMOUSD",
        strategy="sma_crossover",
        params={"fast": 2, "slow": 3},
        timeframe="1m",
    )
    view = open_run(run.run_id, settings)
    events = view.timeline_events().frame.to_dicts()
    assert len(events) > views.TIMELINE_SHOWN
    # Manifest schema 3: the events are the decision records with the timeline's actions.
    assert view.timeline["events_in"] == {
        "artifact": "decision_records.parquet",
        "actions": ["fill", "stop_loss", "take_profit", "halt", "expire"],
        "count": len(events),
    }
    with open_client(settings) as client:
        data = client.get(f"/runs/{run.run_id}?format=json").json()
        assert data["timeline"] == events[: views.TIMELINE_SHOWN]
        assert data["timeline_total"] == len(events)
        assert data["timeline_file"] == "decision_records.parquet"
        full = client.get(data["timeline_url"])
        assert full.status_code == 200
        records = pl.read_parquet(io.BytesIO(full.content))
        fills = records.filter(pl.col("action").is_in(list(view.timeline["events_in"]["actions"])))
        assert fills["seq"].to_list() == [e["seq"] for e in events]
        page = client.get(f"/runs/{run.run_id}").text
    table = page[
        page.index('id="timeline-table"') : page.index("</table>", page.index("timeline-table"))
    ]
    assert table.count('<tr class="event') == views.TIMELINE_SHOWN
    assert 'id="timeline-shown"' in page
    assert f"{len(events):,} events" in page and data["timeline_url"] in page

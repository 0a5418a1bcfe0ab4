"""Reliability and safety: every limit, the kill switch and the flag through the API and the
CLI; the Host allowlist, the cross-site check and the rate limit; readiness; structured logs.

The streamed upload cut-off is tested against a real server (uvicorn parses the HTTP), the rest
in process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from conftest import tree, written
from quantrun.api import create_run, export_runs_csv
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import CATALOGUE, ErrorCode, QuantrunError
from quantrun.logs import configure
from quantrun.runs.export import safe_cell
from quantrun.runs.jobs import QUEUED, JobStore, execute_job
from quantrun.runs.request import RunCreateRequest
from quantrun.runs.slots import BuildSlots
from quantrun.settings import Settings
from quantrun.web.guard import host_name
from quantrun.web.ratelimit import RateLimiter
from test_web_api import BASE_URL, assert_problem, open_client, post_run, wait_for_job
from web_server import LiveServer

SAME_ORIGIN = {"origin": BASE_URL, "sec-fetch-site": "same-origin", "x-quantrun-client": "web"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("safety") / "demo.csv", days=2)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("RUNS_ROOT", "MAX_INPUT_BYTES", "MAX_ROWS", "MAX_CONCURRENT_JOBS"):
        monkeypatch.delenv(f"QUANTRUN_{name}", raising=False)
    return CliRunner()


def with_(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def inspect(client: TestClient, content: bytes, **headers: str) -> Any:
    return client.post(
        "/api/v1/inspect", files={"file": ("x.csv", content, "text/csv")}, headers=headers
    )


def cli_create(cli: CliRunner, csv: Path, root: Path, *extra: str) -> Any:
    args = ["runs", "create", str(csv), "--symbol", "D", "--strategy", "buy_and_hold"]
    return cli.invoke(main, [*args, "--timeframe", "5m", "--runs-root", str(root), *extra])


# --- Host allowlist -------------------------------------------------------------------------


def test_host_names_are_compared_without_port_and_case() -> None:
    assert host_name("LocalHost:8000") == "localhost"
    assert host_name("[::1]:8000") == "[::1]"
    assert host_name("127.0.0.1") == "127.0.0.1"


def test_unknown_host_is_refused_on_api_and_pages(settings: Settings) -> None:
    with open_client(settings, start_worker=False) as client:
        api = client.get("/api/v1/runs", headers={"host": "rebind.example:8000"})
        body = assert_problem(api, 400, "HOST_NOT_ALLOWED")
        assert "rebind.example" in body["detail"]
        page = client.get("/runs", headers={"host": "rebind.example"})
        assert page.status_code == 400 and "HOST_NOT_ALLOWED" in page.text
        assert page.headers["content-type"].startswith("text/html")
        for host in ("localhost:8000", "127.0.0.1:1", "[::1]:8000"):
            assert client.get("/api/v1/runs", headers={"host": host}).status_code == 200
    with open_client(with_(settings, allowed_hosts="*"), start_worker=False) as client:
        assert client.get("/api/v1/runs", headers={"host": "any.example"}).status_code == 200
    custom = with_(settings, allowed_hosts="workstation.lan")
    with open_client(custom, start_worker=False) as client:
        refused = client.get("/api/v1/runs")  # 127.0.0.1 is no longer listed
        assert_problem(refused, 400, "HOST_NOT_ALLOWED")
        ok = client.get("/api/v1/runs", headers={"host": "WORKSTATION.lan:8000"})
        assert ok.status_code == 200


# --- cross-site requests --------------------------------------------------------------------

CROSS_SITE_CASES = {
    "cross-site fetch": {"sec-fetch-site": "cross-site", "x-quantrun-client": "x"},
    "same-site, other port": {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:9999"},
    "foreign origin": {"origin": "http://evil.example", "x-quantrun-client": "x"},
    "opaque origin": {"origin": "null", "x-quantrun-client": "x"},
    "other port, header set": {"origin": "http://127.0.0.1:9999", "x-quantrun-client": "x"},
    "same origin, no header": {"origin": BASE_URL, "sec-fetch-site": "same-origin"},
    "form post, no header": {"sec-fetch-site": "same-origin"},
}


@pytest.mark.parametrize("case", sorted(CROSS_SITE_CASES))
def test_cross_site_posts_are_refused_and_write_nothing(
    case: str, settings: Settings, demo: Path
) -> None:
    headers = CROSS_SITE_CASES[case]
    with open_client(with_(settings, enable_run_creation=True), start_worker=False) as client:
        before = tree(settings.runs_root)
        refused = client.post(
            "/api/v1/runs",
            files={"file": ("demo.csv", demo.read_bytes(), "text/csv")},
            data={"symbol": "D", "strategy": "buy_and_hold"},
            headers=headers,
        )
        assert_problem(refused, 403, "CSRF_REJECTED")
        assert_problem(inspect(client, b"a,b\n", **headers), 403, "CSRF_REJECTED")
        assert tree(settings.runs_root) == before


def test_own_pages_and_scripts_pass_the_cross_site_check(settings: Settings, demo: Path) -> None:
    with open_client(settings, start_worker=False) as client:
        assert inspect(client, demo.read_bytes(), **SAME_ORIGIN).status_code == 200
        assert inspect(client, demo.read_bytes()).status_code == 200  # curl, httpx: no markers
        navigation = {"sec-fetch-site": "none", "x-quantrun-client": "web"}
        assert inspect(client, demo.read_bytes(), **navigation).status_code == 200
        # Reads are never refused for their origin: a cross-site GET cannot read the answer.
        assert client.get("/api/v1/runs", headers={"sec-fetch-site": "cross-site"}).is_success


def test_the_web_ui_sends_the_client_header() -> None:
    app_js = Path(__file__).parents[1] / "src/quantrun/web/static/app.js"
    assert '"X-Quantrun-Client": "web"' in app_js.read_text()


# --- rate limit -----------------------------------------------------------------------------


def test_token_bucket_refills_continuously() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=6, clock=lambda: now[0])  # one token every 10 s
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") == 0.0  # clients are independent
    now[0] = 5.0
    assert limiter.take("a") == pytest.approx(5.0)
    assert limiter.retry_after(limiter.take("a")) == 5
    now[0] = 10.0
    assert limiter.take("a") == 0.0
    assert RateLimiter(per_minute=0).take("a") == 0.0  # 0 = off


def test_api_posts_beyond_the_rate_get_429_with_retry_after(settings: Settings, demo: Path) -> None:
    with open_client(with_(settings, rate_limit_per_minute=3), start_worker=False) as client:
        assert [inspect(client, b"a\n").status_code for _ in range(3)] == [200, 200, 200]
        limited = inspect(client, demo.read_bytes())
        body = assert_problem(limited, 429, "LIMIT_RATE")
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 20 and body["extra"]["retry_after"] == retry_after
        assert "headers" not in body.get("extra", {})
        created = post_run(client, demo.read_bytes())  # creation shares the budget
        assert_problem(created, 429, "LIMIT_RATE")
        assert client.get("/api/v1/runs").status_code == 200  # reads are not limited
        assert client.get("/api/v1/strategies").status_code == 200


# --- upload size, rows, queue, concurrent builds --------------------------------------------


def test_declared_oversized_upload_is_refused_before_reading(
    settings: Settings, demo: Path
) -> None:
    small = with_(settings, max_input_bytes=1000, enable_run_creation=True)
    with open_client(small, start_worker=False) as client:
        refused = post_run(client, demo.read_bytes())
        body = assert_problem(refused, 413, "LIMIT_INPUT_SIZE")
        assert body["extra"]["limit"] == 1000
        assert_problem(inspect(client, demo.read_bytes()), 413, "LIMIT_INPUT_SIZE")
    assert not (settings.runs_root / "uploads").exists()
    assert not (settings.runs_root / "jobs").exists()


def test_upload_between_limit_and_form_overhead_is_refused_while_copied(
    settings: Settings,
) -> None:
    small = with_(settings, max_input_bytes=1000, enable_run_creation=True)
    with open_client(small, start_worker=False) as client:
        refused = post_run(client, b"x" * 5000)
        assert_problem(refused, 413, "LIMIT_INPUT_SIZE")
    assert not (settings.runs_root / "uploads").exists()  # refused while hashed, never stored


def _raw_post(port: int, head: bytes, body: Iterator[bytes]) -> tuple[int, bytes]:
    """Send ``body`` (chunked unless ``head`` declares a length) until the server answers;
    return (bytes sent, the answer's head)."""
    chunked = b"content-length" not in head.lower()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for piece in body:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            sock.setblocking(False)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        sock.settimeout(10)
        answer = sock.recv(65536)
    return sent, answer.split(b"\r\n\r\n", 1)[0]


def test_streamed_uploads_are_cut_off_at_the_limit_on_a_real_server(tmp_path: Path) -> None:
    limit = 200_000
    spool = tmp_path / "server-tmp"
    spool.mkdir()
    env = {"QUANTRUN_MAX_INPUT_BYTES": str(limit), "TMPDIR": str(spool)}
    root = tmp_path / "root"
    part = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
    )

    def endless() -> Iterator[bytes]:  # far more than the limit, if the server let it
        yield part
        for _ in range(50_000):
            yield b"1" * 16384

    with LiveServer(root, enable_run_creation=True, env=env) as server:
        for path in ("/api/v1/runs", "/api/v1/inspect"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: multipart/form-data; boundary=B\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
            sent, answer = _raw_post(server.port, head, endless())
            assert answer.startswith(b"HTTP/1.1 413"), answer
            assert b"application/problem+json" in answer
            # Cut off near the limit, not after the 800 MB the client would have sent; the
            # socket buffers on both sides explain the slack.
            assert sent < 50 * limit, sent
            declared = head.replace(b"Transfer-Encoding: chunked", b"Content-Length: 10000000000")
            sent, answer = _raw_post(server.port, declared, iter([part]))
            assert answer.startswith(b"HTTP/1.1 413"), answer
        with urllib.request.urlopen(server.url + "/api/v1/health/ready", timeout=5) as answer:
            assert json.loads(answer.read())["ready"] is True
    assert list(spool.iterdir()) == []
    assert not (root / "uploads").exists() or list((root / "uploads").iterdir()) == []
    assert not (root / "jobs").exists() or list((root / "jobs").glob("*.json")) == []


def test_rows_limit_through_cli_api_and_jobs(
    cli: CliRunner, settings: Settings, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTRUN_MAX_ROWS", "100")
    refused = cli_create(cli, demo, settings.runs_root)
    assert refused.exit_code == 4 and "error[LIMIT_ROWS]" in refused.stderr
    assert "Traceback" not in refused.output + refused.stderr
    few = with_(settings, max_rows=100, enable_run_creation=True)
    with pytest.raises(QuantrunError) as caught:
        create_run(str(demo), symbol="D", strategy="buy_and_hold", timeframe="5m", settings=few)
    assert caught.value.code is ErrorCode.LIMIT_ROWS
    with open_client(few) as client:
        report = inspect(client, demo.read_bytes()).json()
        assert report["valid"] is False and report["error"]["code"] == "LIMIT_ROWS"
        accepted = post_run(client, demo.read_bytes())
        assert accepted.status_code == 202
        job = wait_for_job(client, accepted.json()["job"]["job_id"])
        assert job["state"] == "failed" and job["error"]["code"] == "LIMIT_ROWS"
    assert not (settings.runs_root / "runs").exists()


def test_input_size_limit_through_the_cli(
    cli: CliRunner, runs_root: Path, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTRUN_MAX_INPUT_BYTES", "1000")
    refused = cli_create(cli, demo, runs_root)
    assert refused.exit_code == 4 and "error[LIMIT_INPUT_SIZE]" in refused.stderr
    assert written(runs_root) == []


def test_queue_limit_is_kept_by_the_job_store_and_the_api(settings: Settings, demo: Path) -> None:
    one = with_(settings, max_queued_jobs=1, enable_run_creation=True)
    with open_client(one, start_worker=False) as client:  # nothing takes jobs off the queue
        first = post_run(client, demo.read_bytes())
        assert first.status_code == 202
        uploads = sorted((settings.runs_root / "uploads").iterdir())
        second = post_run(client, demo.read_bytes(), strategy="buy_and_hold", params="{}")
        body = assert_problem(second, 503, "LIMIT_QUEUE_FULL")
        assert body["extra"]["limit"] == 1
        assert sorted((settings.runs_root / "uploads").iterdir()) == uploads
        # The upload is hashed before the queue is checked: a repeat of the queued request
        # finds its job even while the queue is full, and nothing is queued twice.
        again = post_run(client, demo.read_bytes())
        assert again.status_code == 202
        assert again.json()["job"]["job_id"] == first.json()["job"]["job_id"]
        assert len(list((settings.runs_root / "jobs").glob("*.json"))) == 1
    store = JobStore(one)
    request = RunCreateRequest(paths=[str(demo)], symbol="D", strategy="buy_and_hold")
    with pytest.raises(QuantrunError) as caught:
        store.submit(request, upload_sha256=None)
    assert caught.value.code is ErrorCode.LIMIT_QUEUE_FULL
    assert [j["state"] for j in store.all()] == [QUEUED]


def test_concurrent_builds_are_limited_for_every_edge(
    cli: CliRunner, settings: Settings, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = with_(settings, max_concurrent_jobs=1)
    slots = BuildSlots(settings.runs_root, 1)
    with slots.hold():  # another process's build, as far as the builder can tell
        assert slots.busy() == 1
        monkeypatch.setenv("QUANTRUN_MAX_CONCURRENT_JOBS", "1")
        refused = cli_create(cli, demo, settings.runs_root)
        assert refused.exit_code == CATALOGUE[ErrorCode.LIMIT_CONCURRENT_BUILDS].exit_code == 4
        assert "error[LIMIT_CONCURRENT_BUILDS]" in refused.stderr
        with pytest.raises(QuantrunError) as caught:
            create_run(str(demo), symbol="D", strategy="buy_and_hold", settings=one)
        assert caught.value.code is ErrorCode.LIMIT_CONCURRENT_BUILDS
        assert not (settings.runs_root / "runs").exists()

        # A queued job waits for a slot instead of failing.
        store = JobStore(one)
        job, _ = store.submit(
            RunCreateRequest(paths=[str(demo)], symbol="D", strategy="buy_and_hold"), None
        )
        done: list[dict[str, Any]] = []
        worker = threading.Thread(target=lambda: done.append(execute_job(one, job["job_id"])))
        worker.start()
        deadline = time.monotonic() + 20
        while store.get(job["job_id"])["stage"] != "waiting":
            assert time.monotonic() < deadline, store.get(job["job_id"])
            time.sleep(0.05)
    worker.join(60)
    assert done and done[0]["state"] == "succeeded", done
    assert slots.busy() == 0
    # Two slots: two builds at once are fine.
    two = with_(settings, max_concurrent_jobs=2)
    with BuildSlots(settings.runs_root, 2).hold():
        result = create_run(str(demo), symbol="D", strategy="sma_crossover", settings=two)
    assert result.created


# --- kill switch and flag through API and CLI -----------------------------------------------


def test_corrupt_kill_switch_blocks_cli_api_and_shows_in_readiness(
    cli: CliRunner, settings: Settings, demo: Path
) -> None:
    control = settings.runs_root / "control"
    control.mkdir(parents=True)
    (control / "killswitch.json").write_bytes(b"\x00garbage")
    refused = cli_create(cli, demo, settings.runs_root)
    assert refused.exit_code == 4 and "error[KILL_SWITCH_ENGAGED]" in refused.stderr
    status = cli.invoke(main, ["killswitch", "status", "--runs-root", str(settings.runs_root)])
    assert status.exit_code == 0 and "unreadable" in status.output
    with open_client(with_(settings, enable_run_creation=True)) as client:
        body = assert_problem(post_run(client, demo.read_bytes()), 503, "KILL_SWITCH_ENGAGED")
        assert body["extra"]["kill_switch"]["state_readable"] is False
        ready = client.get("/api/v1/health/ready").json()
        assert ready["ready"] is True  # reads still work
        assert ready["kill_switch"]["engaged"] is True and ready["accepting_runs"] is False
        page = client.get("/runs/new")
        assert "kill switch" in page.text.lower()
        # The page must not suggest the CLI: the switch stops it too.
        assert "creation-cli-blocked" in page.text and "can still be created" not in page.text
    assert not (settings.runs_root / "runs").exists()


def test_flag_off_refuses_api_creation_but_not_the_cli(
    cli: CliRunner, settings: Settings, demo: Path
) -> None:
    with open_client(settings) as client:
        assert_problem(post_run(client, demo.read_bytes()), 403, "RUN_CREATION_DISABLED")
        ready = client.get("/api/v1/health/ready").json()
        assert ready["run_creation_enabled"] is False and ready["accepting_runs"] is False
    assert cli_create(cli, demo, settings.runs_root).exit_code == 0


# --- readiness ------------------------------------------------------------------------------


def test_readiness_reports_each_failing_check(settings: Settings) -> None:
    with open_client(settings) as client:
        ok = client.get("/api/v1/health/ready").json()
        assert ok["ready"] and set(ok["checks"]) == {
            "recovery",
            "registry",
            "storage",
            "disk",
            "worker",
        }
        assert ok["checks"]["storage"]["detail"] == "write + fsync + delete succeeded"
        assert list((settings.runs_root / "control").iterdir()) == []  # the probe is gone
        (settings.runs_root / "index.json").write_text("{torn")
        torn = client.get("/api/v1/health/ready")
        assert torn.status_code == 503 and torn.json()["checks"]["registry"]["ok"] is False
        assert torn.json()["status"] == "not_ready"
    with open_client(with_(settings, min_free_disk_bytes=1 << 62)) as client:
        full = client.get("/api/v1/health/ready")  # start-up recovery rebuilt the index
        assert full.status_code == 503
        checks = full.json()["checks"]
        assert checks["disk"]["ok"] is False and checks["registry"]["ok"] is True
    (settings.runs_root / "control").rmdir()
    (settings.runs_root / "control").write_text("not a folder")
    with open_client(settings) as client:
        broken = client.get("/api/v1/health/ready").json()
        assert broken["checks"]["storage"]["ok"] is False
        assert broken["kill_switch"]["engaged"] is True  # fail-closed
        assert str(settings.runs_root) not in json.dumps(broken)


# --- structured logs ------------------------------------------------------------------------


def test_requests_and_jobs_log_json_lines_with_their_ids(settings: Settings, demo: Path) -> None:
    marker = "31415.9265"  # an extra column's value: appears in the upload only
    rows = demo.read_bytes().decode().splitlines()
    content = "\n".join([rows[0] + ",note"] + [r + f",{marker}" for r in rows[1:]]).encode()
    stream = io.StringIO()
    configure("info", stream)
    try:
        with open_client(with_(settings, enable_run_creation=True)) as client:
            accepted = post_run(client, content)
            request_id = accepted.headers["x-request-id"]
            job = wait_for_job(client, accepted.json()["job"]["job_id"])
            assert job["state"] == "succeeded"
            client.get("/api/v1/runs?symbol=secret-query-value")
        # The job ran in a worker process; the same job in-process logs with its id here.
        store = JobStore(settings)
        again = store.submit(
            RunCreateRequest(paths=[str(demo)], symbol="D", strategy="buy_and_hold"), None
        )[0]
        execute_job(settings, again["job_id"])
    finally:
        configure("warning")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = {e["event"] for e in lines}
    assert {"service.started", "request.finished", "job.queued", "ingest.stored"} <= events
    finished = [e for e in lines if e["event"] == "request.finished"]
    post = next(e for e in finished if e["method"] == "POST")
    assert post["request_id"] == request_id and post["status"] == 202
    assert post["path"] == "/api/v1/runs" and isinstance(post["ms"], float)
    queued = next(e for e in lines if e["event"] == "job.queued")
    assert queued["request_id"] == request_id  # core lines carry the request's id
    job_lines = [e for e in lines if e.get("job_id") == again["job_id"]]
    assert {"build.started", "build.done", "job.succeeded"} <= {e["event"] for e in job_lines}
    assert all(e["level"] in {"info", "warning", "error", "debug"} for e in lines)
    text = stream.getvalue()
    assert marker not in text and "secret-query-value" not in text


# --- CSV exports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-0.0123", "-0.0123"),
        ("+5", "+5"),
        ("-1e-05", "-1e-05"),
        ("plain", "plain"),
        (-0.5, "-0.5"),
        (None, ""),
        (True, "true"),
    ],
)
def test_safe_cell_escapes_formulas_but_not_numbers(value: Any, cell: str) -> None:
    assert safe_cell(value) == cell


def test_runs_export_escapes_user_file_names_everywhere(
    cli: CliRunner, settings: Settings, demo: Path
) -> None:
    hostile = demo.parent / "=HYPERLINK(evil).csv"
    hostile.write_bytes(demo.read_bytes())
    run_id = create_run(
        str(hostile), symbol="D", strategy="buy_and_hold", timeframe="1h", settings=settings
    ).run_id
    exported = export_runs_csv(settings)
    rows = list(csv.DictReader(io.StringIO(exported.decode())))
    assert [r["run_id"] for r in rows] == [run_id]
    assert rows[0]["sources"] == "'=HYPERLINK(evil).csv"
    assert float(rows[0]["total_return"]) == pytest.approx(
        json.loads((settings.runs_root / "runs" / run_id / "manifest.json").read_text())["summary"][
            "total_return"
        ]
    )
    assert rows[0]["params"] == "{}" and rows[0]["read_only"] == "false"
    out = cli.invoke(main, ["runs", "list", "--csv", "--runs-root", str(settings.runs_root)])
    assert out.exit_code == 0 and out.stdout_bytes == exported
    both = cli.invoke(main, ["runs", "list", "--csv", "--limit", "3", "--runs-root", "x"])
    assert both.exit_code == 2 and "error[USAGE_INVALID_OPTION]" in both.stderr
    with open_client(settings, start_worker=False) as client:
        answer = client.get("/api/v1/runs.csv?symbol=D")
        assert answer.status_code == 200 and answer.content == exported
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        assert (
            client.get("/api/v1/runs.csv?symbol=NONE").text
            == exported.decode().split("\n")[0] + "\n"
        )
        assert 'href="/api/v1/runs.csv' in client.get("/runs").text


def test_trades_csv_escapes_string_cells(settings: Settings) -> None:
    import polars as pl

    from quantrun.runs.artifacts import trades_csv_bytes

    frame = pl.DataFrame(
        {
            "entry_ts": [0],
            "exit_ts": [60_000_000],
            "exit_reason": ["=cmd"],
            "pnl": [-1.5],
        }
    )
    text = trades_csv_bytes(frame).decode()
    assert text.splitlines()[1].endswith(",'=cmd,-1.5")


# --- ids and artifact names -----------------------------------------------------------------


def test_artifact_names_cannot_leave_the_run_folder(settings: Settings, demo: Path) -> None:
    run_id = create_run(
        str(demo), symbol="D", strategy="buy_and_hold", timeframe="1h", settings=settings
    ).run_id
    secret = settings.runs_root.parent / "secret.txt"
    secret.write_text("do not serve me")
    with open_client(settings, start_worker=False) as client:
        base = f"/api/v1/runs/{run_id}/artifacts/"
        for name in ("../index.json", "..%2Findex.json", "%2e%2e/index.json", "/etc/passwd"):
            answer = client.get(base + name)
            assert answer.status_code == 404, (name, answer.text)
        for bad_id in ("../../etc", "zzzzzzzz", run_id[:7], "%2e%2e"):
            assert client.get(f"/api/v1/runs/{bad_id}").status_code == 404, bad_id
        assert client.get("/api/v1/jobs/..%2F..%2Findex").status_code == 404
        target = settings.runs_root / "runs" / run_id / "trades.csv"
        target.unlink()
        target.symlink_to(secret)
        planted = client.get(base + "trades.csv")
        assert_problem(planted, 409, "RUN_VERIFY_FAILED")
        assert "do not serve me" not in planted.text


def test_a_symlinked_run_folder_is_not_served(settings: Settings, demo: Path) -> None:
    run_id = create_run(
        str(demo), symbol="D", strategy="buy_and_hold", timeframe="1h", settings=settings
    ).run_id
    folder = settings.runs_root / "runs" / run_id
    elsewhere = settings.runs_root.parent / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)
    with open_client(settings, start_worker=False) as client:
        answer = client.get(f"/api/v1/runs/{run_id}/artifacts/metrics.json")
        assert_problem(answer, 409, "RUN_VERIFY_FAILED")


# --- serving ----------------------------------------------------------------------------------


def test_serving_on_a_specific_address_allows_that_host(settings: Settings) -> None:
    from quantrun.web.server import allowing_bind_host

    assert allowing_bind_host(settings, "127.0.0.1") == settings
    assert allowing_bind_host(settings, "0.0.0.0") == settings  # names unknown: settings decide
    lan = allowing_bind_host(settings, "192.168.1.5")
    assert lan.allowed_host_names[-1] == "192.168.1.5"
    assert allowing_bind_host(settings, "fe80::1").allowed_host_names[-1] == "[fe80::1]"


def test_serve_on_a_busy_port_is_a_usage_error(cli: CliRunner, runs_root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli.invoke(main, ["serve", "--port", str(port), "--runs-root", str(runs_root)])
    assert result.exit_code == 2, result.output
    assert f"error[USAGE_INVALID_OPTION]: cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "quantrun on http" not in result.stderr


def test_problem_type_links_resolve_to_the_served_catalogue(settings: Settings) -> None:
    with open_client(settings, start_worker=False) as client:
        problem = client.get("/api/v1/runs/0123456789abcdef").json()
        page, anchor = problem["type"].split("#")
        catalogue = client.get(page)
        assert catalogue.status_code == 200
        assert f'id="{anchor}"' in catalogue.text
        codes = [e["code"] for e in client.get(page + "?format=json").json()["errors"]]
        assert codes == [str(code) for code in CATALOGUE]


def test_line_and_column_limits_through_the_api_and_the_cli(
    cli: CliRunner, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = "time,open,high,low,close,volume"
    wide = tmp_path / "wide.csv"
    wide.write_text(header + ",x" * 10 + "\n2024-01-01T00:00:00Z,1,1,1,1,1" + ",0" * 10 + "\n")
    long_line = tmp_path / "long.csv"
    long_line.write_text(header + ",note\n2024-01-01T00:00:00Z,1,1,1,1,1," + "n" * 5000 + "\n")
    tight = with_(settings, max_line_bytes=1000, max_columns=8)
    with open_client(tight, start_worker=False) as client:
        for path, code in ((wide, "LIMIT_COLUMNS"), (long_line, "LIMIT_LINE_LENGTH")):
            report = inspect(client, path.read_bytes()).json()
            assert report["valid"] is False and report["error"]["code"] == code
    monkeypatch.setenv("QUANTRUN_MAX_COLUMNS", "8")
    monkeypatch.setenv("QUANTRUN_MAX_LINE_BYTES", "1000")
    for path, code in ((wide, "LIMIT_COLUMNS"), (long_line, "LIMIT_LINE_LENGTH")):
        refused = cli_create(cli, path, settings.runs_root)
        assert refused.exit_code == 4 and f"error[{code}]" in refused.stderr
    # The second command found a RUNS_ROOT (the first one's build-slot locks) and recovered it
    # into an empty index; no data of either refused input was kept.
    for folder in ("datasets", "runs", "staging", "uploads"):
        assert not (settings.runs_root / folder).exists(), folder


def test_a_nearly_full_disk_refuses_runs_and_uploads_everywhere(
    cli: CliRunner, settings: Settings, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = with_(settings, min_free_disk_bytes=1 << 62, enable_run_creation=True)
    with pytest.raises(QuantrunError) as caught:
        create_run(str(demo), symbol="D", strategy="buy_and_hold", settings=full)
    assert caught.value.code is ErrorCode.LIMIT_DISK_FULL
    assert caught.value.extra["min_free_bytes"] == 1 << 62
    monkeypatch.setenv("QUANTRUN_MIN_FREE_DISK_BYTES", str(1 << 62))
    refused = cli_create(cli, demo, settings.runs_root)
    assert refused.exit_code == 4 and "error[LIMIT_DISK_FULL]" in refused.stderr
    with open_client(full) as client:
        answer = post_run(client, demo.read_bytes())
        assert_problem(answer, 507, "LIMIT_DISK_FULL")
        assert client.get("/api/v1/health/ready").status_code == 503
    assert not (settings.runs_root / "uploads").exists()
    assert not (settings.runs_root / "runs").exists()


def test_a_forged_forwarded_for_does_not_reset_the_rate_limit(tmp_path: Path) -> None:
    env = {"QUANTRUN_RATE_LIMIT_PER_MINUTE": "2"}
    with LiveServer(tmp_path / "root", env=env) as server:
        statuses = []
        for n in range(4):
            request = urllib.request.Request(
                server.url + "/api/v1/inspect",
                data=b"--B\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--B--\r\n",
                headers={
                    "Content-Type": "multipart/form-data; boundary=B",
                    "X-Forwarded-For": f"10.0.0.{n}",
                    "Forwarded": f"for=10.0.0.{n}",
                },
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as refused:
                statuses.append(refused.code)
        assert statuses[2:] == [429, 429], statuses


def test_every_answer_carries_the_security_headers(settings: Settings) -> None:
    with open_client(settings, start_worker=False) as client:
        for answer in (
            client.get("/runs"),
            client.get("/api/v1/runs"),
            client.get("/api/v1/runs", headers={"host": "rebind.example"}),
            client.get("/static/app.js"),
        ):
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
            assert answer.headers["referrer-policy"] == "same-origin"


def test_previews_are_limited_like_builds(
    settings: Settings, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantrun.web import views

    monkeypatch.setattr(views, "PREVIEW_WAIT_SECONDS", 0.2)
    with open_client(with_(settings, max_concurrent_jobs=1), start_worker=False) as client:
        ctx = client.app.state.ctx  # type: ignore[attr-defined]  # TestClient.app is the app
        assert ctx.previews.acquire(timeout=1)  # another preview in progress
        try:
            busy = inspect(client, demo.read_bytes())
            body = assert_problem(busy, 503, "LIMIT_CONCURRENT_BUILDS")
            assert "being checked" in body["detail"]
        finally:
            ctx.previews.release()
        assert inspect(client, demo.read_bytes()).json()["valid"] is True


def test_start_up_sweeps_partial_uploads_of_a_dead_server(settings: Settings) -> None:
    uploads = settings.runs_root / "uploads"
    uploads.mkdir(parents=True)
    stale = uploads / ".upload-dead.part"
    stale.write_bytes(b"half an upload")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    fresh = uploads / ".upload-live.part"  # another live server's upload in progress
    fresh.write_bytes(b"still arriving")
    kept = uploads / ("a" * 64 + ".csv")
    kept.write_bytes(b"a stored upload")
    with open_client(settings, start_worker=False):
        pass
    assert sorted(p.name for p in uploads.iterdir()) == sorted([fresh.name, kept.name])


# --- hints per edge -----------------------------------------------------------------------


def test_web_hints_name_form_fields_and_api_fields_not_cli_flags(
    settings: Settings, write_csv: Any
) -> None:
    from conftest import minute_rows
    from quantrun.web.hints import WEB_HINTS

    for code, hint in WEB_HINTS.items():
        assert "--" not in hint and "`quantrun" not in hint, code
        assert hint != CATALOGUE[code].hint, code
    rows = minute_rows(5)
    unsorted = write_csv([rows[1], rows[0], *rows[2:]])
    with open_client(with_(settings, enable_run_creation=True), start_worker=False) as client:
        report = inspect(client, unsorted.read_bytes()).json()
        assert report["error"]["code"] == "CSV_UNSORTED"
        assert "'Sort rows by time' (API: sort=true)" in report["error"]["hint"]
        unknown = post_run(client, unsorted.read_bytes(), strategy="nope")
        assert assert_problem(unknown, 400, "STRATEGY_UNKNOWN")["hint"].startswith("Pick a")
        symbol = post_run(client, unsorted.read_bytes(), symbol="bad symbol!")
        # A hint written for this one failure is kept as it is.
        assert "letters, digits" in assert_problem(symbol, 400, "USAGE_INVALID_OPTION")["hint"]
    cli = CliRunner().invoke(main, ["data", "inspect", str(unsorted)])
    assert "pass --sort" in cli.stderr  # the CLI keeps the catalogue's hint


def test_resubmitting_a_known_job_restores_its_deleted_upload(
    settings: Settings, demo: Path
) -> None:
    with open_client(with_(settings, enable_run_creation=True), start_worker=False) as client:
        first = post_run(client, demo.read_bytes())
        (stored,) = (settings.runs_root / "uploads").glob("*.csv")
        stored.unlink()  # someone cleaned the uploads folder by hand
        again = post_run(client, demo.read_bytes())
        assert again.json()["job"]["job_id"] == first.json()["job"]["job_id"]
        assert stored.read_bytes() == demo.read_bytes()

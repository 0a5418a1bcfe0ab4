"""The acceptance journeys (DESIGN §8) in a real headless Chromium against ``quantrun serve``.

Each page visited is saved as a full-page screenshot under ``test-output/screenshots/`` for a
reviewer. Every page is also checked for a stack trace or the server's RUNS_ROOT path, and for
uncaught JavaScript errors. Waits are bounded; the whole module takes well under a minute.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED_DATA
from quantrun.data.demo import write_demo_csv
from quantrun.runs.jobs import RUNNING, JobStore
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings
from web_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        f"browser journeys need Chromium at {CHROMIUM} (CI installs it: apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402  (after the skip: the module needs a browser)
    APIRequestContext,
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    Route,
    expect,
    sync_playwright,
)

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
STEP_TIMEOUT_MS = 15_000
JOB_TIMEOUT_MS = 45_000
RUN_URL = re.compile(r"/runs/(?P<run_id>[0-9a-f]{64})(\?|$)")
UTC_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")

MISSING_CLOSE_CSV = (
    "time,open,high,low,volume\n"
    "2024-01-01T00:00:00Z,100,101,99,5\n"
    "2024-01-01T00:01:00Z,100,101,99,5\n"
)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def real_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real month of 1-minute bars, or the generated demo month when the data is absent."""
    files = sorted(SHARED_DATA.glob("*.csv")) if SHARED_DATA.is_dir() else []
    preferred = [f for f in files if f.name.startswith("LTCUSDT")] or files
    if preferred:
        return preferred[0]
    return write_demo_csv(tmp_path_factory.mktemp("data") / "DEMOUSD-1m.csv", days=10)


def symbol_of(csv: Path) -> str:
    return csv.name.split("-")[0]


@dataclass
class Visit:
    """A browser tab that screenshots and checks every page it is asked to record."""

    page: Page
    server: LiveServer
    journey: str
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def record(self, name: str) -> Path:
        """Screenshot the whole page and check it shows nothing a user must never see."""
        self.page.wait_for_load_state("load")
        text = self.page.content()
        assert "Traceback" not in text, f"{self.page.url} shows a stack trace"
        for secret in (str(self.server.runs_root), str(self.server.runs_root.resolve())):
            assert secret not in text, f"{self.page.url} shows the RUNS_ROOT path"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.journey}-{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def goto(self, path: str) -> Response:
        response = self.page.goto(self.server.url + path, wait_until="load")
        assert response is not None
        return response

    @property
    def api(self) -> APIRequestContext:
        return self.page.request


VisitFactory = Callable[[LiveServer, str], Visit]


@pytest.fixture
def visit_factory(browser: Browser) -> Iterator[VisitFactory]:
    """Open a fresh browser context per journey; after the test, fail on any script error or
    failed request seen on the way."""
    pages: list[Visit] = []

    def make(server: LiveServer, journey: str) -> Visit:
        for stale in SCREENSHOTS.glob(f"{journey}-*.png"):
            stale.unlink()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
        page = context.new_page()
        visit = Visit(page, server, journey)

        def on_console(message: ConsoleMessage) -> None:
            # Resource failures are checked below by URL; this catches script errors.
            if message.type == "error" and "Failed to load resource" not in message.text:
                visit.errors.append(message.text)

        def on_response(response: Response) -> None:
            if response.status >= 500 or (response.status == 404 and "/static/" in response.url):
                visit.failed.append(f"{response.status} {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: visit.errors.append(str(exc)))
        page.on("response", on_response)
        pages.append(visit)
        return visit

    yield make
    for visit in pages:
        visit.page.context.close()
    for visit in pages:
        assert visit.errors == [], f"JavaScript errors in {visit.journey}: {visit.errors}"
        assert visit.failed == [], f"failed requests in {visit.journey}: {visit.failed}"


def wait_for_job_api(visit: Visit, job_id: str, timeout_s: float = 45.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = visit.api.get(f"{visit.server.url}/api/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id[:12]} still {job['state']}"
        time.sleep(0.1)


def assert_chart_drawn(page: Page, selector: str, trace_type: str) -> int:
    """The plotly chart rendered an SVG with at least one non-empty trace of ``trace_type``;
    returns how many candles were drawn (candlestick) or points plotted (lines)."""
    expect(page.locator(f"{selector} .main-svg").first).to_be_attached()
    drawn: dict[str, Any] = page.evaluate(
        """([selector, type]) => {
            const gd = document.querySelector(selector);
            const traces = (gd.data || []).filter((t) => t.type === type);
            const points = traces.reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
            const boxes = gd.querySelectorAll('.cartesianlayer .trace.boxes path').length;
            const lines = Array.from(gd.querySelectorAll('.scatterlayer .trace path.js-line'))
                .filter((p) => (p.getAttribute('d') || '').length > 10).length;
            return {traces: traces.length, points, boxes, lines};
        }""",
        [selector, trace_type],
    )
    assert drawn["traces"] >= 1 and drawn["points"] > 0, drawn
    if trace_type == "candlestick":
        assert drawn["boxes"] > 0, drawn
        return int(drawn["boxes"])
    assert drawn["lines"] > 0, drawn
    return int(drawn["points"])


# --- journeys -------------------------------------------------------------------------------


def test_upload_watch_and_open_a_new_run(
    visit_factory: VisitFactory, real_csv: Path, tmp_path: Path
) -> None:
    """Journey 5 (and 2): /runs/new → preview → submit → progress → the run workspace."""
    symbol = symbol_of(real_csv)
    with LiveServer(tmp_path / "runs-root", enable_run_creation=True) as server:
        visit = visit_factory(server, "a-new-run")
        page = visit.page

        visit.goto("/runs")
        expect(page.locator("#runs-empty")).to_be_visible()
        visit.record("runs-empty")

        page.click("#new-run-link")
        page.wait_for_url("**/runs/new")
        expect(page.locator("#new-run-form")).to_be_visible()
        page.set_input_files("#file", str(real_csv))
        preview = page.locator("#preview")
        expect(preview).to_have_attribute("data-state", "valid", timeout=30_000)
        expect(page.locator("#preview-verdict")).to_have_text("valid")
        expect(page.locator("#preview-rows")).to_contain_text("(1m)")
        page.fill("#symbol", symbol)
        page.select_option("#timeframe", "15m")
        page.select_option("#strategy", "sma_crossover")
        page.select_option("#risk", "conservative")
        expect(page.locator('.strategy-params[data-strategy="sma_crossover"]')).to_be_visible()
        visit.record("new-run-preview")

        # Hold the progress page's polling until its first state has been seen and recorded.
        job_api = re.compile(r"/api/v1/jobs/[0-9a-f]{64}$")
        held: list[Route] = []
        released = False

        def hold(route: Route) -> None:
            if released:
                route.continue_()
            else:
                held.append(route)

        page.route(job_api, hold)
        page.click("#submit-run")
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{64}$"))
        job_id = page.url.rsplit("/", 1)[1]
        state = page.locator("#job-state")
        expect(state).to_have_attribute("data-state", re.compile("^(queued|running)$"))
        expect(state.locator(".badge")).to_have_text(re.compile("^(Queued|Running)$"))
        visit.record("job-progress")
        released = True
        for route in held:
            route.continue_()
        page.unroute(job_api)

        page.wait_for_url(RUN_URL, timeout=JOB_TIMEOUT_MS)
        match = RUN_URL.search(page.url)
        assert match is not None and "flash=created" in page.url
        run_id = match["run_id"]
        flash = page.locator(".flash")
        expect(flash).to_be_visible()
        expect(flash).to_contain_text("Run created")
        expect(page.locator("#run-id")).to_have_text(run_id)

        candles = assert_chart_drawn(page, "#price-chart", "candlestick")
        assert candles > 100
        assert_chart_drawn(page, "#equity-chart", "scatter")
        metric_rows = page.locator("#metrics-table tbody tr")
        assert metric_rows.count() >= 10
        expect(page.locator("#metrics-table")).to_contain_text("Sharpe")
        expect(page.locator("#quality-panel")).to_be_visible()
        expect(page.locator("#decisions-table tbody tr").first).to_be_visible()
        visit.record("run-workspace")

        job = visit.api.get(f"{server.url}/api/v1/jobs/{job_id}").json()
        assert (job["state"], job["run_id"], job["created"]) == ("succeeded", run_id, True)
        api_run = visit.api.get(f"{server.url}/api/v1/runs/{run_id}").json()
        identity = api_run["manifest"]["identity"]
        assert (identity["symbol"], identity["timeframe"]) == (symbol, "15m")
        assert identity["strategy"]["id"] == "sma_crossover"
        assert api_run["manifest"]["risk"]["level"] == "conservative"

        page.click("#nav-runs")
        page.wait_for_url("**/runs")
        row = page.locator(f'tr.run-row[data-run-id="{run_id}"]')
        expect(row).to_be_visible()
        expect(row).to_contain_text(symbol)
        expect(row).to_contain_text("sma_crossover")
        expect(row.locator(".badge.state")).to_have_text("Succeeded")
        expect(row).to_contain_text(UTC_TIME)
        expect(page.locator("#runs-count")).to_have_text("1 run")
        visit.record("runs-listed")


def test_invalid_csv_fails_closed_with_its_code(
    visit_factory: VisitFactory, tmp_path: Path
) -> None:
    """Journey 4: an invalid CSV shows the stable code and a hint; nothing is listed."""
    broken = tmp_path / "broken.csv"
    broken.write_text(MISSING_CLOSE_CSV, encoding="utf-8")
    with LiveServer(tmp_path / "runs-root", enable_run_creation=True) as server:
        visit = visit_factory(server, "b-invalid-csv")
        page = visit.page

        visit.goto("/runs/new")
        page.set_input_files("#file", str(broken))
        expect(page.locator("#preview")).to_have_attribute("data-state", "invalid")
        preview_error = page.locator("#preview-error")
        expect(preview_error.locator(".error-code")).to_have_text("CSV_MISSING_COLUMN")
        expect(preview_error.locator(".error-hint")).to_be_visible()
        page.fill("#symbol", "BROKEN")
        visit.record("preview-invalid")

        # Submitting anyway: the job fails closed with the same code and offers a retry.
        page.click("#submit-run")
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{64}$"))
        job_id = page.url.rsplit("/", 1)[1]
        expect(page.locator("#job-state")).to_have_attribute(
            "data-state", "failed", timeout=JOB_TIMEOUT_MS
        )
        job_error = page.locator("#job-error")
        expect(job_error.locator(".error-code")).to_have_text("CSV_MISSING_COLUMN")
        expect(job_error).to_contain_text("close")
        expect(page.locator("#retry-button")).to_be_visible()
        visit.record("job-failed")
        api_job = visit.api.get(f"{server.url}/api/v1/jobs/{job_id}").json()
        assert api_job["state"] == page.get_attribute("#job-state", "data-state") == "failed"

        # The retry runs the job again; the same file fails the same way, now attempt 2.
        page.click("#retry-button")
        expect(page.locator("#job-attempts")).to_have_text("2", timeout=JOB_TIMEOUT_MS)
        expect(page.locator("#job-state")).to_have_attribute("data-state", "failed")
        expect(page.locator("#job-error .error-code")).to_have_text("CSV_MISSING_COLUMN")

        visit.goto("/runs")
        expect(page.locator("#runs-empty")).to_be_visible()
        expect(page.locator("#runs-count")).to_have_text("0 runs")
        failed_row = page.locator(f'tr.job-row[data-job-id="{job_id}"]')
        expect(failed_row).to_have_attribute("data-state", "failed")
        expect(failed_row.locator(".error-code")).to_have_text("CSV_MISSING_COLUMN")
        visit.record("runs-nothing-listed")
        listing = visit.api.get(f"{server.url}/api/v1/runs").json()
        assert (listing["total"], listing["runs"]) == (0, [])
        assert not (server.runs_root / "runs").exists() or not any(
            (server.runs_root / "runs").iterdir()
        )


def test_creation_off_explains_and_refuses(
    visit_factory: VisitFactory, real_csv: Path, tmp_path: Path
) -> None:
    """With the kill switch off, /runs/new says how to turn it on and the API refuses."""
    with LiveServer(tmp_path / "runs-root") as server:
        visit = visit_factory(server, "c-creation-off")
        page = visit.page

        visit.goto("/runs")
        expect(page.locator("#creation-notice")).to_contain_text("--enable-run-creation")
        visit.record("runs-read-only")

        visit.goto("/runs/new")
        notice = page.locator("#creation-disabled")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("--enable-run-creation")
        expect(notice).to_contain_text("QUANTRUN_ENABLE_RUN_CREATION")
        expect(page.locator("#new-run-form")).to_have_count(0)
        visit.record("new-run-disabled")

        refused = visit.api.post(
            f"{server.url}/api/v1/runs",
            multipart={
                "file": {
                    "name": real_csv.name,
                    "mimeType": "text/csv",
                    "buffer": real_csv.read_bytes()[:4096],
                },
                "symbol": "X",
                "strategy": "sma_crossover",
            },
        )
        assert refused.status == 403
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert body["code"] == "RUN_CREATION_DISABLED" and body["request_id"]
        assert not (server.runs_root / "jobs").exists()


def test_runs_survive_a_server_restart(
    visit_factory: VisitFactory, real_csv: Path, tmp_path: Path
) -> None:
    """Journey 3: after the server restarts the run is still listed and still opens."""
    with LiveServer(tmp_path / "runs-root", enable_run_creation=True) as server:
        visit = visit_factory(server, "d-restart")
        page = visit.page
        accepted = visit.api.post(
            f"{server.url}/api/v1/runs",
            multipart={
                "file": {
                    "name": real_csv.name,
                    "mimeType": "text/csv",
                    "buffer": real_csv.read_bytes(),
                },
                "symbol": symbol_of(real_csv),
                "strategy": "buy_and_hold",
                "timeframe": "1h",
            },
        )
        assert accepted.status == 202, accepted.text()
        job_id = accepted.json()["job"]["job_id"]
        job = wait_for_job_api(visit, job_id)
        assert job["state"] == "succeeded", job
        run_id = job["run_id"]
        visit.goto(f"/runs/{run_id}")
        assert_chart_drawn(page, "#price-chart", "candlestick")
        before = visit.api.get(f"{server.url}/runs/{run_id}?format=json").json()
        visit.record("run-before-restart")

        server.restart()

        visit.goto("/runs")
        row = page.locator(f'tr.run-row[data-run-id="{run_id}"]')
        expect(row.locator(".badge.state")).to_have_text("Succeeded")
        visit.record("runs-after-restart")
        row.locator("a.run-link").click()
        page.wait_for_url(f"**/runs/{run_id}")
        expect(page.locator("#run-id")).to_have_text(run_id)
        assert_chart_drawn(page, "#price-chart", "candlestick")
        assert_chart_drawn(page, "#equity-chart", "scatter")
        assert page.locator("#metrics-table tbody tr").count() >= 10
        visit.record("run-after-restart")
        after = visit.api.get(f"{server.url}/runs/{run_id}?format=json").json()
        assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
        assert visit.api.get(f"{server.url}/api/v1/jobs/{job_id}").json() == job
        for name in ("..%2Findex.json", "..%2F..%2Fjobs", "secret"):
            outside = visit.api.get(f"{server.url}/api/v1/runs/{run_id}/artifacts/{name}")
            assert outside.status == 404 and outside.json()["code"] == "RUN_NOT_FOUND", name
    assert server.exit_codes and all(code in (0, -15, 143) for code in server.exit_codes)


def test_a_running_job_shows_its_state_and_stage(
    visit_factory: VisitFactory, tmp_path: Path
) -> None:
    """Long work shows its state and never blocks the page; the UI's status is the API's.

    The job is made by hand and its lock held by this test, so the server sees a live
    worker and the job stays ``running`` for as long as the test needs.
    """
    root = tmp_path / "runs-root"
    store = JobStore(Settings(runs_root=root))
    request = RunCreateRequest.model_validate(
        {"paths": ["slow.csv"], "symbol": "SLOWUSD", "strategy": "sma_crossover"}
    )
    job, _ = store.submit(request, None)
    job_id = job["job_id"]
    store.update(job_id, state=RUNNING, stage="simulate", started_at=job["created_at"])
    lock = store.lock(job_id)
    lock.acquire()
    try:
        with LiveServer(root, enable_run_creation=True) as server:
            visit = visit_factory(server, "e-running-job")
            page = visit.page
            with page.expect_response(re.compile(f"/api/v1/jobs/{job_id}$")) as polled:
                visit.goto(f"/jobs/{job_id}")
            assert polled.value.json()["state"] == "running"
            state = page.locator("#job-state")
            expect(state).to_have_attribute("data-state", "running")
            expect(state.locator(".badge")).to_have_text("Running")
            expect(page.locator("#job-stage")).to_have_text("simulate")
            expect(page.locator('#job-stages li[data-stage="simulate"]')).to_have_class("current")
            visit.record("job-running")
            api = visit.api.get(f"{server.url}/api/v1/jobs/{job_id}").json()
            assert api["state"] == page.get_attribute("#job-state", "data-state") == "running"

            visit.goto("/runs")
            row = page.locator(f'tr.job-row[data-job-id="{job_id}"]')
            expect(row.locator(".badge.state")).to_have_text("Running")
            visit.record("runs-job-in-flight")

            visit.goto(f"/jobs/{job_id}")
            expect(page.locator("#job-state")).to_have_attribute("data-state", "running")
            expect(page.locator("#retry-button")).to_be_hidden()  # retry only once it failed
    finally:
        lock.release()


def test_a_cross_site_form_cannot_create_a_run(
    visit_factory: VisitFactory, real_csv: Path, tmp_path: Path
) -> None:
    """A page from another origin auto-submits a form at the service (the CSRF attack a
    browser on this machine allows): Chromium sends its Origin and Sec-Fetch-Site, the guard
    refuses with CSRF_REJECTED, and nothing is queued."""
    with LiveServer(tmp_path / "runs-root", enable_run_creation=True) as server:
        visit = visit_factory(server, "f-cross-site")
        page = visit.page
        page.set_content(
            f"""<form id="attack" method="post" enctype="multipart/form-data"
                      action="{server.url}/api/v1/runs">
                  <input type="file" name="file" id="file">
                  <input name="symbol" value="X"><input name="strategy" value="buy_and_hold">
                </form>"""
        )
        page.set_input_files("#file", str(real_csv))
        with page.expect_navigation() as navigation:
            page.eval_on_selector("#attack", "form => form.submit()")
        response = navigation.value
        assert response is not None and response.status == 403
        assert json.loads(response.text())["code"] == "CSRF_REJECTED"
        assert not (server.runs_root / "jobs").exists()
        assert not (server.runs_root / "uploads").exists()
        # quantrun's own form still works: it sends X-Quantrun-Client (the upload journey uses it).
        visit.goto("/runs/new")
        expect(page.locator("#new-run-form")).to_be_visible()


def test_a_run_with_an_added_strategy_from_the_form(
    visit_factory: VisitFactory, tmp_path: Path
) -> None:
    """Issue 14: a strategy added with the CLI is offered on /runs/new with a form built from
    its parameters; the run it makes shows the code it ran."""
    from quantrun.api import add_strategy

    example = REPO / "examples" / "strategies" / "above_sma.py"
    root = tmp_path / "runs-root"
    add_strategy(example, Settings(runs_root=root))
    csv = write_demo_csv(tmp_path / "DEMOUSD-1m.csv", days=3)
    with LiveServer(root, enable_run_creation=True) as server:
        visit = visit_factory(server, "added-strategy")
        page = visit.page
        visit.goto("/strategies")
        expect(page.locator("#strategy-above_sma")).to_contain_text("added")
        expect(page.locator("#source-above_sma")).to_contain_text("class AboveSma")
        visit.record("strategies")

        visit.goto("/runs/new")
        page.set_input_files("#file", str(csv))
        expect(page.locator("#preview")).to_have_attribute("data-state", "valid", timeout=30_000)
        page.fill("#symbol", "DEMOUSD")
        page.select_option("#timeframe", "1h")
        page.select_option("#strategy", "above_sma")
        params = page.locator('.strategy-params[data-strategy="above_sma"]')
        expect(params).to_be_visible()
        page.fill("#param-above_sma-period", "12")
        visit.record("new-run-added-strategy")
        page.click("#submit-run")
        page.wait_for_url(RUN_URL, timeout=JOB_TIMEOUT_MS)
        match = RUN_URL.search(page.url)
        assert match is not None
        expect(page.locator("#strategy-source")).to_contain_text("class AboveSma")
        visit.record("run-with-added-strategy")
        api_run = visit.api.get(f"{server.url}/api/v1/runs/{match['run_id']}").json()
        strategy = api_run["manifest"]["identity"]["strategy"]
        assert (strategy["id"], strategy["params"]) == ("above_sma", {"period": 12})
        assert len(strategy["source_sha256"]) == 64

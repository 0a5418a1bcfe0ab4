"""A sweep in a real headless Chromium against ``quantrun serve``: the list, the sweep page with
its heatmap drawn, a click on a square that materialises that cell (a job: its page, then the
run) and lands on its run page, and two ticked cells compared.

The browser, the screenshot-taking ``Visit`` and the checks every page passes (no stack trace,
no RUNS_ROOT path, no script error, no failed request) are the journeys' own
(``tests/test_web_e2e.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

import test_web_e2e
from quantrun.api import create_run, create_sweep, open_sweep
from quantrun.data.demo import write_demo_csv
from quantrun.runs.jobs import JobStore
from quantrun.settings import Settings
from test_web_e2e import VisitFactory
from web_server import LiveServer

playwright = test_web_e2e.playwright
browser = test_web_e2e.browser
visit_factory = test_web_e2e.visit_factory

# The job page lands on the run with a flash note (?flash=created) when it wrote it.
RUN_URL = re.compile(r"/runs/(?P<run_id>[0-9a-f]{64})(\?flash=\w+)?$")


def _square_centre(page: Page, col: int, row: int) -> dict[str, float]:
    """Where square (col, row) of the heatmap is on the page, from plotly's own axes."""
    point: dict[str, float] = page.evaluate(
        """([col, row]) => {
            const gd = document.getElementById('sweep-heatmap');
            const box = gd.getBoundingClientRect();
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            return {x: box.left + xa._offset + xa.l2p(col), y: box.top + ya._offset + ya.l2p(row)};
        }""",
        [col, row],
    )
    return point


def test_open_a_sweep_see_the_heatmap_click_a_cell_land_on_its_run(
    visit_factory: VisitFactory, tmp_path: Path
) -> None:
    runs_root = tmp_path / "runs-root"
    settings = Settings(runs_root=runs_root)
    csv = write_demo_csv(tmp_path / "demo.csv", days=5)
    base: dict[str, Any] = {"symbol": "DEMOUSD", "strategy": "sma_crossover", "timeframe": "15m"}
    sweep = create_sweep(str(csv), settings, grid=["fast=5:20:5", "slow=30,60,90"], **base)
    sweep_id = sweep.sweep_id
    # The square clicked below: fast=15 (x index 2), slow=60 (y index 1); alone there.
    cell = next(c for c in sweep.cells() if c["params"]["fast"] == 15 and c["params"]["slow"] == 60)
    assert not (runs_root / "runs" / cell["run_id"]).exists()

    with LiveServer(runs_root, enable_run_creation=True) as server:
        visit = visit_factory(server, "h-sweep")
        page = visit.page
        visit.goto("/sweeps")
        row = page.locator(f'tr.sweep-row[data-sweep-id="{sweep_id}"]')
        expect(row).to_have_count(1)
        visit.record("sweeps")
        row.locator("a").click()
        page.wait_for_url(f"**/sweeps/{sweep_id}")

        heatmap = page.locator("#sweep-heatmap")
        expect(heatmap).to_have_attribute("data-drawn", "true")
        drawn = page.evaluate(
            """() => {
                const gd = document.getElementById('sweep-heatmap');
                const t = gd.data[0];
                return {type: t.type, x: t.x, y: t.y, rows: t.z.length,
                        painted: gd.querySelectorAll('.heatmaplayer image').length};
            }"""
        )
        assert drawn == {
            "type": "heatmap",
            "x": ["5", "10", "15", "20"],
            "y": ["30", "60", "90"],
            "rows": 3,
            "painted": 1,
        }
        expect(page.locator("#sweep-line")).to_have_attribute("data-drawn", "true")
        expect(page.locator("tr.sweep-cell")).to_have_count(12)
        visit.record("sweep-heatmap")

        point = _square_centre(page, 2, 1)
        page.mouse.click(point["x"], point["y"])
        page.wait_for_url(RUN_URL)
        match = RUN_URL.search(page.url)
        assert match is not None and match["run_id"] == cell["run_id"]
        expect(page.locator("body")).to_contain_text(cell["run_id"][:12])
        visit.record("cell-run")
        # It was written by a job, not inside the click's request.
        jobs = [j for j in JobStore(settings).all() if j.get("kind") == "materialize"]
        assert [(j["spec"]["cells"], j["state"], j["run_id"]) for j in jobs] == [
            ([cell["cell"]], "succeeded", cell["run_id"])
        ]

        # The run it wrote is the one `runs create` makes with the cell's parameters.
        other = Settings(runs_root=tmp_path / "runs-create")
        twin = create_run(str(csv), other, params=cell["params"], **base)
        assert twin.run_id == cell["run_id"]
        ours = runs_root / "runs" / cell["run_id"]
        assert {p.name: p.read_bytes() for p in ours.iterdir()} == {
            p.name: p.read_bytes() for p in twin.path.iterdir()
        }

        # Back on the sweep page, the cell's row now links straight to its run.
        visit.goto(f"/sweeps/{sweep_id}?sort=cell")
        link = page.locator(f'tr.sweep-cell[data-cell="{cell["cell"]}"] a.open-run')
        expect(link).to_have_attribute("href", f"/runs/{cell['run_id']}")
        # And a table button opens a cell not yet written.
        page.locator('tr.sweep-cell[data-cell="0"] button.open-cell').click()
        page.wait_for_url(RUN_URL)
        assert open_sweep(sweep_id, settings).cell(0).run_id in page.url

        # Tick two cells (one written, one not) and compare them: a job writes the missing run,
        # and its page lands on the comparison of both, in the order ticked.
        visit.goto(f"/sweeps/{sweep_id}?sort=cell")
        button = page.locator("#compare-button")
        expect(button).to_be_disabled()
        last = sweep.cells()[-1]
        assert not (runs_root / "runs" / last["run_id"]).exists()
        page.locator(f'tr.sweep-cell[data-cell="{cell["cell"]}"] input.compare-check').check()
        expect(page.locator("#compare-status")).to_contain_text("1 cell selected")
        page.locator(f'tr.sweep-cell[data-cell="{last["cell"]}"] input.compare-check').check()
        expect(page.locator("#compare-status")).to_contain_text(f"cell {cell['cell']}")
        expect(button).to_be_enabled()
        visit.record("sweep-cells-selected")
        button.click()
        page.wait_for_url(
            re.compile(rf"/compare\?runs={sweep_id}:{cell['cell']},{sweep_id}:{last['cell']}$")
        )
        compared = page.locator("#compare-runs tr.compare-run")
        expect(compared).to_have_count(2)
        assert compared.nth(0).get_attribute("data-run-id") == cell["run_id"]
        assert compared.nth(1).get_attribute("data-run-id") == last["run_id"]
        expect(page.locator("#equity-compare-chart .scatterlayer .trace")).to_have_count(2)
        visit.record("sweep-cells-compared")

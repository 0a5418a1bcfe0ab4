"""Comparing runs in a real headless Chromium against ``quantrun serve``: tick two runs in the
list, compare them, see both equity curves drawn, reload and go back without losing the
selection, and follow the first divergence to the decision row on a run page.

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
from quantrun.api import compare_runs, create_run
from quantrun.data.demo import write_demo_csv
from quantrun.settings import Settings
from test_web_e2e import VisitFactory
from web_server import LiveServer

# The journeys' fixtures: a browser tab per journey that checks and screenshots every page.
playwright = test_web_e2e.playwright
browser = test_web_e2e.browser
visit_factory = test_web_e2e.visit_factory


def _curves(page: Page, selector: str) -> dict[str, Any]:
    """The traces plotly drew in ``selector``: names, points and non-empty SVG lines."""
    drawn: dict[str, Any] = page.evaluate(
        """(selector) => {
            const gd = document.querySelector(selector);
            const traces = (gd.data || []).filter((t) => t.type === 'scatter');
            const lines = Array.from(gd.querySelectorAll('.scatterlayer .trace path.js-line'))
                .filter((p) => (p.getAttribute('d') || '').length > 10).length;
            return {names: traces.map((t) => t.name), points: traces.map((t) => t.x.length), lines};
        }""",
        selector,
    )
    return drawn


def test_select_two_runs_compare_them_and_keep_the_view(
    visit_factory: VisitFactory, tmp_path: Path
) -> None:
    runs_root = tmp_path / "runs-root"
    settings = Settings(runs_root=runs_root)
    csv = write_demo_csv(tmp_path / "demo.csv", days=6)
    made = [
        create_run(
            str(csv),
            settings,
            symbol="DEMOUSD",
            strategy="sma_crossover",
            timeframe="15m",
            params={"fast": fast, "slow": 30},
        ).run_id
        for fast in (10, 12)
    ]
    a, b = made
    expected = compare_runs([a, b], settings)
    found = expected.divergences[0].decisions
    assert found is not None and found.first is not None
    first = found.first

    with LiveServer(runs_root) as server:
        visit = visit_factory(server, "g-compare")
        page = visit.page
        visit.goto("/runs")
        button = page.locator("#compare-button")
        expect(button).to_be_disabled()
        page.locator(f'input.compare-check[value="{a}"]').check()
        expect(page.locator("#compare-status")).to_contain_text("1 run selected")
        page.locator(f'input.compare-check[value="{b}"]').check()
        expect(button).to_be_enabled()
        visit.record("runs-selected")
        button.click()
        page.wait_for_url(re.compile(rf"/compare\?runs={a},{b}$"))

        def check_view() -> None:
            labels = page.locator("#compare-runs tr.compare-run")
            expect(labels).to_have_count(2)
            assert labels.nth(0).get_attribute("data-run-id") == a
            assert labels.nth(1).get_attribute("data-run-id") == b
            fields = page.locator("#compare-fields tbody tr")
            expect(fields).to_have_count(1)
            assert fields.first.get_attribute("data-field") == "strategy.params.fast"
            expect(page.locator("#divergence-B .first-divergence-ts")).to_have_attribute(
                "data-ts", first.ts
            )
            expect(page.locator("#divergence-B .bars-differing")).to_have_attribute(
                "data-count", str(found.bars_differing)
            )
            expect(page.locator("#equity-compare-chart .main-svg").first).to_be_attached()
            for selector in ("#equity-compare-chart", "#drawdown-compare-chart"):
                expect(page.locator(f"{selector} .scatterlayer .trace")).to_have_count(2)
                drawn = _curves(page, selector)
                assert [n.split()[0] for n in drawn["names"]] == ["A", "B"], drawn
                assert all(p > 100 for p in drawn["points"]) and drawn["lines"] == 2, drawn
            sharpe = page.locator('#compare-metrics tr[data-metric="sharpe"] td.delta')
            expect(sharpe).to_have_count(1)

        check_view()
        visit.record("compare")

        # The URL is the view: a reload shows the same comparison.
        url = page.url
        page.reload(wait_until="load")
        assert page.url == url
        check_view()

        # Every field, then back to the differences, through links that keep the runs.
        page.locator("#fields-toggle").click()
        page.wait_for_url(re.compile(r"fields=all"))
        assert page.locator("#compare-fields tbody tr").count() > 40
        expect(page.locator('#compare-fields tr[data-differs="true"]')).to_have_count(1)
        visit.record("compare-all-fields")
        page.go_back(wait_until="load")
        assert page.url == url
        check_view()

        # Back on the run list, the selection is still ticked, in its order.
        page.go_back(wait_until="load")
        page.wait_for_url(re.compile(r"/runs$"))
        expect(page.locator(f'input.compare-check[value="{a}"]')).to_be_checked()
        expect(page.locator(f'input.compare-check[value="{b}"]')).to_be_checked()
        expect(page.locator("#compare-button")).to_be_enabled()
        page.go_forward(wait_until="load")
        check_view()

        # The first divergence leads to the decision row on the run page.
        first_link = page.locator("#divergence-B a.decision-link").first
        seq = (first.reference or first.other)[0].seq
        first_link.click()
        page.wait_for_url(re.compile(r"/runs/[0-9a-f]{64}\?decisions_page=\d+&decision=\d+"))
        linked = page.locator("#decisions-table tr.linked")
        expect(linked).to_have_count(1)
        assert linked.get_attribute("data-seq") == str(seq)
        visit.record("decision-row")

"""Issue 19 in the browser: the new-run page's preview of a pandas export read against an
exchange calendar shows the detected time column and how sessions were handled."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("exchange_calendars")
from playwright.sync_api import expect

from test_markets import NYSE_CLOSED_2004, ohlcv_frame, pd, to_csv, weekdays
from test_web_e2e import VisitFactory, browser, playwright, visit_factory  # skips without Chromium
from web_server import LiveServer

__all__ = ["browser", "playwright", "visit_factory"]  # fixtures used by name


def test_the_preview_shows_the_time_column_and_the_sessions(
    visit_factory: VisitFactory, tmp_path: Path
) -> None:
    days = weekdays("2004-08-19", "2004-12-31", NYSE_CLOSED_2004)
    goog = to_csv(ohlcv_frame(pd.DatetimeIndex(days)), tmp_path / "GOOG.csv")
    with LiveServer(tmp_path / "runs-root", enable_run_creation=True) as server:
        visit = visit_factory(server, "i19-preview-sessions")
        page = visit.page
        visit.goto("/runs/new")
        page.click("#advanced summary")
        page.select_option("#base_timeframe", "1d")
        page.fill("#calendar", "XNYS")
        page.set_input_files("#file", str(goog))
        expect(page.locator("#preview")).to_have_attribute("data-state", "valid")
        expect(page.locator("#preview-time-column")).to_have_text(
            "column 1 (unnamed: a pandas index)"
        )
        expect(page.locator("#preview-sessions")).to_contain_text("session dates")
        expect(page.locator("#preview-sessions")).to_contain_text("sessions of XNYS")
        expect(page.locator("#preview-coverage")).to_contain_text("94 of 94 expected")
        expect(page.locator("#preview-outside-sessions")).to_have_text("0 bar(s)")
        visit.record("preview")

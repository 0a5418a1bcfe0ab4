"""A sweep's estimate: measured on a calibration cell (kept, never computed twice) and reported
before the first progress update, by the API, the CLI (its lines and its rich bar) and --json."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from quantrun.api import create_sweep, open_sweep
from quantrun.cli import main
from quantrun.cli.sweeps import _SweepBar
from quantrun.data.demo import write_demo_csv
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings
from quantrun.sweeps.create import create_sweep as create
from quantrun.sweeps.grid import parse_grid
from quantrun.sweeps.progress import Estimate, SweepProgress, remaining_seconds
from quantrun.sweeps.request import SweepRequest

BASE: dict[str, Any] = {"symbol": "DEMOUSD", "strategy": "sma_crossover", "timeframe": "15m"}
GRID = ["fast=5:15:5", "slow=30,60"]


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", days=5)


class Recorder(SweepProgress):
    """Every hook call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def planned(self, sweep_id: str, total: int, done: int, skipped: int) -> None:
        self.events.append(("planned", total, done))

    def estimated(self, estimate: Estimate) -> None:
        self.events.append(("estimated", estimate))

    def advanced(self, done: int, total: int) -> None:
        self.events.append(("advanced", done, total))


def _request(csv: Path, settings: Settings) -> SweepRequest:
    run = RunCreateRequest(paths=[str(csv)], **BASE)
    return SweepRequest(run=run, grid=parse_grid(GRID, None, settings.max_sweep_cells))


def test_the_estimate_comes_from_the_clock_before_any_progress(
    demo_csv: Path, settings: Settings
) -> None:
    # A clock that moves 0.25 s a reading: the timed calibration cell is read twice, so the
    # measured cell costs 0.25 s, and the estimate follows from it, not from a constant.
    ticks = itertools.count()
    recorder = Recorder()
    result = create(
        _request(demo_csv, settings),
        settings,
        workers=1,
        progress=recorder,
        clock=lambda: next(ticks) * 0.25,
    )
    kinds = [event[0] for event in recorder.events]
    assert kinds[:2] == ["planned", "estimated"] and set(kinds[2:]) == {"advanced"}, kinds
    assert recorder.events[0] == ("planned", 6, 0)
    estimate = recorder.events[1][1]
    # Cells 0 and 1 calibrate (cell 1 is timed); 4 are left for one worker.
    assert estimate == Estimate(seconds=1.0, per_cell=0.25, cells=4, workers=1, measured_cell=1)
    assert estimate.basis() == "4 cell(s) left x 0.250 s a cell (measured on cell 1) / 1 worker"
    assert estimate.text() == f"estimated 1.0 s ({estimate.basis()})"
    # The calibration cells' results are kept: the first progress already counts them, and
    # every cell was computed once.
    assert recorder.events[2] == ("advanced", 2, 6)
    assert recorder.events[-1] == ("advanced", 6, 6)
    assert result.computed == 6 and result.estimate == estimate
    assert result.to_dict()["estimate"] == {
        "seconds": 1.0,
        "per_cell": 0.25,
        "cells": 4,
        "workers": 1,
        "measured_cell": 1,
        "basis": estimate.basis(),
    }

    # Found again: nothing computed, no estimate.
    again = Recorder()
    found = create(_request(demo_csv, settings), settings, workers=1, progress=again)
    assert [e[0] for e in again.events] == ["planned"] and found.estimate is None
    assert found.to_dict()["estimate"] is None


def test_the_time_left_uses_the_measured_rate_once_there_is_one() -> None:
    estimate = Estimate.measured(0.5, cells=8, workers=2, measured_cell=1)
    assert estimate.seconds == 2.0
    assert remaining_seconds(estimate, elapsed=0.0, computed=0, left=8) == 2.0
    assert remaining_seconds(estimate, elapsed=3.0, computed=2, left=6) == 9.0
    assert remaining_seconds(None, elapsed=0.0, computed=0, left=3) is None
    assert remaining_seconds(estimate, elapsed=3.0, computed=8, left=0) == 0.0


def test_the_cli_prints_count_then_estimate_then_the_bar(
    demo_csv: Path, settings: Settings, tmp_path: Path
) -> None:
    # The bar on a terminal: a rich console forced to render as one, recorded in order.
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    with _SweepBar(quiet=False, console=console) as bar:
        result = create_sweep(str(demo_csv), settings, grid=GRID, workers=1, progress=bar, **BASE)
    text = screen.getvalue()
    count = text.index(f"sweep {result.sweep_id[:16]}: 6 cell(s)")
    estimate = text.index("  estimated ")
    first_bar = re.search(r"cells .*\b[0-6]/6\b", text)
    assert first_bar is not None, text
    assert count < estimate < first_bar.start(), text
    assert result.estimate is not None and result.estimate.seconds > 0
    assert result.estimate.per_cell > 0

    # The command itself: the lines on stderr, the estimate in --json, its value measured.
    root = ["--runs-root", str(tmp_path / "cli")]
    args = ["sweeps", "create", str(demo_csv), "--symbol", "DEMOUSD", "--strategy",
            "sma_crossover", "--timeframe", "15m", "--grid", "fast=5:15:5", "--grid",
            "slow=30,60", "--workers", "1", *root]  # fmt: skip
    made = CliRunner().invoke(main, args, catch_exceptions=False)
    assert made.exit_code == 0, made.output
    lines = made.stderr.splitlines()
    assert lines[0].endswith(": 6 cell(s)")
    shown = re.fullmatch(
        r"  estimated ([0-9.e-]+) s \(4 cell\(s\) left x (\d+\.\d+) s a cell "
        r"\(measured on cell 1\) / 1 worker\)",
        lines[1],
    )
    assert shown is not None, lines
    assert float(shown[1]) > 0 and float(shown[2]) > 0
    other = Settings(runs_root=tmp_path / "json")
    as_json = CliRunner().invoke(
        main, [*args[:-2], "--runs-root", str(other.runs_root), "--json"], catch_exceptions=False
    )
    assert as_json.exit_code == 0, as_json.output
    out = json.loads(as_json.stdout)
    assert out["estimate"]["seconds"] > 0 and out["estimate"]["per_cell"] > 0
    assert out["estimate"]["cells"] == 4 and out["estimate"]["workers"] == 1
    assert out["estimate"]["seconds"] == pytest.approx(4 * out["estimate"]["per_cell"])
    assert as_json.stderr == ""
    # Every cell is still the sweep's: the calibration cells were kept, not redone.
    assert open_sweep(out["sweep_id"], other).results.height == 6

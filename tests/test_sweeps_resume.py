"""A sweep killed with SIGKILL mid-way resumes, computes only the missing cells, and publishes
the same bytes as a sweep that was never interrupted; nothing listed is ever damaged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from quantrun.api import create_sweep, list_runs, list_sweeps
from quantrun.data.demo import write_demo_csv
from quantrun.settings import Settings

#: 240 cells at 1m on 120 days (172,800 bars): about 2.5 s of work for two workers, several
#: checkpoint flushes (one per FLUSH_SECONDS), so the kill lands mid-way. On 30 days the cells
#: became cheap enough (D54) that the pool could finish in one flush before the kill.
GRID = ["fast=2:41:1", "slow=50:60:2"]
CELLS = 240
BASE: dict[str, Any] = {"symbol": "DEMOUSD", "strategy": "sma_crossover", "timeframe": "1m"}


def _command(csv: Path, root: Path) -> list[str]:
    return [
        sys.executable, "-m", "quantrun", "sweeps", "create", str(csv), "--symbol", "DEMOUSD",
        "--strategy", "sma_crossover", "--timeframe", "1m", "--grid", GRID[0], "--grid", GRID[1],
        "--workers", "2", "--runs-root", str(root), "--json",
    ]  # fmt: skip


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def month_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("month") / "demo.csv", days=120)


def test_a_sigkilled_sweep_resumes_to_identical_results(month_csv: Path, tmp_path: Path) -> None:
    reference = create_sweep(
        str(month_csv), Settings(runs_root=tmp_path / "reference"), grid=GRID, **BASE
    )
    assert len(reference.cells()) == CELLS

    root = tmp_path / "killed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    process = subprocess.Popen(
        _command(month_csv, root),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes its workers too
    )
    checkpoint = root / "sweeps" / ".partial" / reference.sweep_id / "cells.jsonl"
    try:
        deadline = time.monotonic() + 120
        # The two cells computed in the process itself, then at least one chunk of the pool.
        while _lines(checkpoint) <= 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the sweep never got going"
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the sweep finished before it was killed"

    done_before = _lines(checkpoint)
    assert 2 < done_before < CELLS
    settings = Settings(runs_root=root)
    # Nothing half-made is listed; the run registry is untouched.
    assert list_sweeps(settings) == []
    assert not (root / "sweeps" / reference.sweep_id).exists()
    assert list_runs(settings) == []

    again = subprocess.run(
        _command(month_csv, root), env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(again.stdout)
    assert result["sweep_id"] == reference.sweep_id and result["created"] is True
    assert result["resumed"] == done_before
    assert result["computed"] == CELLS - done_before
    assert _files(root / "sweeps" / reference.sweep_id) == _files(reference.path)
    assert [s.sweep_id for s in list_sweeps(settings)] == [reference.sweep_id]
    assert not checkpoint.parent.exists()


def test_ctrl_c_keeps_the_finished_cells_and_says_how_to_resume(
    month_csv: Path, tmp_path: Path
) -> None:
    root = tmp_path / "interrupted"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    process = subprocess.Popen(
        _command(month_csv, root)[:-1],  # text output: the error line and its hint
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    sweep_dir = root / "sweeps" / ".partial"
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and not any(
            _lines(p / "cells.jsonl") > 2 for p in sweep_dir.glob("*") if p.is_dir()
        ):
            assert time.monotonic() < deadline, "the sweep never got going"
            time.sleep(0.01)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)  # what Ctrl-C sends the sweep's own process
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    assert process.returncode == 1, err
    assert "error[SWEEP_INTERRUPTED]" in err
    assert "run the same command again" in err
    (partial,) = [p for p in sweep_dir.glob("*") if p.is_dir()]
    lines = (partial / "cells.jsonl").read_text().splitlines()
    kept = len({json.loads(line)["cell"] for line in lines})
    assert kept == len(lines)  # no cell written twice
    assert 2 < kept < CELLS
    again = subprocess.run(
        _command(month_csv, root), env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(again.stdout)
    assert (result["resumed"], result["computed"]) == (kept, CELLS - kept)

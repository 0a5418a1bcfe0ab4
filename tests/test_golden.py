"""The shipped golden run: listed read-only beside RUNS_ROOT's runs, verifiable, and rebuilt
byte for byte from its inputs on this machine."""

from __future__ import annotations

from pathlib import Path

from golden import FIXTURE_ROOT, build_golden
from quantrun.api import list_runs, open_run, verify_run
from quantrun.settings import Settings

GOLDEN_ID = "3fc6930b9986aedc6781316eff7c6be629b8e11a6956506c966fcc4ec2c45d84"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _settings(tmp_path: Path) -> Settings:
    return Settings(runs_root=tmp_path / "root", artifacts_root=FIXTURE_ROOT)


def test_golden_run_is_listed_read_only_and_verifies(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    rows = list_runs(settings)
    assert [(r.run_id, r.read_only) for r in rows] == [(GOLDEN_ID, True)]
    view = open_run(GOLDEN_ID, settings)
    assert view.read_only
    assert view.verify() == []
    assert verify_run(GOLDEN_ID, settings).ok
    assert view.metrics["trades"]["value"] == view.manifest.summary.trades


def test_golden_run_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    result = build_golden(tmp_path, tmp_path / "rebuild")
    assert result.run_id == GOLDEN_ID
    assert _files(result.path) == _files(FIXTURE_ROOT / "runs" / GOLDEN_ID)


def test_golden_fixture_is_never_written(tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in FIXTURE_ROOT.rglob("*")}
    settings = _settings(tmp_path)
    list_runs(settings)
    open_run(GOLDEN_ID[:12], settings).trades()
    assert {p: p.stat().st_mtime_ns for p in FIXTURE_ROOT.rglob("*")} == before

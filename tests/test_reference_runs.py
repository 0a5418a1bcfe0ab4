"""Run ids and artifact bytes never change meaning: real requests recorded before a refactor
(tests/fixtures/reference_manifests, see tests/reference_runs.py) are rebuilt here and their
manifests compared byte for byte. A manifest lists every artifact's size and sha256, so equal
manifests mean equal artifacts. Each rebuilt run must also pass ``verify --rerun``, which
re-creates it from the request its manifest records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from quantrun.api import verify_run
from quantrun.settings import Settings
from reference_runs import CASES, FIXTURES, REAL_DATA, Case, build, prepare


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reference-work")
    prepare(folder)
    return folder


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reference_run_rebuilds_byte_for_byte(case: Case, workdir: Path, tmp_path: Path) -> None:
    if case.real and not REAL_DATA.is_dir():
        pytest.skip(f"real data not present at {REAL_DATA}")
    recorded = (FIXTURES / f"{case.name}.json").read_bytes()
    runs_root = tmp_path / "root"
    result = build(case, workdir, runs_root)
    assert result.run_id == json.loads(recorded)["run_id"]
    assert (result.path / "manifest.json").read_bytes() == recorded

    # The recorded request rebuilds the same bytes again (the path `runs verify --rerun` takes).
    previous = Path.cwd()
    os.chdir(REAL_DATA if case.real else workdir)
    try:
        report = verify_run(result.run_id, Settings(runs_root=runs_root), rerun=True)
    finally:
        os.chdir(previous)
    assert report.ok, report.to_dict()
    assert report.rerun_checked

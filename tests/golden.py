"""The golden run the tests ship under tests/fixtures/artifacts_root (a read-only
ARTIFACTS_ROOT). Regenerate it deliberately, after a change meant to alter run bytes, with::

    .venv/bin/python tests/golden.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from quantrun.api import RunResult, create_run
from quantrun.data.demo import write_demo_csv
from quantrun.settings import Settings

FIXTURE_ROOT = Path(__file__).resolve().parent / "fixtures" / "artifacts_root"
CSV_NAME = "golden-DEMOUSD-1m.csv"


def build_golden(workdir: Path, runs_root: Path) -> RunResult:
    """Write the golden CSV into ``workdir`` and create the run from inside it, so the source
    path recorded in the manifest is the same relative name on every machine."""
    write_demo_csv(workdir / CSV_NAME, days=3)
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        return create_run(
            CSV_NAME,
            Settings(runs_root=runs_root),
            symbol="DEMOUSD",
            strategy="sma_crossover",
            strategy_version="1",  # the golden run was made with v1 (v2 changed the cross rule)
            identity_schema=1,  # and before the strategy's source hash joined the identity
            artifact_schema=1,  # and before the decision records became Parquet
            resample_rules=1,  # and before volume sums were added in row order
            params={"fast": 10, "slow": 30},
            timeframe="15m",
            risk="moderate",
        )
    finally:
        os.chdir(previous)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = build_golden(Path(tmp), Path(tmp) / "root")
        target = FIXTURE_ROOT / "runs"
        shutil.rmtree(FIXTURE_ROOT, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copytree(result.path, target / result.run_id)
    sys.stdout.write(f"golden run {result.run_id} written to {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

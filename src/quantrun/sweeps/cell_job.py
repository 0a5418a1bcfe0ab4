"""Materialising sweep cells as a web job: ``python -m quantrun.sweeps.cell_job JOB_ID``.

A click on a cell of ``/sweeps/{id}`` (or a comparison of cells not written yet) does not write
runs inside the request: it records a job whose ``spec`` names the sweep and its cells
(``runs/jobs.py`` ``JobWork``) and whose request is the first cell's run request (what the job
page shows); the web worker starts this module for it. It follows the run job's life
(queued -> running -> succeeded | failed, under the job's lock) through
:func:`~quantrun.runs.jobs.run_job`, records the builder's stages as they start, and on success
``run_id`` (the first cell's), ``run_ids`` (every cell's, in the order asked) and ``created``
(whether any run was written). The same cells again find the same job: its id is the hash of
the sweep id and the cells.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from quantrun.errors import ErrorCode, error
from quantrun.logs import get_logger
from quantrun.runs.jobs import JobStore, JobWork, run_job
from quantrun.runs.worker import child_main
from quantrun.settings import Settings
from quantrun.sweeps.manifest import SweepManifest
from quantrun.sweeps.materialize import cell_request, materialize
from quantrun.sweeps.store import SweepStore

log = get_logger(__name__)

KIND = "materialize"
RUNNER = "quantrun.sweeps.cell_job"


def job_work(sweep_id: str, cells: Sequence[int]) -> JobWork:
    """What a cell job records beside the first cell's run request."""
    return JobWork(kind=KIND, spec={"sweep_id": sweep_id, "cells": list(cells)}, runner=RUNNER)


def submit_cells(
    store: JobStore, manifest: SweepManifest, cells: Sequence[int]
) -> tuple[dict[str, Any], bool]:
    """Queue the materialisation of ``cells`` of a published sweep (numbers checked by the
    caller); (job, new). The job's request is the first cell's, its inputs under their
    recorded labels (the job finds the data as ``sweeps materialize`` does)."""
    first = manifest.cells[cells[0]]
    request = cell_request(manifest, first, store.settings, find_files=False)
    return store.submit(request, None, job_work(manifest.sweep_id, cells))


def compare_url(sweep_id: str, cells: Sequence[int]) -> str:
    """The comparison of ``cells`` of a sweep, named ``SWEEP_ID:K`` in the order given."""
    return "/compare?runs=" + ",".join(f"{sweep_id}:{k}" for k in cells)


def execute_cell_job(settings: Settings, job_id: str) -> dict[str, Any]:
    """Run one queued cell job to the end, in this process (a job that is not queued, or
    whose lock another process holds, is left alone)."""
    store = JobStore(settings)

    def write(job: dict[str, Any]) -> dict[str, Any]:
        spec = job["spec"]
        manifest = SweepStore(settings).manifest(str(spec["sweep_id"]))
        numbers = [int(k) for k in spec["cells"]]
        if not numbers or not all(0 <= k < len(manifest.cells) for k in numbers):
            raise error(
                ErrorCode.SWEEP_NOT_FOUND,
                f"sweep {manifest.sweep_id[:12]} has cells 0 to {len(manifest.cells) - 1}",
            )

        def progress(stage: str) -> None:
            store.update(job_id, stage=stage)

        done = materialize(
            manifest, [manifest.cells[k] for k in numbers], settings, progress=progress
        )
        log.info("job.succeeded", job_id=job_id, run_ids=[d.run_id for d in done])
        return {
            "run_id": done[0].run_id,
            "run_ids": [d.run_id for d in done],
            "created": any(d.created for d in done),
        }

    return run_job(store, job_id, write, accepts=lambda job: job.get("kind") == KIND)


def main(argv: list[str]) -> int:
    """Child entry point: run one cell job with the web worker's settings."""
    return child_main(argv, execute_cell_job)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""A sweep as a web job: ``python -m quantrun.sweeps.job JOB_ID``, started by the web worker.

``POST /api/v1/sweeps`` records a job whose ``spec`` is the grid (``runs/jobs.py`` ``JobWork``)
and whose request is the base run request; the worker starts this module for it. It follows
the run job's life (queued -> running -> succeeded | failed, under the job's lock, a retry
resumes from the sweep's checkpoint) and writes the sweep's progress into the job file:
``stage`` (the shared preparation, then ``cells``), ``cells_done`` and ``cells_total``, the
estimate made before the cells are computed (``estimate``, see
:class:`~quantrun.sweeps.progress.Estimate`) and the time left (``eta_seconds``), and on success
``sweep_id`` and ``created``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from quantrun.logs import get_logger
from quantrun.runs.jobs import JobStore, JobWork, run_job
from quantrun.runs.request import RunCreateRequest
from quantrun.runs.worker import child_main
from quantrun.settings import Settings
from quantrun.sweeps.grid import GridAxis
from quantrun.sweeps.progress import Estimate, SweepProgress, remaining_seconds
from quantrun.sweeps.request import SweepRequest

log = get_logger(__name__)

KIND = "sweep"
RUNNER = "quantrun.sweeps.job"
#: The job file is rewritten at most this often while cells are computed.
UPDATE_SECONDS = 0.5


def job_work(request: SweepRequest) -> JobWork:
    """What a sweep job records beside its base run request (the further datasets of a
    dataset axis only when there are some, so other sweep jobs keep their ids)."""
    spec: dict[str, Any] = {
        "grid": [axis.model_dump(mode="json") for axis in request.grid],
        "skip_invalid": request.skip_invalid,
    }
    if request.datasets:
        spec["datasets"] = request.dataset_fields()
    return JobWork(kind=KIND, spec=spec, runner=RUNNER)


def sweep_request(job: dict[str, Any]) -> SweepRequest:
    """The sweep a job file records."""
    spec = job["spec"]
    return SweepRequest.model_validate(
        {
            "run": RunCreateRequest.from_record(job["request"]),
            "grid": [GridAxis.model_validate(axis) for axis in spec["grid"]],
            "skip_invalid": bool(spec.get("skip_invalid", False)),
            "datasets": spec.get("datasets", []),
        }
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobProgress(SweepProgress):
    """The sweep's progress, written into its job file (throttled)."""

    def __init__(
        self, store: JobStore, job_id: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.clock = clock
        self._last = 0.0
        self._estimate: Estimate | None = None
        self._since = 0.0
        self._first: int | None = None

    def stage(self, name: str) -> None:
        self.store.update(self.job_id, stage=name)

    def planned(self, sweep_id: str, total: int, done: int, skipped: int) -> None:
        self.store.update(
            self.job_id,
            stage="cells",
            cells_total=total,
            cells_done=done,
            estimate=None,
            eta_seconds=None,
        )

    def estimated(self, estimate: Estimate) -> None:
        self._estimate = estimate
        self._since = self.clock()
        self.store.update(
            self.job_id, estimate=estimate.to_dict(), eta_seconds=round(estimate.seconds, 3)
        )

    def advanced(self, done: int, total: int) -> None:
        now = self.clock()
        if self._first is None:
            self._first = done  # the cells done when the estimate was made
        if done == total or now - self._last >= UPDATE_SECONDS:
            self._last = now
            left = remaining_seconds(
                self._estimate, now - self._since, done - self._first, total - done
            )
            self.store.update(
                self.job_id,
                cells_done=done,
                cells_total=total,
                eta_seconds=None if left is None else round(left, 3),
            )


def execute_sweep_job(settings: Settings, job_id: str) -> dict[str, Any]:
    """Run one queued sweep job to the end, in this process (a job that is not queued, or
    whose lock another process holds, is left alone)."""
    from quantrun.sweeps.create import create_sweep

    store = JobStore(settings)

    def sweep(job: dict[str, Any]) -> dict[str, Any]:
        result = create_sweep(
            sweep_request(job), settings, progress=JobProgress(store, job_id), slot_wait=None
        )
        total = len(result.manifest.cells)
        return {
            "sweep_id": result.sweep_id,
            "created": result.created,
            "cells_done": total,
            "cells_total": total,
            "eta_seconds": 0.0,
        }

    return run_job(store, job_id, sweep, accepts=lambda job: job.get("kind") == KIND)


def main(argv: list[str]) -> int:
    """Child entry point: run one sweep job with the web worker's settings."""
    return child_main(argv, execute_sweep_job)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The job worker: a supervisor thread that starts one process per queued job.

The web service owns a :class:`Worker`; each job runs in a child process
(``python -m quantrun.runs.worker JOB_ID``) that holds the job's lock for its whole life, so a
crash of the child, or of the server, never leaves a job that looks alive. The supervisor only
starts processes and reaps them; job state lives in the job files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from quantrun.allocator import keep_freed_memory
from quantrun.logs import configure, get_logger
from quantrun.runs.jobs import QUEUED, JobStore, execute_job, is_runner
from quantrun.runs.registry import Registry
from quantrun.settings import Settings

log = get_logger(__name__)

POLL_SECONDS = 0.2


class Worker:
    """Starts queued jobs, at most ``settings.max_concurrent_jobs`` at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = JobStore(settings)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self.store.recover()
        self._thread = threading.Thread(target=self._loop, name="quantrun-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for new work now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for child in self._children.values():
            if child.poll() is None:
                child.terminate()
        for child in self._children.values():
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children.clear()
        self.store.recover()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # keep supervising; the job files hold the truth
                log.error("worker.tick_failed", error=type(exc).__name__)
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def _tick(self) -> None:
        reaped = False
        crashed = False
        for job_id, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[job_id]
                reaped = True
                crashed = crashed or child.returncode != 0
        if self._children or reaped:
            self.store.recover()  # a child that died mid-job leaves a free lock
        if crashed:
            # It may have died between publishing its run folder and indexing it; the web's
            # reads do not recover the registry, so the supervisor does.
            Registry(self.settings.runs_root, self.settings.artifacts_root).recover()
        free = self.settings.max_concurrent_jobs - len(self._children)
        if free <= 0:
            return
        queued = [j for j in self.store.all() if j["state"] == QUEUED]
        queued.sort(key=lambda j: (j["updated_at"], j["job_id"]))
        for job in queued[:free]:
            if job["job_id"] in self._children:
                continue
            # A job that is not a run's names the module that runs it (runs/jobs.py JobWork).
            runner = job.get("runner")
            module = runner if is_runner(runner) else "quantrun.runs.worker"
            self._children[job["job_id"]] = subprocess.Popen(
                [sys.executable, "-m", module, job["job_id"]],
                env=_child_env(self.settings),
                stdin=subprocess.DEVNULL,
            )
            log.info("worker.started", job_id=job["job_id"])


def _child_env(settings: Settings) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    env[WORKER_SETTINGS] = settings.model_dump_json()
    return env


#: The environment variable a job's child process reads its settings from.
WORKER_SETTINGS = "QUANTRUN_WORKER_SETTINGS"


def child_main(argv: list[str], execute: Callable[[Settings, str], dict[str, Any]]) -> int:
    """A job's child process (``python -m MODULE JOB_ID``): the parent's settings, its log
    level, ``execute(settings, job_id)``, one log line. Every job kind's module ends here.
    The child lives for one job: it keeps freed large blocks for reuse (D53)."""
    import os

    keep_freed_memory()

    settings = Settings.model_validate(json.loads(os.environ[WORKER_SETTINGS]))
    configure(settings.log_level)
    started = time.monotonic()
    job = execute(settings, argv[0])
    log.info("worker.done", job_id=argv[0], state=job["state"], seconds=time.monotonic() - started)
    return 0


def main(argv: list[str]) -> int:
    """Child entry point: run one run job with the parent's settings."""
    return child_main(argv, execute_job)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Jobs: run creation outside the request, persisted under ``RUNS_ROOT/jobs``.

A job is one JSON file ``jobs/<job_id>.json`` with a state machine::

    queued -> running -> succeeded | failed        (failed -> queued on retry)

``job_id`` is the sha256 of the upload's content hash and the canonical request, so submitting
the same inputs twice finds the same job, and a retry can only ever produce the run id the
inputs determine (run creation is idempotent). A job being executed is guarded by
``jobs/<job_id>.lock``, held by the worker process for the job's whole life; :func:`recover`
marks a ``running`` job whose lock is free (its worker died) as ``failed`` with the code
``JOB_INTERRUPTED``, which the user may retry.

Uploads are stored content-addressed in ``RUNS_ROOT/uploads/<sha256>.csv``; the file name the
user gave is recorded as the run's source label, never the internal path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeGuard

from filelock import FileLock, Timeout

from quantrun.canonical import canonical_file_bytes, canonical_hash
from quantrun.durable import fsync_dir, replace_file
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import bound, get_logger
from quantrun.runs.policy import require_free_disk
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings

log = get_logger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED)
JOB_SCHEMA_VERSION = 1
CHUNK = 1 << 20

Clock = Callable[[], datetime]


def _now(clock: Clock | None = None) -> str:
    moment = clock() if clock is not None else datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_job_id(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class JobWork:
    """A job that is not a run's: its kind (``sweep``), what it does beyond the run request
    (recorded in the job file and hashed into its id), and the module that runs it
    (``python -m RUNNER JOB_ID``, a ``quantrun.`` module above runs/)."""

    kind: str
    spec: dict[str, Any]
    runner: str

    def __post_init__(self) -> None:
        if not is_runner(self.runner):
            raise ValueError(f"not a quantrun module: {self.runner!r}")


def is_runner(name: object) -> TypeGuard[str]:
    """Whether ``name`` may be started as a job's module: a dotted ``quantrun.`` name."""
    return (
        isinstance(name, str)
        and name.startswith("quantrun.")
        and all(part.isidentifier() for part in name.split("."))
    )


@dataclass(frozen=True)
class StoredUpload:
    sha256: str
    path: Path
    bytes: int
    filename: str


def copy_limited(
    stream: IO[bytes], out: IO[bytes] | None, limit: int, digest: Any | None = None
) -> int:
    """Copy ``stream`` to ``out`` (or nowhere) in chunks, refusing (LIMIT_INPUT_SIZE) as soon as
    more than ``limit`` bytes have arrived; optionally feed ``digest``. Returns the byte count."""
    size = 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise error(
                ErrorCode.LIMIT_INPUT_SIZE,
                f"upload is larger than the limit of {limit:,} bytes",
                extra={"limit": limit},
            )
        if digest is not None:
            digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return size


def store_upload(
    settings: Settings, stream: IO[bytes], filename: str, sha256: str | None = None
) -> StoredUpload:
    """Stream an upload to ``uploads/<sha256>.csv`` without holding it in memory.

    The size limit is enforced while reading: an over-limit upload is cut off at the limit and
    leaves nothing on disk. ``sha256``: the stream's hash when the caller has just computed it
    (it is then not computed again).
    """
    require_free_disk(settings)
    uploads = settings.layout.uploads
    uploads.mkdir(parents=True, exist_ok=True)
    tmp = uploads / f".upload-{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    try:
        with tmp.open("xb") as out:
            size = copy_limited(
                stream, out, settings.max_input_bytes, digest if not sha256 else None
            )
            out.flush()
            os.fsync(out.fileno())
        sha = sha256 or digest.hexdigest()
        final = settings.layout.upload(sha)
        if final.exists():
            tmp.unlink()
        else:
            tmp.replace(final)
            fsync_dir(uploads)
    finally:
        tmp.unlink(missing_ok=True)
    return StoredUpload(sha, final, size, upload_label(filename))


def upload_label(filename: str) -> str:
    """The name an upload is shown and recorded under: the file name the user gave, no path."""
    return Path(filename or "upload.csv").name[:200] or "upload.csv"


def submit_upload(
    store: JobStore,
    request: RunCreateRequest,
    stream: IO[bytes],
    filename: str,
    work: JobWork | None = None,
) -> tuple[dict[str, Any], bool]:
    """Queue ``request`` on an uploaded file (``stream`` must be seekable); (job, new).

    The upload is hashed first, so the same file and request find their existing job even
    while the queue is full; a new job needs room in the queue, checked before the upload is
    stored (and again by :meth:`JobStore.submit` under the jobs lock).
    """
    settings = store.settings
    digest = hashlib.sha256()
    stream.seek(0)
    copy_limited(stream, None, settings.max_input_bytes, digest)
    sha = digest.hexdigest()
    path = settings.layout.upload(sha)
    final = request.model_copy(update={"paths": [str(path)], "labels": [upload_label(filename)]})
    existing = store.find(final, sha, work)
    if existing is None:
        store.check_queue_room()
    if existing is None or not path.is_file():  # a known job whose upload was deleted gets it back
        stream.seek(0)
        store_upload(settings, stream, filename, sha256=sha)
    if existing is not None:
        return existing, False
    return store.submit(final, sha, work)


#: A partial upload this old belongs to a server that died mid-upload (a live upload of even
#: 1 GiB over loopback takes seconds).
STALE_PART_SECONDS = 3600.0


def sweep_partial_uploads(settings: Settings, now: float | None = None) -> list[str]:
    """Delete ``uploads/.upload-*.part`` files older than STALE_PART_SECONDS: what a server
    killed in the middle of receiving an upload leaves. Returns the names deleted."""
    folder = settings.layout.uploads
    if not folder.is_dir():
        return []
    moment = time.time() if now is None else now
    swept = []
    for part in folder.glob(".upload-*.part"):
        with contextlib.suppress(OSError):
            if moment - part.stat().st_mtime > STALE_PART_SECONDS:
                part.unlink()
                swept.append(part.name)
    if swept:
        log.warning("uploads.partial_swept", names=swept)
    return swept


class JobStore:
    """Reads and writes job files; every write is an atomic replace."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.layout = settings.layout
        self.root = self.layout.jobs
        self.clock = clock

    def path(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise error(ErrorCode.JOB_NOT_FOUND, f"{job_id[:80]!r} is not a job id")
        return self.layout.job(job_id)

    def lock(self, job_id: str) -> FileLock:
        return FileLock(str(self.layout.job_lock(job_id)), timeout=0)

    def get(self, job_id: str) -> dict[str, Any]:
        try:
            job: dict[str, Any] = json.loads(self.path(job_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise error(ErrorCode.JOB_NOT_FOUND, f"no job {job_id}") from None
        except (OSError, ValueError):
            raise error(ErrorCode.JOB_NOT_FOUND, f"job {job_id[:12]} is unreadable") from None
        return job

    def all(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        jobs = []
        for path in self.root.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                jobs.append(json.loads(path.read_text(encoding="utf-8")))
        jobs.sort(key=lambda j: (j.get("created_at") or "", j.get("job_id", "")), reverse=True)
        return jobs

    def _write(self, job: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        replace_file(self.path(job["job_id"]), canonical_file_bytes(job))

    @staticmethod
    def job_id_for(
        request: RunCreateRequest, upload_sha256: str | None, work: JobWork | None = None
    ) -> str:
        """The job id: the sha256 of the upload's hash and the canonical request (and of the
        work, for a job that is not a run's)."""
        hashed: dict[str, Any] = {"upload_sha256": upload_sha256, "request": request.canonical()}
        if work is not None:
            hashed["work"] = {"kind": work.kind, "spec": work.spec}
        return canonical_hash(hashed)

    def find(
        self, request: RunCreateRequest, upload_sha256: str | None, work: JobWork | None = None
    ) -> dict[str, Any] | None:
        """The job these inputs already made, if any."""
        try:
            return self.get(self.job_id_for(request, upload_sha256, work))
        except QuantrunError:
            return None

    def submit(
        self,
        request: RunCreateRequest,
        upload_sha256: str | None,
        work: JobWork | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Record a queued job; (job, True) if new, (existing job, False) if already known.

        A known job that failed is left as it is: the user retries it explicitly. ``work``:
        a job that is not a run's (a sweep), run by its own module.
        """
        job_id = self.job_id_for(request, upload_sha256, work)
        with self._guard():
            if self.path(job_id).exists():
                return self.get(job_id), False
            self.check_queue_room()
            now = _now(self.clock)
            job = {
                "schema_version": JOB_SCHEMA_VERSION,
                "job_id": job_id,
                "state": QUEUED,
                "request": request.canonical(),
                "upload_sha256": upload_sha256,
                "created_at": now,
                "updated_at": now,
                "started_at": None,
                "finished_at": None,
                "attempts": 0,
                "run_id": None,
                "created": None,
                "error": None,
                "stage": None,
                "source_names": list(request.labels or request.paths),
            }
            if work is not None:
                job |= {"kind": work.kind, "spec": work.spec, "runner": work.runner}
            self._write(job)
        log.info("job.queued", job_id=job_id)
        return job, True

    def check_queue_room(self) -> None:
        """LIMIT_QUEUE_FULL when ``max_queued_jobs`` jobs are already waiting. ``submit`` and
        ``retry`` check it under the jobs lock; an edge may also call it early, to refuse
        before it stores an upload."""
        queued = sum(1 for j in self.all() if j.get("state") == QUEUED)
        limit = self.settings.max_queued_jobs
        if queued >= limit:
            raise error(
                ErrorCode.LIMIT_QUEUE_FULL,
                f"{queued} jobs are already queued (the limit is {limit})",
                extra={"limit": limit},
            )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.layout.jobs_lock)):
            yield

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        with self._guard():
            job = self.get(job_id)
            job.update(changes)
            job["updated_at"] = _now(self.clock)
            self._write(job)
        return job

    def retry(self, job_id: str) -> dict[str, Any]:
        with self._guard():
            job = self.get(job_id)
            if job["state"] != FAILED:
                raise error(
                    ErrorCode.JOB_NOT_RETRYABLE,
                    f"job {job_id[:12]} is {job['state']}; only failed jobs can be retried",
                )
            self.check_queue_room()
            job.update(state=QUEUED, error=None, stage=None, finished_at=None)
            job["updated_at"] = _now(self.clock)
            self._write(job)
        log.info("job.retry", job_id=job_id)
        return job

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(STATES, 0)
        for job in self.all():
            totals[job["state"]] = totals.get(job["state"], 0) + 1
        return totals

    def recover(self) -> list[str]:
        """Mark running jobs whose worker is gone as failed (interrupted). Returns their ids."""
        interrupted = []
        for job in self.all():
            if job.get("state") != RUNNING:
                continue
            lock = self.lock(job["job_id"])
            try:
                with lock:
                    current = self.get(job["job_id"])
                    if current["state"] == RUNNING:
                        failure = error(
                            ErrorCode.JOB_INTERRUPTED,
                            "the worker stopped before the job finished",
                        )
                        self.update(
                            job["job_id"],
                            state=FAILED,
                            error=failure.to_dict(),
                            finished_at=_now(self.clock),
                            stage=None,
                        )
                        interrupted.append(job["job_id"])
            except Timeout:
                continue  # a live worker holds it
        if interrupted:
            log.warning("jobs.interrupted", job_ids=interrupted)
        return interrupted


def execute_job(settings: Settings, job_id: str) -> dict[str, Any]:
    """Run one queued job to the end, in this process. Safe to call twice: a job that is not
    queued, or whose lock another worker holds, is left alone."""
    with bound(job_id=job_id):
        return _execute_job(settings, job_id)


def run_job(
    store: JobStore,
    job_id: str,
    work: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    accepts: Callable[[dict[str, Any]], bool] = lambda job: True,
) -> dict[str, Any]:
    """The life of one queued job, for every kind of work: hold its lock (a job another
    worker holds, or that is not queued or not ``accepts``-ed, is left alone), mark it
    running, call ``work(job)`` for the fields of its success, and record a failure with its
    code (an unexpected exception as INTERNAL: never a traceback in a job file)."""
    lock = store.lock(job_id)
    try:
        lock.acquire()
    except Timeout:
        return store.get(job_id)
    try:
        job = store.get(job_id)
        if job["state"] != QUEUED or not accepts(job):
            return job
        job = store.update(
            job_id,
            state=RUNNING,
            started_at=_now(),
            attempts=int(job.get("attempts", 0)) + 1,
            stage="starting",
        )
        try:
            done = work(job)
        except QuantrunError as exc:
            log.info("job.failed", job_id=job_id, code=str(exc.code))
            return store.update(
                job_id, state=FAILED, error=exc.to_dict(), finished_at=_now(), stage=None
            )
        except Exception as exc:  # never a traceback in a job file
            log.error("job.crashed", job_id=job_id, error=type(exc).__name__)
            failure = error(ErrorCode.INTERNAL, f"unexpected {type(exc).__name__} in the worker")
            return store.update(
                job_id, state=FAILED, error=failure.to_dict(), finished_at=_now(), stage=None
            )
        return store.update(job_id, state=SUCCEEDED, finished_at=_now(), stage=None, **done)
    finally:
        lock.release()


def _execute_job(settings: Settings, job_id: str) -> dict[str, Any]:
    from quantrun.runs.builder import create_run

    store = JobStore(settings)

    def build(job: dict[str, Any]) -> dict[str, Any]:
        request = RunCreateRequest.from_record(job["request"])

        def progress(stage: str) -> None:
            store.update(job_id, stage=stage)

        # A queued job waits for a build slot (a CLI build may hold one) instead of failing.
        result = create_run(request, settings, progress=progress, slot_wait=None)
        log.info("job.succeeded", job_id=job_id, run_id=result.run_id)
        return {"run_id": result.run_id, "created": result.created}

    return run_job(store, job_id, build)

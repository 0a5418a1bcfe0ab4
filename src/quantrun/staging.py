"""Staging folders: where work in progress is built before its atomic rename into place.

Each folder under ``RUNS_ROOT/staging/`` is guarded by a lock file held by the process building
it. :func:`clear_stale` removes only folders whose lock nobody holds (their builder finished or
died), so recovery in one process never destroys another process's work in progress.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from quantrun.durable import remove_tree
from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout

LOCK_SUFFIX = ".lock"


@contextlib.contextmanager
def storage_lock(lock: FileLock, folder: Path, what: str) -> Iterator[None]:
    """Hold ``lock`` (creating ``folder`` first) while ``what`` is updated; a storage failure
    while holding it is STORAGE_FAILED ("could not update <what>: ..."). The run registry and
    the sweep listing are updated under it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with lock:
            yield
    except OSError as exc:
        raise error(
            ErrorCode.STORAGE_FAILED,
            f"could not update {what}: {exc.strerror or type(exc).__name__}",
        ) from None


@contextlib.contextmanager
def staging_dir(runs_root: Path, prefix: str) -> Iterator[Path]:
    """Create ``staging/<prefix>-<random>/`` under a held lock; remove what is left on exit."""
    staging = Layout(runs_root).staging
    staging.mkdir(parents=True, exist_ok=True)
    work = staging / f"{prefix}-{uuid.uuid4().hex}"
    lock_path = work.with_name(work.name + LOCK_SUFFIX)
    lock = FileLock(str(lock_path))
    with lock:
        try:
            work.mkdir()
            yield work
        finally:
            remove_tree(work)
    lock_path.unlink(missing_ok=True)


def clear_stale(runs_root: Path) -> list[str]:
    """Remove staging folders no live process is building; return their names."""
    staging = Layout(runs_root).staging
    if not staging.is_dir():
        return []
    removed = []
    for entry in sorted(staging.iterdir()):
        if entry.name.endswith(LOCK_SUFFIX):
            continue
        lock_path = entry.with_name(entry.name + LOCK_SUFFIX)
        lock = FileLock(str(lock_path), timeout=0)
        try:
            with lock:
                remove_tree(entry)
                if entry.exists():
                    entry.unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)
            removed.append(entry.name)
        except Timeout:
            continue  # a live builder holds it
    for orphan in staging.glob("*" + LOCK_SUFFIX):
        owner = orphan.with_name(orphan.name[: -len(LOCK_SUFFIX)])
        if not owner.exists():
            lock = FileLock(str(orphan), timeout=0)
            with contextlib.suppress(Timeout), lock:
                orphan.unlink(missing_ok=True)
    return removed

"""The creation policy: may a run be created here, now? Does this run exist already?

One answer for every edge. The CLI, the builder itself, ``POST /api/v1/runs``, a job's retry,
the pages and the readiness report all ask :func:`creation_blocker` (or
:func:`require_creation`), which checks, in this order:

1. the kill switch: it stops every edge, the CLI included;
2. the server's run-creation flag (``enable_run_creation``): only for a server (``server=True``);
3. free disk on RUNS_ROOT (``min_free_disk_bytes``).

The concurrency limit is held by the builder itself (build slots) and the queue limit by the
job store: both apply at the moment of the work, not at the door.
"""

from __future__ import annotations

import shutil

from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.runs.killswitch import KillSwitch
from quantrun.runs.manifest import MANIFEST_FILE
from quantrun.settings import Settings


def free_bytes(settings: Settings) -> int:
    """Free bytes on the file system of RUNS_ROOT (or of its nearest existing parent)."""
    folder = settings.runs_root
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def require_free_disk(settings: Settings) -> None:
    """LIMIT_DISK_FULL when RUNS_ROOT's disk has less than ``min_free_disk_bytes`` free: a run
    or an upload is refused before it writes, instead of failing half-way on a full disk."""
    try:
        free = free_bytes(settings)
    except OSError:
        return  # unknown: the write itself will report a real failure
    if free < settings.min_free_disk_bytes:
        raise error(
            ErrorCode.LIMIT_DISK_FULL,
            f"only {free:,} bytes free on RUNS_ROOT's disk; at least "
            f"{settings.min_free_disk_bytes:,} must stay free",
            extra={"free_bytes": free, "min_free_bytes": settings.min_free_disk_bytes},
        )


def creation_blocker(settings: Settings, *, server: bool) -> QuantrunError | None:
    """The first reason no run may be created now (see the module docstring), or None.
    ``server``: the request comes through a server, whose flag must be on."""
    try:
        KillSwitch(settings.runs_root).check()
        if server and not settings.enable_run_creation:
            raise error(ErrorCode.RUN_CREATION_DISABLED, "this server does not accept new runs")
        require_free_disk(settings)
    except QuantrunError as blocked:
        return blocked
    return None


def require_creation(settings: Settings, *, server: bool) -> None:
    """Raise :func:`creation_blocker`'s answer, if any."""
    blocked = creation_blocker(settings, server=server)
    if blocked is not None:
        raise blocked


def run_exists(settings: Settings, run_id: str) -> bool:
    """Whether a run with this id is published under RUNS_ROOT (its manifest is written last,
    so a folder without one is not a run)."""
    return (settings.layout.run(run_id) / MANIFEST_FILE).is_file()

"""Readiness: can this RUNS_ROOT serve reads and accept runs right now?

:func:`readiness` runs every check and says which failed; the web service answers
``/api/v1/health/ready`` with it (503 unless ``ready``)::

    report = readiness(settings, recovered=True, worker_alive=True)
    report["ready"], report["checks"]["storage"]

Checks: start-up recovery finished; the registry index is readable and valid; RUNS_ROOT is
writable (a real write + fsync + delete of a probe file); free disk is at least
``min_free_disk_bytes``; the job worker is alive (only when run creation is on). The kill
switch and the run-creation flag are reported but do not make the service unready: reads
still work while creation is stopped.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from quantrun.durable import fsync_dir, write_bytes
from quantrun.runs.killswitch import KillSwitch
from quantrun.runs.policy import creation_blocker, free_bytes
from quantrun.runs.registry import Registry
from quantrun.settings import Settings


def _check(ok: bool, detail: str, **extra: Any) -> dict[str, Any]:
    return {"ok": ok, "detail": detail, **extra}


def storage_probe(settings: Settings) -> dict[str, Any]:
    """Write, fsync and delete a small file under RUNS_ROOT/control."""
    folder = settings.layout.control
    probe = folder / f".ready-probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes(probe, b"ok")
        probe.unlink()
        fsync_dir(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        return _check(False, f"RUNS_ROOT is not writable: {exc.strerror or type(exc).__name__}")
    return _check(True, "write + fsync + delete succeeded")


def disk_check(settings: Settings) -> dict[str, Any]:
    try:
        free = free_bytes(settings)
    except OSError as exc:
        return _check(False, f"free space unknown: {exc.strerror or type(exc).__name__}")
    minimum = settings.min_free_disk_bytes
    ok = free >= minimum
    detail = f"{free:,} bytes free" + ("" if ok else f", below the minimum of {minimum:,}")
    return _check(ok, detail, free_bytes=free, min_free_bytes=minimum)


def registry_check(settings: Settings) -> dict[str, Any]:
    state = Registry(settings.runs_root, settings.artifacts_root).index_state()
    if state == "invalid":
        return _check(False, "index.json is unreadable or invalid", index=state)
    return _check(True, "index.json is valid" if state == "valid" else "no runs yet", index=state)


def readiness(settings: Settings, *, recovered: bool, worker_alive: bool) -> dict[str, Any]:
    """Every readiness check, and whether all that matter passed."""
    creation = settings.enable_run_creation
    checks = {
        "recovery": _check(
            recovered, "start-up recovery finished" if recovered else "start-up recovery running"
        ),
        "registry": registry_check(settings),
        "storage": storage_probe(settings),
        "disk": disk_check(settings),
        "worker": _check(
            worker_alive or not creation,
            "running" if worker_alive else ("stopped" if creation else "not needed (read-only)"),
            alive=worker_alive,
        ),
    }
    switch = KillSwitch(settings.runs_root).state()
    ready = all(c["ok"] for c in checks.values())
    return {
        "status": "ready" if ready else ("starting" if not recovered else "not_ready"),
        "ready": ready,
        "checks": checks,
        "run_creation_enabled": creation,
        "kill_switch": switch.to_dict(),
        "accepting_runs": creation_blocker(settings, server=True) is None,
    }

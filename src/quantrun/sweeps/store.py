"""``RUNS_ROOT/sweeps``: published sweeps, their listing, and the checkpoints of sweeps being
computed.

A sweep is built like a run (docs/registry.md): its folder is written in ``staging/``
(``results.parquet``, ``results.csv``, then ``sweep.json`` last), fsynced and renamed into
``sweeps/<sweep_id>`` — the commit point — and only then listed in ``sweeps/index.json``,
rewritten under ``sweeps/.sweeps.lock`` (temp file, fsync, ``os.replace``, fsync the folder).
The listing is derived: :meth:`SweepStore.recover` rebuilds it from the folders when it is
missing or corrupt, adds a published sweep it does not list (a crash after the rename) and
drops one whose folder is gone.

While a sweep is computed, each finished cell is appended to
``sweeps/.partial/<sweep_id>/cells.jsonl`` (fsynced), under a lock held by the computing
process: a sweep killed at any instant resumes from the cells recorded there. A torn last line
is dropped when the checkpoint is read back, and the file is rewritten clean before anything
is appended to it again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from quantrun.canonical import canonical_bytes, canonical_file_bytes, read_index_file, sha256_hex
from quantrun.durable import fsync_dir, remove_tree, replace_file, write_bytes
from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout
from quantrun.logs import get_logger
from quantrun.settings import Settings
from quantrun.staging import staging_dir, storage_lock
from quantrun.sweeps.manifest import (
    RESULTS_CSV,
    RESULTS_PARQUET,
    SWEEP_FILE,
    SweepFile,
    SweepManifest,
    SweepProblem,
    SweepSummary,
    verify_sweep_folder,
)

log = get_logger(__name__)

INDEX_SCHEMA_VERSION = 1
SWEEP_ID_LENGTH = 64
MIN_PREFIX = 8
CHECKPOINT_FILE = "cells.jsonl"


def is_sweep_id(value: str) -> bool:
    return len(value) == SWEEP_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class CellResult:
    """A computed cell: its number in grid order, its run id and every metric's value."""

    cell: int
    run_id: str
    values: dict[str, Any]

    def line(self) -> bytes:
        return canonical_bytes({"cell": self.cell, "run_id": self.run_id, "values": self.values})


class Checkpoint:
    """The cells of one sweep computed so far (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / CHECKPOINT_FILE

    def load(self, run_ids: Sequence[str]) -> dict[int, CellResult]:
        """Recorded cells that belong to this sweep (cell number and run id both match),
        rewriting the file without anything else (a torn last line, a stale entry)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        found: dict[int, CellResult] = {}
        lines = raw.split(b"\n")
        kept = 0
        for text in lines:
            result = _parse_line(text)
            if (
                result is not None
                and 0 <= result.cell < len(run_ids)
                and run_ids[result.cell] == result.run_id
                and result.cell not in found
            ):
                found[result.cell] = result
                kept += 1
        clean = b"".join(found[k].line() + b"\n" for k in sorted(found))
        if clean != raw:
            replace_file(self.path, clean)
            log.info("sweep.checkpoint_cleaned", kept=kept, lines=len([t for t in lines if t]))
        return found

    def append(self, results: Sequence[CellResult]) -> None:
        """Append ``results`` and fsync: once this returns they survive a crash."""
        if not results:
            return
        data = b"".join(result.line() + b"\n" for result in results)
        with self.path.open("ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def _parse_line(text: bytes) -> CellResult | None:
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("cell"), int)
        or not isinstance(data.get("run_id"), str)
        or not isinstance(data.get("values"), dict)
    ):
        return None
    return CellResult(data["cell"], data["run_id"], data["values"])


@dataclass(frozen=True)
class SweepIndex:
    generation: int
    sweeps: dict[str, SweepSummary]


class SweepStore:
    """Published sweeps under one RUNS_ROOT, and their listing."""

    def __init__(self, settings: Settings) -> None:
        self.layout: Layout = settings.layout
        self.root = self.layout.sweeps
        self._lock = FileLock(str(self.layout.sweeps_lock))

    # -- locking ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with storage_lock(self._lock, self.root, "the sweep listing"):
            yield

    @contextlib.contextmanager
    def computing(self, sweep_id: str) -> Iterator[Checkpoint]:
        """Hold the sweep's checkpoint for this process (SWEEP_IN_PROGRESS when another
        process is computing the same sweep)."""
        folder = self.layout.sweep_partial(sweep_id)
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder.with_name(folder.name + ".lock")), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise error(
                ErrorCode.SWEEP_IN_PROGRESS,
                f"sweep {sweep_id[:12]} is being computed by another process",
            ) from None
        try:
            folder.mkdir(exist_ok=True)
            yield Checkpoint(folder)
        finally:
            lock.release()

    def discard_partial(self, sweep_id: str) -> None:
        """Remove a published sweep's checkpoint (and its lock file)."""
        folder = self.layout.sweep_partial(sweep_id)
        remove_tree(folder)
        folder.with_name(folder.name + ".lock").unlink(missing_ok=True)

    # -- reading ----------------------------------------------------------------------------
    def _read_index(self) -> SweepIndex | None:
        found = read_index_file(self.layout.sweeps_index, INDEX_SCHEMA_VERSION, "sweeps")
        if found is None:
            return None
        generation, entries = found
        try:
            sweeps = {
                sid: SweepSummary.model_validate(value | {"sweep_id": sid})
                for sid, value in entries.items()
                if isinstance(value, dict)
            }
        except ValueError:
            return None
        return SweepIndex(generation, sweeps)

    def index(self) -> SweepIndex:
        return self._read_index() or SweepIndex(0, {})

    def rows(self, *, limit: int | None = None) -> list[SweepSummary]:
        """Listed sweeps, newest first (then by id)."""
        rows = sorted(self.index().sweeps.values(), key=lambda r: r.sweep_id)
        rows.sort(key=lambda r: r.created_at or "", reverse=True)
        return rows[:limit] if limit is not None else rows

    def resolve_id(self, text: str) -> str:
        """A full sweep id from a full id or a unique prefix of 8+ hex characters."""
        if is_sweep_id(text) and (self.layout.sweep(text) / SWEEP_FILE).is_file():
            return text
        if len(text) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in text):
            raise error(ErrorCode.SWEEP_NOT_FOUND, f"{text[:80]!r} is not a sweep id")
        matches = sorted({s for s in self._folders() if s.startswith(text)})
        if len(matches) != 1:
            what = "no sweep" if not matches else f"{len(matches)} sweeps"
            raise error(ErrorCode.SWEEP_NOT_FOUND, f"{what} with an id starting {text!r}")
        return matches[0]

    def manifest(self, sweep_id: str) -> SweepManifest:
        """A published sweep's verified manifest (SWEEP_NOT_FOUND when there is none)."""
        try:
            return verify_sweep_folder(self.layout.sweep(sweep_id), sweep_id)
        except SweepProblem as problem:
            raise error(ErrorCode.SWEEP_NOT_FOUND, f"sweep {sweep_id[:12]}: {problem}") from None

    def existing(self, sweep_id: str) -> SweepManifest | None:
        """The manifest of a published sweep that verifies; a damaged folder is moved to
        ``quarantine/`` so the sweep can be built again. None when there is none."""
        folder = self.layout.sweep(sweep_id)
        if not folder.exists():
            return None
        try:
            return verify_sweep_folder(folder, sweep_id)
        except SweepProblem as problem:
            with self.locked():
                if folder.exists():
                    self._quarantine(folder)
            log.warning("sweep.quarantined", sweep_id=sweep_id, reason=str(problem))
            return None

    def _folders(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        with os.scandir(self.root) as entries:
            return {e.name for e in entries if is_sweep_id(e.name) and e.is_dir()}

    # -- writing ----------------------------------------------------------------------------
    def publish(self, manifest: SweepManifest, files: dict[str, bytes]) -> bool:
        """Write ``files`` then ``sweep.json`` in staging and rename the folder into place.
        False when the same sweep was published first by another process."""
        final = self.layout.sweep(manifest.sweep_id)
        try:
            with staging_dir(self.layout.root, f"sweep-{manifest.sweep_id[:16]}") as work:
                for name in (RESULTS_PARQUET, RESULTS_CSV):
                    write_bytes(work / name, files[name])
                write_bytes(work / SWEEP_FILE, canonical_file_bytes(manifest.to_json()))
                fsync_dir(work)
                self.root.mkdir(parents=True, exist_ok=True)
                try:
                    work.rename(final)
                except OSError:
                    if (final / SWEEP_FILE).is_file():
                        return False
                    raise
                fsync_dir(self.root)
        except OSError as exc:
            raise error(
                ErrorCode.STORAGE_FAILED,
                f"could not publish sweep {manifest.sweep_id[:12]}: "
                f"{exc.strerror or type(exc).__name__}",
            ) from None
        return True

    def add(self, summary: SweepSummary) -> None:
        """List a published sweep (a sweep already listed keeps its first ``created_at``)."""
        with self.locked():
            current = self._read_index()
            if current is None:
                self._recover_locked()
                current = self.index()
            if summary.sweep_id in current.sweeps:
                return
            sweeps = dict(current.sweeps)
            sweeps[summary.sweep_id] = summary
            self._write_index(sweeps, current.generation + 1)

    def _write_index(self, sweeps: dict[str, SweepSummary], generation: int) -> None:
        data = {
            "schema_version": INDEX_SCHEMA_VERSION,
            "generation": generation,
            "sweeps": {sid: sweeps[sid].to_index() for sid in sorted(sweeps)},
        }
        replace_file(self.layout.sweeps_index, canonical_file_bytes(data))

    def recover(self) -> None:
        """Bring the listing in line with the published folders (module docstring)."""
        if not self.root.is_dir():
            return
        with self.locked():
            self._recover_locked()

    def _recover_locked(self) -> None:
        for temp in self.root.glob(f".{self.layout.sweeps_index.name}.*.tmp"):
            temp.unlink(missing_ok=True)
        current = self._read_index()
        sweeps = dict(current.sweeps) if current is not None else {}
        generation = current.generation if current is not None else 0
        folders = self._folders()
        changed = current is None and bool(folders)
        for sweep_id in sorted(folders - set(sweeps)):
            folder = self.layout.sweep(sweep_id)
            try:
                manifest = verify_sweep_folder(folder, sweep_id)
            except SweepProblem:
                self._quarantine(folder)
                continue
            sweeps[sweep_id] = SweepSummary.from_manifest(manifest, _mtime_iso(folder))
            changed = True
        for sweep_id in list(sweeps):
            if sweep_id not in folders:
                del sweeps[sweep_id]
                changed = True
        if changed:
            self._write_index(sweeps, generation + 1)
            log.info("sweeps.recovered", listed=len(sweeps))

    def _quarantine(self, folder: Path) -> None:
        quarantine = self.layout.quarantine
        quarantine.mkdir(parents=True, exist_ok=True)
        target = quarantine / f"sweep-{folder.name}"
        n = 1
        while target.exists():
            n += 1
            target = quarantine / f"sweep-{folder.name}.{n}"
        folder.rename(target)
        fsync_dir(self.root)


def file_entry(name: str, data: bytes) -> SweepFile:
    return SweepFile(name=name, bytes=len(data), sha256=sha256_hex(data))


def stamp(moment: datetime | None = None) -> str:
    """The listing's ``created_at`` (UTC, to the second); the only time a sweep keeps."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mtime_iso(folder: Path) -> str:
    moment = datetime.fromtimestamp((folder / SWEEP_FILE).stat().st_mtime, tz=UTC)
    return stamp(moment)

"""The run registry: ``RUNS_ROOT/index.json``, derived from the run folders' manifests.

Writes happen under ``RUNS_ROOT/.registry.lock`` (a kernel lock via filelock, never deleted):
the new index goes to a temp file in the same folder, is fsynced, ``os.replace``d over the old
one and the folder is fsynced, so a crash at any instant leaves either the old or the new index.
Every write bumps ``generation``.

:meth:`Registry.recover` (run by every command that opens the registry) clears stale staging
folders, rebuilds a missing or corrupt index from the manifests, adds published runs the index
does not know yet (a crash between the rename and the index write), drops entries whose folder
is gone, and quarantines run folders whose manifest does not verify.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from quantrun.canonical import canonical_file_bytes, read_index_file
from quantrun.durable import fsync_dir, replace_file
from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout
from quantrun.logs import get_logger
from quantrun.runs.manifest import (
    MANIFEST_FILE,
    Manifest,
    ManifestProblem,
    RunSummary,
    load_manifest,
    verify_run_folder,
)
from quantrun.staging import clear_stale, storage_lock

log = get_logger(__name__)

INDEX_FILE = Layout(Path()).index.name
INDEX_SCHEMA_VERSION = 1
RUN_ID_LENGTH = 64
MIN_PREFIX = 8


def is_run_id(value: str) -> bool:
    return len(value) == RUN_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


@dataclass
class RecoveryReport:
    cleared_staging: list[str] = field(default_factory=list)
    rebuilt_index: bool = False
    rebuild_reason: str = ""
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.rebuilt_index or self.added or self.dropped or self.quarantined)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cleared_staging": self.cleared_staging,
            "rebuilt_index": self.rebuilt_index,
            "rebuild_reason": self.rebuild_reason,
            "added": self.added,
            "dropped": self.dropped,
            "quarantined": self.quarantined,
        }


@dataclass(frozen=True)
class Index:
    """``index.json`` read: its generation and every run's row, by run id."""

    generation: int
    runs: dict[str, RunSummary]


class Registry:
    """The index of runs under one RUNS_ROOT (plus, read-only, an ARTIFACTS_ROOT)."""

    def __init__(self, runs_root: Path, artifacts_root: Path | None = None) -> None:
        self.root = runs_root
        layout = Layout(runs_root)
        self.layout = layout
        self.runs_dir = layout.runs
        self.index_path = layout.index
        self.quarantine_dir = layout.quarantine
        self.artifacts_root = artifacts_root
        self._lock = FileLock(str(layout.registry_lock))

    # -- locking --------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry lock. A storage failure while holding it is STORAGE_FAILED."""
        with storage_lock(self._lock, self.root, "the run registry"):
            yield

    # -- reading --------------------------------------------------------------------------
    def _read_index(self) -> Index | None:
        """The index, or None when missing or not a valid index (a bad entry included)."""
        found = read_index_file(self.index_path, INDEX_SCHEMA_VERSION, "runs")
        if found is None:
            return None
        generation, entries = found
        try:
            runs = {rid: RunSummary.from_index(rid, e) for rid, e in entries.items()}
        except ValueError:
            return None
        return Index(generation, runs)

    def index_state(self) -> str:
        """``missing`` (no run yet), ``valid`` or ``invalid`` (recovery will rebuild it)."""
        if not self.index_path.exists():
            return "missing"
        return "valid" if self._read_index() is not None else "invalid"

    def index(self) -> Index:
        """The current index (empty when there is none yet). Read without the lock: the
        index file is only ever replaced atomically."""
        return self._read_index() or Index(0, {})

    def entries(self) -> list[RunSummary]:
        """Every listed run: RUNS_ROOT's, then ARTIFACTS_ROOT's (read-only) ones."""
        rows = list(self.index().runs.values())
        rows += self._read_only_entries(exclude={r.run_id for r in rows})
        return rows

    def rows(
        self,
        *,
        strategy: str | None = None,
        symbol: str | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        """Listed runs, newest first (then by id), optionally filtered and cut to ``limit``."""
        rows = [
            row
            for row in self.entries()
            if (strategy is None or row.strategy == strategy)
            and (symbol is None or row.symbol == symbol)
        ]
        rows.sort(key=lambda r: r.run_id)
        rows.sort(key=lambda r: r.created_at or "", reverse=True)
        return rows[:limit] if limit is not None else rows

    def _read_only_entries(self, exclude: set[str]) -> list[RunSummary]:
        if self.artifacts_root is None:
            return []
        runs = Layout(self.artifacts_root).runs
        if not runs.is_dir():
            return []
        rows = []
        for folder in sorted(runs.iterdir()):
            if folder.name in exclude or not is_run_id(folder.name):
                continue
            try:
                manifest = load_manifest(folder)
            except ManifestProblem:
                continue
            if manifest.run_id == folder.name:
                rows.append(RunSummary.from_manifest(manifest, created_at=None, read_only=True))
        return rows

    def resolve_id(self, text: str) -> str:
        """A full run id from a full id or a unique prefix of at least 8 hex characters."""
        if is_run_id(text):
            return text
        if len(text) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in text):
            raise error(ErrorCode.RUN_NOT_FOUND, f"{text[:80]!r} is not a run id")
        matches = sorted({r.run_id for r in self.entries() if r.run_id.startswith(text)})
        if len(matches) != 1:
            what = "no run" if not matches else f"{len(matches)} runs"
            raise error(ErrorCode.RUN_NOT_FOUND, f"{what} with an id starting {text!r}")
        return matches[0]

    def run_path(self, run_id: str) -> Path:
        """The folder of a listed run; NotFound for anything else (ids are validated first)."""
        if not is_run_id(run_id):
            raise error(ErrorCode.RUN_NOT_FOUND, f"{run_id[:80]!r} is not a full run id")
        if run_id in self.index().runs:
            return self.runs_dir / run_id
        if self.artifacts_root is not None:
            candidate = Layout(self.artifacts_root).run(run_id)
            if (candidate / MANIFEST_FILE).is_file():
                return candidate
        raise error(ErrorCode.RUN_NOT_FOUND, f"no run {run_id}")

    # -- writing --------------------------------------------------------------------------
    def _write_index(self, runs: dict[str, RunSummary], generation: int) -> None:
        data = {
            "schema_version": INDEX_SCHEMA_VERSION,
            "generation": generation,
            "runs": {run_id: runs[run_id].to_index() for run_id in sorted(runs)},
        }
        replace_file(self.index_path, canonical_file_bytes(data))

    def add(self, run_id: str, entry: RunSummary) -> bool:
        """Register a published run under the lock. False if it was already listed."""
        with self.locked():
            current = self._read_index()
            recovered = current is None
            if current is None:
                # The caller just published (or verified) this run: no need to re-hash it.
                self._recover_locked(RecoveryReport(), trusted={run_id: entry})
                current = self.index()
            if run_id in current.runs and not recovered:
                return False
            runs = dict(current.runs)
            runs[run_id] = entry
            self._write_index(runs, current.generation + 1)
            log.info("registry.added", run_id=run_id, generation=current.generation + 1)
            return True

    def existing_or_quarantine(self, run_id: str) -> Manifest | None:
        """The manifest of a published run that verifies; a damaged one is quarantined (and
        unlisted) so it can be built again. None when there is no usable run."""
        folder = self.runs_dir / run_id
        try:
            return verify_run_folder(folder, expected_run_id=run_id)
        except ManifestProblem as problem:
            report = RecoveryReport()
            with self.locked():
                if folder.exists():
                    self._quarantine(folder, str(problem), report)
                current = self._read_index()
                if current is not None and run_id in current.runs:
                    runs = dict(current.runs)
                    del runs[run_id]
                    self._write_index(runs, current.generation + 1)
            log.warning("registry.quarantined", run_id=run_id, reason=str(problem))
            return None

    # -- recovery -------------------------------------------------------------------------
    def recover(self) -> RecoveryReport:
        """Bring the index in line with the run folders (see the module docstring)."""
        report = RecoveryReport()
        if not self.root.exists():
            return report
        with self.locked():
            self._recover_locked(report)
        return report

    def _recover_locked(
        self, report: RecoveryReport, trusted: dict[str, RunSummary] | None = None
    ) -> None:
        """``trusted``: run id -> index entry of runs the caller has just published or
        verified; their folders are listed without re-hashing every artifact."""
        report.cleared_staging = clear_stale(self.root)
        self._clear_index_temps()
        current = self._read_index()
        folders = self._run_folders()
        if current is None:
            report.rebuilt_index = True
            report.rebuild_reason = "missing" if not self.index_path.exists() else "corrupt"
            runs: dict[str, RunSummary] = {}
            generation = 0
            previous: dict[str, RunSummary] = {}
        else:
            runs = dict(current.runs)
            generation = current.generation
            previous = current.runs
        for run_id in folders:
            if run_id in runs and not report.rebuilt_index:
                continue
            folder = self.runs_dir / run_id
            created = previous[run_id].created_at if run_id in previous else None
            if trusted is not None and run_id in trusted:
                entry = trusted[run_id].model_copy(
                    update={"created_at": created or _mtime_iso(folder)}
                )
            else:
                try:
                    manifest = verify_run_folder(folder, expected_run_id=run_id)
                except ManifestProblem as problem:
                    self._quarantine(folder, str(problem), report)
                    continue
                entry = RunSummary.from_manifest(manifest, created_at=created or _mtime_iso(folder))
            runs[run_id] = entry
            if not report.rebuilt_index:
                report.added.append(run_id)
        for run_id in list(runs):
            if run_id not in folders:
                del runs[run_id]
                report.dropped.append(run_id)
        if report.changed:
            self._write_index(runs, generation + 1)
            quiet = report.rebuild_reason == "missing" and not report.quarantined
            (log.info if quiet else log.warning)("registry.recovered", **report.to_dict())

    def _clear_index_temps(self) -> None:
        """Delete ``.index.json.<pid>.tmp`` files left by writers that died mid-write. Every
        index write holds the registry lock, which the caller holds now: none is in flight."""
        for temp in self.root.glob(f".{self.index_path.name}.*.tmp"):
            temp.unlink(missing_ok=True)
            log.info("registry.index_temp_cleared", name=temp.name)

    def _run_folders(self) -> set[str]:
        if not self.runs_dir.is_dir():
            return set()
        found = set()
        # scandir: is_dir() comes from the directory entry, not one stat() per run folder.
        with os.scandir(self.runs_dir) as entries:
            for entry in entries:
                if is_run_id(entry.name) and entry.is_dir():
                    found.add(entry.name)
        return found

    def _quarantine(self, folder: Path, reason: str, report: RecoveryReport) -> None:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / folder.name
        n = 1
        while target.exists():
            n += 1
            target = self.quarantine_dir / f"{folder.name}.{n}"
        folder.rename(target)
        fsync_dir(self.runs_dir)
        report.quarantined.append({"run_id": folder.name, "reason": reason})

    def rebuild(self) -> RecoveryReport:
        """Rebuild the index from the manifests, verifying every run folder."""
        report = RecoveryReport(rebuilt_index=True, rebuild_reason="requested")
        with self.locked():
            current = self._read_index() or Index(0, {})
            report.cleared_staging = clear_stale(self.root)
            runs: dict[str, RunSummary] = {}
            for run_id in sorted(self._run_folders()):
                folder = self.runs_dir / run_id
                try:
                    manifest = verify_run_folder(folder, expected_run_id=run_id)
                except ManifestProblem as problem:
                    self._quarantine(folder, str(problem), report)
                    continue
                known = current.runs.get(run_id)
                created = known.created_at if known is not None else None
                runs[run_id] = RunSummary.from_manifest(
                    manifest, created_at=created or _mtime_iso(folder)
                )
            report.dropped = sorted(set(current.runs) - set(runs))
            self._write_index(runs, current.generation + 1)
        return report


def _mtime_iso(folder: Path) -> str:
    """Creation time for a run whose index entry was lost: its manifest's mtime."""
    from datetime import UTC, datetime

    stamp = (folder / MANIFEST_FILE).stat().st_mtime
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""Materialising cells: a cell's full run, written and registered exactly as ``runs create``.

A cell's request is the sweep's recorded base request with the cell's parameters and the
strategy version the sweep ran, its inputs found again as ``runs verify --rerun`` finds them
(the recorded path, else the web upload with the recorded file's sha256). The data is read once
for all the cells asked for; each cell's run id is checked against the sweep's before anything
is written (SWEEP_INPUT_CHANGED when the inputs no longer give it), then the builder's
:func:`~quantrun.runs.builder.create_run` writes and registers the run — the same bytes as
``runs create`` with the same inputs, and nothing rewritten when the run exists already.

On a dataset axis a cell's request reads the cell's own dataset (its symbol and its files or
stored dataset, :meth:`~quantrun.sweeps.manifest.SweepManifest.input_of`); each dataset the
cells asked for is read once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantrun.data.store import DatasetStore
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.runs.builder import (
    DatasetInput,
    Prepared,
    Progress,
    RunResult,
    create_run,
    identify,
    prepare,
    strategy_finder,
)
from quantrun.runs.policy import require_creation
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings
from quantrun.sweeps.manifest import INPUT_KEYS, AxisDataset, SweepCell, SweepManifest

if TYPE_CHECKING:
    from quantrun.runs.request import StrategyFinder


def _no_progress(stage: str) -> None:
    return None


@dataclass(frozen=True)
class Materialized:
    cell: int
    run_id: str
    created: bool
    result: RunResult

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "run_id": self.run_id, "created": self.created}


def cell_request(
    manifest: SweepManifest, cell: SweepCell, settings: Settings, *, find_files: bool = True
) -> RunCreateRequest:
    """The run request of ``cell``: what ``runs create`` would be given for it (with
    ``find_files``, its inputs found again; else they stay under their recorded labels, for a
    build that reads the stored dataset instead)."""
    item = manifest.input_of(cell)
    recorded = {k: v for k, v in manifest.request.items() if k not in INPUT_KEYS}
    recorded |= item.request
    extra: dict[str, Any] = {
        "params": cell.params,
        "strategy_version": manifest.strategy.version,
        # The identity and resampling rules the sweep's run ids were computed with (a sweep
        # that does not record its resampling rules predates rules 2).
        "identity_schema": manifest.versions.get("identity_schema"),
        "resample_rules": manifest.versions.get("resample_rules", 1),
    }
    if recorded.get("dataset") is None:
        sources = item.dataset.sources
        labels = [str(source.get("path")) for source in sources]
        extra["paths"] = [
            _found(label, str(source.get("sha256")), settings) if find_files else label
            for label, source in zip(labels, sources, strict=True)
        ]
        extra["labels"] = labels
    return RunCreateRequest.from_record(recorded | extra)


def stored_input(item: AxisDataset, settings: Settings) -> DatasetInput | None:
    """A dataset of the sweep as its runs record it, read from RUNS_ROOT's store (verified), or
    None when it is no longer stored. The sources are the sweep's record of the input files,
    so the runs say what ``runs create`` of those files would say, wherever the files are."""
    try:
        loaded = DatasetStore(settings.runs_root).load_for_run(item.dataset.dataset_id)
    except QuantrunError as missing:
        if missing.code != ErrorCode.DATASET_NOT_FOUND:
            raise
        return None
    return DatasetInput(
        loaded.dataset_id,
        loaded.content_sha256,
        loaded.bars,
        loaded.quality,
        [dict(source) for source in item.dataset.sources],
    )


def _found(label: str, sha256: str, settings: Settings) -> str:
    candidate = Path(label)
    upload = settings.layout.upload(sha256)
    return str(candidate if candidate.is_file() or not upload.is_file() else upload)


def _read(
    manifest: SweepManifest,
    cell: SweepCell,
    settings: Settings,
    find: StrategyFinder,
    progress: Progress,
) -> tuple[Prepared, bool]:
    """The dataset ``cell`` reads, prepared once, and whether it was read from its files."""
    stored = stored_input(manifest.input_of(cell), settings)
    files = stored is None
    first = cell_request(manifest, cell, settings, find_files=files)
    prepared = prepare(
        first, settings, resolved=first.resolve(find), dataset=stored, progress=progress
    )
    return prepared, files


def materialize(
    manifest: SweepManifest,
    cells: Sequence[SweepCell],
    settings: Settings,
    *,
    progress: Progress | None = None,
) -> list[Materialized]:
    """Write and register the runs of ``cells`` (see the module docstring). ``progress``: the
    builder's stages as they start (a web job records them)."""
    report = progress or _no_progress
    if not cells:
        return []
    require_creation(settings, server=False)
    find = strategy_finder(settings)
    read: dict[str, tuple[Prepared, bool]] = {}
    done = []
    for cell in cells:
        key = manifest.input_of(cell).dataset.dataset_id
        if key not in read:
            read[key] = _read(manifest, cell, settings, find, report)
        prepared, files = read[key]
        request = cell_request(manifest, cell, settings, find_files=files)
        resolved = request.resolve(find)
        _identity, run_id = identify(prepared.run_bars, resolved)
        if run_id != cell.run_id:
            raise error(
                ErrorCode.SWEEP_INPUT_CHANGED,
                f"cell {cell.cell} of sweep {manifest.sweep_id[:12]} was run "
                f"{cell.run_id[:12]}; its inputs now give {run_id[:12]}",
            )
        result = create_run(
            request,
            settings,
            prepared=dataclasses.replace(prepared, resolved=resolved),
            progress=report,
        )
        done.append(Materialized(cell.cell, result.run_id, result.created, result))
    return done

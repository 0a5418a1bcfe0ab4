"""Planning a sweep: every check before any work, then each cell's run id and the sweep id.

:func:`check` reads no data and writes nothing: the grid's syntax, names, values and size
(:mod:`quantrun.sweeps.grid`), then every cell's request resolved exactly as ``runs create``
resolves it, so the strategy's own validator judges each cell's parameters. Cells it refuses
refuse the sweep (SWEEP_CELLS_INVALID, naming them), or are recorded as skipped with
``skip_invalid``. Only then does :func:`plan` read the data, once, through the builder's
:func:`~quantrun.runs.builder.prepare`, and ask the builder's
:func:`~quantrun.runs.builder.identify` for each cell's run id: a sweep never computes an id
itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quantrun.engine.simulate import ENGINE_VERSION
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.runs.builder import (
    IDENTITY_SCHEMA_VERSION,
    Prepared,
    identify,
    library_versions,
    prepare,
    strategy_finder,
)
from quantrun.runs.request import ResolvedRequest, RunCreateRequest
from quantrun.settings import Settings
from quantrun.sweeps import grid as grids
from quantrun.sweeps.manifest import (
    SWEEP_IDENTITY_VERSION,
    SWEEP_SCHEMA_VERSION,
    CellRef,
    SkippedCell,
    StrategyPin,
    SweepCell,
    SweepDataset,
    SweepFile,
    SweepIdentity,
    SweepManifest,
)
from quantrun.sweeps.request import SweepRequest, cell_request
from quantrun.sweeps.results import reserved_columns
from quantrun.version import __version__

if TYPE_CHECKING:
    from quantrun.runs.request import StrategyFinder

#: Invalid cells named in a refusal's message (all of them are in ``extra.invalid``, up to
#: :data:`MAX_LISTED`).
NAMED_IN_MESSAGE = 3
MAX_LISTED = 100

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CheckedCell:
    grid: dict[str, grids.Scalar]
    resolved: ResolvedRequest


@dataclass(frozen=True)
class Checked:
    """A sweep request whose every cell resolved (or was skipped); no data read yet."""

    request: SweepRequest
    cells: list[CheckedCell]
    skipped: list[SkippedCell]


@dataclass(frozen=True)
class PlannedCell:
    cell: int
    grid: dict[str, grids.Scalar]
    resolved: ResolvedRequest
    run_id: str

    @property
    def params(self) -> dict[str, Any]:
        """The cell's parameters as validated, every one (defaults filled in)."""
        dumped: dict[str, Any] = self.resolved.params.model_dump(mode="json")
        return dumped


@dataclass(frozen=True)
class Plan:
    """A sweep ready to compute: the data read once, every cell's run id, the sweep id."""

    request: SweepRequest
    prepared: Prepared
    cells: list[PlannedCell]
    skipped: list[SkippedCell]
    identity: SweepIdentity

    @property
    def sweep_id(self) -> str:
        return self.identity.sweep_id

    @property
    def run_ids(self) -> list[str]:
        return [cell.run_id for cell in self.cells]

    def manifest(self, results: list[SweepFile], metrics: list[str]) -> SweepManifest:
        """``sweep.json`` for this plan, listing the results files written for it."""
        prepared = self.prepared
        dataset = prepared.dataset
        quality = dataset.quality
        base = self.request.run
        return SweepManifest(
            schema_version=SWEEP_SCHEMA_VERSION,
            sweep_id=self.sweep_id,
            identity=self.identity,
            request=base_record(base, dataset.dataset_id),
            dataset=SweepDataset(
                dataset_id=dataset.dataset_id,
                content_sha256=dataset.content_sha256,
                rows=quality["rows"],
                first_bar=quality["first_bar"],
                last_bar=quality["last_bar"],
                base_timeframe=prepared.resolved.base_timeframe.name,
                sources=dataset.sources,
            ),
            symbol=base.symbol,
            timeframe=prepared.resolved.timeframe.name,
            window=prepared.run_bars.window.model_dump(mode="json"),
            cells=[
                SweepCell(cell=c.cell, grid=c.grid, params=c.params, run_id=c.run_id)
                for c in self.cells
            ],
            skipped=self.skipped,
            versions={
                "engine_version": ENGINE_VERSION,
                "identity_schema": IDENTITY_SCHEMA_VERSION,
                "quantrun_version": __version__,
                "libraries": library_versions(),
            },
            results=results,
            metrics=metrics,
        )


def base_record(base: RunCreateRequest, dataset_id: str) -> dict[str, Any]:
    """The base request as its cells' runs record it: inputs under their labels, a stored
    dataset by its full id, and no ``params`` (each cell has its own)."""
    data = {k: v for k, v in base.canonical().items() if k not in ("labels", "params")}
    data["paths"] = base.source_labels()
    if base.dataset is not None:
        data["dataset"] = dataset_id
    return data


def parameter_kinds(request: RunCreateRequest, find: StrategyFinder) -> dict[str, str]:
    """The strategy's parameters, each with its JSON-schema type ("" when not one type)."""
    strategy = find(request.strategy, request.strategy_version).cls
    properties = strategy.Params.model_json_schema().get("properties", {})
    return {name: str(prop.get("type", "")) for name, prop in properties.items()}


def check(request: SweepRequest, settings: Settings) -> Checked:
    """Every check that needs no data (see the module docstring)."""
    limit = settings.max_sweep_cells
    total = grids.check_axes(request.grid, limit)
    taken = sorted({axis.name for axis in request.grid} & reserved_columns())
    if taken:
        raise error(
            ErrorCode.SWEEP_GRID_INVALID,
            f"a grid axis may not be named {', '.join(taken)}: the results table uses the name",
        )
    find = strategy_finder(settings)
    grids.check_names(request.grid, parameter_kinds(request.run, find), request.run.strategy)
    cells: list[CheckedCell] = []
    invalid: list[dict[str, Any]] = []
    skipped: list[SkippedCell] = []
    for index, params in enumerate(grids.cells(request.grid)):
        try:
            resolved = cell_request(request.run, params).resolve(find)
        except QuantrunError as refused:
            if refused.code != ErrorCode.STRATEGY_PARAMS_INVALID:
                raise
            invalid.append({"cell": index, "params": params, "reason": refused.detail})
            skipped.append(SkippedCell(params=params, reason=refused.detail))
            continue
        cells.append(CheckedCell(params, resolved))
    if invalid and not request.skip_invalid:
        named = "; ".join(
            f"{_cell_text(item['params'])} ({item['reason']})"
            for item in invalid[:NAMED_IN_MESSAGE]
        )
        more = len(invalid) - NAMED_IN_MESSAGE
        raise error(
            ErrorCode.SWEEP_CELLS_INVALID,
            f"{len(invalid)} of {total} cells are refused by {request.run.strategy}: {named}"
            + (f"; and {more} more" if more > 0 else ""),
            extra={"invalid": invalid[:MAX_LISTED], "invalid_cells": len(invalid)},
        )
    if not cells:
        raise error(
            ErrorCode.SWEEP_CELLS_INVALID,
            f"every one of the {total} cells is refused by {request.run.strategy}",
            extra={"invalid": invalid[:MAX_LISTED], "invalid_cells": len(invalid)},
        )
    return Checked(request, cells, skipped)


def _cell_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def plan(checked: Checked, settings: Settings, *, progress: Progress | None = None) -> Plan:
    """Read the data once and give every cell its run id (the builder's), then the sweep id."""
    first = checked.cells[0].resolved
    if progress is None:
        prepared = prepare(first.request, settings, resolved=first)
    else:
        prepared = prepare(first.request, settings, resolved=first, progress=progress)
    cells = [
        PlannedCell(index, item.grid, item.resolved, identify(prepared.run_bars, item.resolved)[1])
        for index, item in enumerate(checked.cells)
    ]
    request = checked.request
    identity = SweepIdentity(
        schema_version=SWEEP_IDENTITY_VERSION,
        engine_version=ENGINE_VERSION,
        strategy=StrategyPin(id=request.run.strategy, version=first.strategy.version),
        datasets=[prepared.dataset.dataset_id],
        axes=request.grid,
        cells=[CellRef(params=c.params, run_id=c.run_id) for c in cells],
        skipped=[s.params for s in checked.skipped],
    )
    return Plan(request, prepared, cells, checked.skipped, identity)

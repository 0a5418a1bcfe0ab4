"""Planning a sweep: every check before any work, then each cell's run id and the sweep id.

:func:`check` reads no data and writes nothing: the grid's syntax, names, values and size
(:mod:`quantrun.sweeps.grid`), then every cell's request resolved exactly as ``runs create``
resolves it, so the strategy's own validator judges each cell's parameters. Cells it refuses
refuse the sweep (SWEEP_CELLS_INVALID, naming them), or are recorded as skipped with
``skip_invalid``. Only then does :func:`plan` read the data, once, through the builder's
:func:`~quantrun.runs.builder.prepare`, and ask the builder's
:func:`~quantrun.runs.builder.identify` for each cell's run id: a sweep never computes an id
itself.

On a dataset axis (D47) every cell of the grid is checked on each dataset, and :func:`plan`
first reads every dataset without storing anything (a bad file, a stored dataset named with
another symbol, the same bars twice: refused, nothing written), then prepares each once. Cells
are numbered dataset by dataset: the dataset axis is the outermost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quantrun.data.ingest import inspect
from quantrun.data.store import DatasetStore
from quantrun.engine.simulate import ENGINE_VERSION
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.runs.builder import (
    Prepared,
    identify,
    identity_schema,
    library_versions,
    prepare,
    resample_rules,
    strategy_finder,
)
from quantrun.runs.request import ResolvedRequest, RunCreateRequest
from quantrun.settings import Settings
from quantrun.sweeps import grid as grids
from quantrun.sweeps.manifest import (
    AXIS_IDENTITY_VERSION,
    AXIS_SCHEMA_VERSION,
    INPUT_KEYS,
    SWEEP_IDENTITY_VERSION,
    SWEEP_SCHEMA_VERSION,
    AxisDataset,
    CellRef,
    SkippedCell,
    StrategyPin,
    SweepCell,
    SweepDataset,
    SweepFile,
    SweepIdentity,
    SweepManifest,
)
from quantrun.sweeps.request import SweepRequest, cell_request, describe_input
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
    #: The cell's dataset: its place on the dataset axis (0 for a sweep of one dataset).
    dataset: int = 0


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
    dataset: int = 0

    @property
    def params(self) -> dict[str, Any]:
        """The cell's parameters as validated, every one (defaults filled in)."""
        dumped: dict[str, Any] = self.resolved.params.model_dump(mode="json")
        return dumped


@dataclass(frozen=True)
class Plan:
    """A sweep ready to compute: the data read once, every cell's run id, the sweep id."""

    request: SweepRequest
    #: Each dataset of the axis, read once, in axis order.
    datasets: list[Prepared]
    cells: list[PlannedCell]
    skipped: list[SkippedCell]
    identity: SweepIdentity

    @property
    def prepared(self) -> Prepared:
        """The first dataset (the only one of a sweep without a dataset axis)."""
        return self.datasets[0]

    @property
    def axis(self) -> bool:
        """Whether the dataset is an axis (several datasets: schema 2)."""
        return len(self.datasets) > 1

    @property
    def sweep_id(self) -> str:
        return self.identity.sweep_id

    @property
    def run_ids(self) -> list[str]:
        return [cell.run_id for cell in self.cells]

    def manifest(self, results: list[SweepFile], metrics: list[str]) -> SweepManifest:
        """``sweep.json`` for this plan, listing the results files written for it."""
        prepared = self.prepared
        base = self.request.run
        inputs = self.request.inputs()
        records = [
            AxisDataset(
                symbol=run.symbol,
                request={
                    k: v
                    for k, v in base_record(run, item.dataset.dataset_id).items()
                    if k in INPUT_KEYS
                },
                dataset=_dataset_record(item),
            )
            for run, item in zip(inputs, self.datasets, strict=True)
        ]
        return SweepManifest(
            schema_version=AXIS_SCHEMA_VERSION if self.axis else SWEEP_SCHEMA_VERSION,
            sweep_id=self.sweep_id,
            identity=self.identity,
            request=base_record(base, prepared.dataset.dataset_id),
            dataset=records[0].dataset,
            symbol=base.symbol,
            timeframe=prepared.resolved.timeframe.name,
            window=prepared.run_bars.window.model_dump(mode="json"),
            cells=[
                SweepCell(
                    cell=c.cell,
                    grid=c.grid,
                    params=c.params,
                    run_id=c.run_id,
                    **self._names(c),
                )
                for c in self.cells
            ],
            datasets=records if self.axis else None,
            skipped=self.skipped,
            versions={
                "engine_version": ENGINE_VERSION,
                "identity_schema": identity_schema(base),
                "resample_rules": resample_rules(base),
                "quantrun_version": __version__,
                "libraries": library_versions(),
            },
            results=results,
            metrics=metrics,
        )

    def _names(self, cell: PlannedCell) -> dict[str, Any]:
        """What names a cell's dataset on a dataset axis (nothing without one)."""
        if not self.axis:
            return {}
        return {
            "symbol": cell.resolved.request.symbol,
            "dataset_id": self.datasets[cell.dataset].dataset.dataset_id,
        }

    def cell_datasets(self) -> list[tuple[str, str]] | None:
        """Each cell's ``(symbol, dataset id)`` on a dataset axis; None without one."""
        if not self.axis:
            return None
        return [(c.resolved.request.symbol, self._names(c)["dataset_id"]) for c in self.cells]


def _dataset_record(prepared: Prepared) -> SweepDataset:
    dataset = prepared.dataset
    quality = dataset.quality
    return SweepDataset(
        dataset_id=dataset.dataset_id,
        content_sha256=dataset.content_sha256,
        rows=quality["rows"],
        first_bar=quality["first_bar"],
        last_bar=quality["last_bar"],
        base_timeframe=prepared.resolved.base_timeframe.name,
        sources=dataset.sources,
    )


def base_record(base: RunCreateRequest, dataset_id: str) -> dict[str, Any]:
    """The base request as its cells' runs record it: inputs under their labels, a stored
    dataset by its full id, and no ``params`` (each cell has its own) nor the resampling
    rules (``versions`` records them; a sweep made before rules 2 recorded neither)."""
    data = {
        k: v for k, v in base.canonical().items() if k not in ("labels", "params", "resample_rules")
    }
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
    inputs = request.inputs()
    total = grids.check_axes(request.grid, limit, len(inputs))
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
    # The other datasets of the axis: the same parameters (the strategy judged them above),
    # each cell's request on that dataset's input, dataset by dataset.
    first = list(cells)
    for number, run in enumerate(inputs[1:], start=1):
        cells.extend(
            CheckedCell(item.grid, cell_request(run, item.grid).resolve(find), number)
            for item in first
        )
    return Checked(request, cells, skipped)


def _cell_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def plan(checked: Checked, settings: Settings, *, progress: Progress | None = None) -> Plan:
    """Read each dataset once and give every cell its run id (the builder's), then the sweep
    id (see the module docstring)."""
    request = checked.request
    inputs = request.inputs()
    if len(inputs) > 1:
        _check_datasets(inputs, settings)
    firsts: dict[int, ResolvedRequest] = {}
    for item in checked.cells:
        firsts.setdefault(item.dataset, item.resolved)
    datasets: list[Prepared] = []
    for number, resolved in sorted(firsts.items()):
        try:
            if progress is None:
                datasets.append(prepare(resolved.request, settings, resolved=resolved))
            else:
                datasets.append(
                    prepare(resolved.request, settings, resolved=resolved, progress=progress)
                )
        except QuantrunError as refused:
            if len(inputs) == 1:
                raise
            raise _naming(refused, number, inputs[number]) from None
    cells = [
        PlannedCell(
            index,
            item.grid,
            item.resolved,
            identify(datasets[item.dataset].run_bars, item.resolved)[1],
            item.dataset,
        )
        for index, item in enumerate(checked.cells)
    ]
    axis = len(datasets) > 1
    first = checked.cells[0].resolved
    identity = SweepIdentity(
        schema_version=AXIS_IDENTITY_VERSION if axis else SWEEP_IDENTITY_VERSION,
        engine_version=ENGINE_VERSION,
        strategy=StrategyPin(id=request.run.strategy, version=first.strategy.version),
        datasets=[prepared.dataset.dataset_id for prepared in datasets],
        axes=request.grid,
        cells=[
            CellRef(
                params=c.params,
                run_id=c.run_id,
                symbol=c.resolved.request.symbol if axis else None,
                dataset_id=datasets[c.dataset].dataset.dataset_id if axis else None,
            )
            for c in cells
        ],
        skipped=[s.params for s in checked.skipped],
    )
    return Plan(request, datasets, cells, checked.skipped, identity)


def _naming(refused: QuantrunError, number: int, run: RunCreateRequest) -> QuantrunError:
    """``refused`` (its code kept) saying which dataset of the axis it is about."""
    return error(
        refused.code,
        f"dataset {number + 1} ({describe_input(run)}): {refused.detail}",
        hint=refused.hint,
        lines=refused.lines,
        extra=refused.extra | {"dataset": number, "symbol": run.symbol},
    )


def _check_datasets(inputs: list[RunCreateRequest], settings: Settings) -> None:
    """Every dataset of the axis read (files) or looked up (stored) without writing anything:
    a bad file keeps its own code and names its dataset; a stored dataset of another symbol or
    bar length is SWEEP_DATASET_MISMATCH; the same bars twice SWEEP_DATASET_DUPLICATE."""
    store = DatasetStore(settings.runs_root)
    seen: dict[str, int] = {}
    for number, run in enumerate(inputs):
        try:
            if run.dataset is not None:
                full = store.resolve(run.dataset)
                meta = store.read_meta(full)
                content = str(meta.get("content_sha256"))
                descriptor = meta.get("descriptor") or {}
                held = (descriptor.get("symbol"), descriptor.get("timeframe"))
                if held[0] not in (None, run.symbol) or held[1] != run.base_timeframe:
                    raise error(
                        ErrorCode.SWEEP_DATASET_MISMATCH,
                        f"stored dataset {full[:12]} holds {held[0]} {held[1]} bars, not "
                        f"{run.symbol} {run.base_timeframe}",
                    )
            else:
                inspection = inspect(run.ingest_request(), settings)
                if inspection.error is not None:
                    raise inspection.error
                content = str(inspection.content_sha256)
        except QuantrunError as refused:
            raise _naming(refused, number, run) from None
        if content in seen:
            raise error(
                ErrorCode.SWEEP_DATASET_DUPLICATE,
                f"dataset {number + 1} ({describe_input(run)}) holds the same bars as dataset "
                f"{seen[content] + 1} ({describe_input(inputs[seen[content]])})",
            )
        seen[content] = number

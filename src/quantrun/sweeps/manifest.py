"""The sweep's typed records: its identity, its manifest (``sweep.json``) and its listing row.

``sweep_id`` is the sha256 of the canonical JSON of :class:`SweepIdentity`: the expanded
cells in grid order, each with its validated parameters and its run id (which covers the
dataset, the window, the strategy's version, risk, costs and the engine), plus the dataset
ids, the strategy and the engine version, the axes and the cells skipped as invalid. No path,
no time, no worker count: the same sweep on any executor has the same id and the same bytes.

Schema 1 is a sweep of one dataset; schema 2 (identity and manifest) one whose dataset is an
axis (D47): each cell also names its ``symbol`` and ``dataset_id``, and the manifest lists the
``datasets`` of the axis. Those fields are written only when set (:class:`_Record`), so a sweep
of one dataset keeps schema 1, its id and its bytes; both schemas are read.

Everything else reads these by attribute; ``sweep.json`` is read only here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from quantrun.canonical import canonical_hash, sha256_hex
from quantrun.sweeps.grid import GridAxis

SWEEP_FILE = "sweep.json"
RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
SWEEP_SCHEMA_VERSION = 1
SWEEP_IDENTITY_VERSION = 1
#: The schemas of a sweep whose dataset is an axis (several datasets).
AXIS_SCHEMA_VERSION = 2
AXIS_IDENTITY_VERSION = 2
READABLE_SCHEMAS = (SWEEP_SCHEMA_VERSION, AXIS_SCHEMA_VERSION)

Number = int | float


class _Record(BaseModel):
    """Frozen, unknown keys refused; numbers keep their JSON type (see runs/manifest.py).
    A field in ``LATER`` (added with schema 2) is written only when it is set, so a record
    without it dumps (and hashes) exactly as it did before the field existed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    LATER: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _without_unset_later_fields(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in self.LATER:
                if data.get(name) is None:
                    data.pop(name, None)
        return data


class SweepProblem(Exception):
    """A sweep folder that cannot be trusted; the message says why."""


class CellRef(_Record):
    """One cell as the identity holds it: its validated parameters and its run id (and, on a
    dataset axis, the symbol and dataset it reads)."""

    LATER = frozenset({"symbol", "dataset_id"})

    params: dict[str, Any]
    run_id: str
    symbol: str | None = None
    dataset_id: str | None = None


class StrategyPin(_Record):
    id: str
    version: str


class SweepIdentity(_Record):
    """Everything that decides a sweep's results, and nothing else."""

    schema_version: int
    engine_version: str
    strategy: StrategyPin
    datasets: list[str]
    axes: list[GridAxis]
    cells: list[CellRef]
    #: The grid values of the cells the strategy refused (``--skip-invalid``).
    skipped: list[dict[str, Any]]

    @property
    def sweep_id(self) -> str:
        return canonical_hash(self.model_dump(mode="json"))


class SkippedCell(_Record):
    params: dict[str, Any]
    reason: str


class SweepCell(_Record):
    """A cell of the manifest: its number (grid order), grid values, all parameters, run id;
    on a dataset axis also the symbol and the dataset it reads (schema 2)."""

    LATER = frozenset({"symbol", "dataset_id"})

    cell: int
    grid: dict[str, Any]
    params: dict[str, Any]
    run_id: str
    symbol: str | None = None
    dataset_id: str | None = None


class SweepFile(_Record):
    name: str
    bytes: int
    sha256: str


class SweepDataset(_Record):
    dataset_id: str
    content_sha256: str
    rows: int
    first_bar: str | None
    last_bar: str | None
    base_timeframe: str
    sources: list[dict[str, Any]]


class AxisDataset(_Record):
    """One dataset of a sweep's dataset axis as the manifest records it: its symbol, its input
    fields as its cells' runs record them (``paths`` under their labels, or ``dataset``), and
    the dataset read."""

    symbol: str
    request: dict[str, Any]
    dataset: SweepDataset


#: The input fields of a recorded run request (the rest is shared by every dataset).
INPUT_KEYS = ("symbol", "paths", "dataset", "labels")


class SweepManifest(_Record):
    """``sweep.json``: written last in a sweep folder, after the results it lists."""

    schema_version: int
    sweep_id: str
    identity: SweepIdentity
    #: The base run request as its runs record it (inputs under their labels), without
    #: ``params``; a cell's request is this with the cell's ``params``.
    request: dict[str, Any]
    dataset: SweepDataset
    symbol: str
    timeframe: str
    window: dict[str, Any]
    cells: list[SweepCell]
    skipped: list[SkippedCell]
    versions: dict[str, Any]
    results: list[SweepFile]
    #: Metric ids, in the results table's column order after the parameters and run_id.
    metrics: list[str]
    #: The dataset axis, in order (schema 2 only; ``request``, ``dataset`` and ``symbol``
    #: above are its first dataset's).
    datasets: list[AxisDataset] | None = None

    LATER = frozenset({"datasets"})

    @property
    def axis_names(self) -> list[str]:
        return [axis.name for axis in self.identity.axes]

    def inputs(self) -> list[AxisDataset]:
        """Every dataset of the sweep, in axis order (one for a schema 1 sweep)."""
        if self.datasets is not None:
            return list(self.datasets)
        recorded = {k: self.request[k] for k in INPUT_KEYS if k in self.request}
        return [AxisDataset(symbol=self.symbol, request=recorded, dataset=self.dataset)]

    def input_of(self, cell: SweepCell) -> AxisDataset:
        """The dataset ``cell`` reads."""
        inputs = self.inputs()
        if cell.dataset_id is None:
            return inputs[0]
        return next(
            item
            for item in inputs
            if item.dataset.dataset_id == cell.dataset_id and item.symbol == cell.symbol
        )

    @property
    def symbols(self) -> list[str]:
        return [item.symbol for item in self.inputs()]

    @property
    def strategy(self) -> StrategyPin:
        return self.identity.strategy

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


class SweepSummary(_Record):
    """A sweep as the listing shows it (``sweeps/index.json`` and ``sweeps list``)."""

    sweep_id: str
    created_at: str | None = None
    symbol: str
    timeframe: str
    strategy: str
    strategy_version: str
    dataset_id: str
    axes: list[str]
    cells: int
    skipped: int

    @classmethod
    def from_manifest(cls, manifest: SweepManifest, created_at: str | None) -> SweepSummary:
        return cls(
            sweep_id=manifest.sweep_id,
            created_at=created_at,
            symbol=",".join(manifest.symbols),
            timeframe=manifest.timeframe,
            strategy=manifest.strategy.id,
            strategy_version=manifest.strategy.version,
            dataset_id=manifest.dataset.dataset_id,
            axes=manifest.axis_names,
            cells=len(manifest.cells),
            skipped=len(manifest.skipped),
        )

    def to_index(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"sweep_id"})

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


def dataset_names(manifest: SweepManifest, cell: SweepCell) -> dict[str, str]:
    """``{"symbol", "dataset_id"}`` of the dataset ``cell`` reads (any schema)."""
    item = manifest.input_of(cell)
    return {"symbol": item.symbol, "dataset_id": item.dataset.dataset_id}


def dataset_list(manifest: SweepManifest) -> list[dict[str, Any]]:
    """The dataset axis as listings show it: each dataset's symbol, id and input, in order."""
    return [
        {
            "symbol": item.symbol,
            "dataset_id": item.dataset.dataset_id,
            "paths": item.request.get("paths", []),
            "dataset": item.request.get("dataset"),
            "first_bar": item.dataset.first_bar,
            "last_bar": item.dataset.last_bar,
            "rows": item.dataset.rows,
        }
        for item in manifest.inputs()
    ]


def load_sweep_manifest(folder: Path) -> SweepManifest:
    """The manifest of a sweep folder; SweepProblem when missing or not one."""
    try:
        data = json.loads((folder / SWEEP_FILE).read_text(encoding="utf-8"))
        manifest = SweepManifest.model_validate(data)
    except (OSError, ValueError, UnicodeDecodeError, ValidationError):
        raise SweepProblem(f"{SWEEP_FILE} is missing or not a sweep manifest") from None
    if manifest.schema_version not in READABLE_SCHEMAS:
        raise SweepProblem(f"{SWEEP_FILE} has schema {manifest.schema_version}, newer than this")
    return manifest


def verify_sweep_folder(folder: Path, expected_id: str) -> SweepManifest:
    """The manifest, after checking the id (recomputed from the identity) and every results
    file's size and sha256."""
    manifest = load_sweep_manifest(folder)
    if manifest.sweep_id != expected_id or manifest.identity.sweep_id != expected_id:
        raise SweepProblem("the sweep id does not match its folder or its identity")
    if sorted(e.name for e in manifest.results) != sorted((RESULTS_CSV, RESULTS_PARQUET)):
        raise SweepProblem("the manifest does not list the two results files")
    for entry in manifest.results:
        try:
            data = (folder / entry.name).read_bytes()
        except OSError:
            raise SweepProblem(f"{entry.name}: missing") from None
        if len(data) != entry.bytes or sha256_hex(data) != entry.sha256:
            raise SweepProblem(f"{entry.name}: size or sha256 differs from the manifest")
    return manifest

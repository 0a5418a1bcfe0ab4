"""The manifest and the run row: the two typed records of a run.

:class:`Manifest` is what went into a run and every artifact it holds, with sizes and hashes.
``manifest.json`` is written last in a run folder, so a folder without one is incomplete;
:func:`verify_run_folder` re-hashes every listed artifact and checks the run id. Its bytes are
``json_bytes(manifest.to_json())``, the same since the first runs: a field added later is
optional and left out while unset.

:class:`RunSummary` is the registry's row for a run (``index.json``), and the one row shape the
run list, the API list, ``runs list`` and the CSV export read.

Everything else reads these by attribute; no other module reads a manifest or an index entry
by key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer

from quantrun.canonical import sha256_hex

MANIFEST_FILE = "manifest.json"
#: 2: the run's artifact set changed (docs/formats.md): the decision records are
#: ``decision_records.parquet`` (columns) instead of ``decision_records.jsonl``, and a run whose
#: bars are the stored dataset's bars references them (:attr:`Manifest.bars_source`) instead of
#: copying them into ``bars.parquet``. A run made under 1 is read as it is and rebuilt under 1
#: (``RunCreateRequest.artifact_schema``), so its bytes keep their meaning.
#: 3: ``timeline.json`` (its version 2) no longer lists the trade events, which are the
#: decision records with those actions: it says how many there are and where (D56).
MANIFEST_SCHEMA_VERSION = 3
MANIFEST_SCHEMA_VERSIONS = (1, 2, 3)
#: Where a run's bars are (schema 2 on): its own ``bars.parquet``, or the stored dataset's bars
#: (``RUNS_ROOT/datasets/<dataset_id>/bars.parquet``, checked against
#: ``dataset.content_sha256``) within the run's window.
BARS_IN_ARTIFACT = "artifact"
BARS_IN_DATASET = "dataset"


class ManifestProblem(Exception):
    """A run folder that cannot be trusted; the message says why (for reports, not users)."""


class _Record(BaseModel):
    """Frozen, unknown keys refused. Numbers keep their JSON type (an int is never turned into
    a float), so a record read and written again has the same bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# Numbers are ``int | float``: pydantic keeps whichever type the value has (smart unions),
# where ``float`` alone would turn a recorded ``10000`` into ``10000.0``.
Number = int | float


class Window(_Record):
    start: str | None
    end: str | None


class StrategyRef(_Record):
    id: str
    version: str
    params: dict[str, Any]
    #: The sha256 of the strategy's code (identity schema 2 on); absent before, so runs made
    #: under schema 1 keep their identity and bytes.
    source_sha256: str | None = None

    @model_serializer(mode="wrap")
    def _without_unset_source(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("source_sha256") is None:
            data.pop("source_sha256", None)
        return data


class Identity(_Record):
    """Everything that decides the result, and nothing else: ``run_id`` is its hash."""

    schema_version: int
    engine_version: str
    dataset_id: str
    symbol: str
    timeframe: str
    window: Window
    strategy: StrategyRef
    risk: dict[str, Any]
    costs: dict[str, Any]
    resample_rules_version: int


class Source(_Record):
    """One input file as read: recorded under its label (never an internal path)."""

    path: str
    name: str
    bytes: int
    sha256: str
    format: str
    has_header: bool
    rows: int
    #: A fetched file's archive (runs from a stored, fetched dataset); absent otherwise, so
    #: older manifests keep their bytes.
    url: str | None = None
    archive_sha256: str | None = None

    @model_serializer(mode="wrap")
    def _without_unset_archive(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("url", "archive_sha256"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class DatasetRecord(_Record):
    dataset_id: str
    content_sha256: str
    rows: int
    first_bar: str
    last_bar: str
    base_timeframe: str
    sources: list[Source]


class Resampling(_Record):
    timeframe: str
    base_timeframe: str
    bars: int
    partial_bars: int
    dropped_trailing_base_bars: int
    rules: dict[str, Any]


class RiskRecord(_Record):
    #: The named level, None for a risk file or config.
    level: str | None
    config: dict[str, Any]


class EngineRecord(_Record):
    engine_version: str
    quantrun_version: str
    libraries: dict[str, str]


class Summary(_Record):
    bars: int
    first_bar: str
    last_bar: str
    trades: int | None
    total_return: Number | None
    sharpe: Number | None
    max_drawdown: Number | None
    final_equity: Number | None
    ambiguous_bars: int
    halted_at: str | None


class ArtifactEntry(_Record):
    name: str
    bytes: int
    sha256: str
    schema_version: int
    media_type: str


class Manifest(_Record):
    schema_version: int
    run_id: str
    inputs_hash: str
    identity: Identity
    #: The request as recorded (``RunCreateRequest.record``): replayed by ``verify --rerun``.
    request: dict[str, Any]
    dataset: DatasetRecord
    resampling: Resampling
    window: Window
    strategy: StrategyRef
    risk: RiskRecord
    costs: dict[str, Any]
    engine: EngineRecord
    summary: Summary
    artifacts: list[ArtifactEntry]
    #: Schema 2 on: ``artifact`` or ``dataset`` (:data:`BARS_IN_DATASET`); absent before.
    bars_source: Literal["artifact", "dataset"] | None = None

    @model_serializer(mode="wrap")
    def _without_unset_bars_source(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("bars_source") is None:
            data.pop("bars_source", None)
        return data

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON values, for ``manifest.json`` and the API."""
        return self.model_dump(mode="json", exclude_none=False)

    @property
    def bars_in_dataset(self) -> bool:
        """The run's bars are the stored dataset's (within the window), not a copy."""
        return self.bars_source == BARS_IN_DATASET

    @property
    def artifact_names(self) -> list[str]:
        return [a.name for a in self.artifacts]

    @property
    def source_names(self) -> list[str]:
        """The input files' names (or recorded paths), for lists and exports."""
        return [s.name or s.path for s in self.dataset.sources]


def parse_manifest(data: Any) -> Manifest:
    """A manifest from its JSON value; ManifestProblem when it is not one."""
    if not isinstance(data, dict) or data.get("schema_version") not in MANIFEST_SCHEMA_VERSIONS:
        raise ManifestProblem("manifest.json has an unknown shape or schema version")
    for key in ("run_id", "artifacts", "identity", "summary"):
        if key not in data:
            raise ManifestProblem(f"manifest.json lacks {key!r}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestProblem(f"manifest.json: {where}: {first['msg']}") from None


def load_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestProblem("manifest.json is missing") from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise ManifestProblem("manifest.json is unreadable or not JSON") from None
    return parse_manifest(data)


def verify_artifacts(folder: Path, manifest: Manifest) -> list[str]:
    """Problems found re-hashing every listed artifact (empty when all match)."""
    problems = []
    for artifact in manifest.artifacts:
        name = artifact.name
        if "/" in name or "\\" in name or name.startswith("."):
            problems.append(f"{name!r}: not a plain file name")
            continue
        path = folder / name
        try:
            data = path.read_bytes()
        except OSError:
            problems.append(f"{name}: missing")
            continue
        if len(data) != artifact.bytes or sha256_hex(data) != artifact.sha256:
            problems.append(f"{name}: size or sha256 differs from the manifest")
    return problems


def verify_run_folder(folder: Path, expected_run_id: str) -> Manifest:
    manifest = load_manifest(folder)
    if manifest.run_id != expected_run_id:
        raise ManifestProblem("run_id in manifest.json does not match the folder name")
    problems = verify_artifacts(folder, manifest)
    if problems:
        raise ManifestProblem("; ".join(problems))
    return manifest


# -- the run row ------------------------------------------------------------------------------


class Headline(_Record):
    """The numbers a run list shows."""

    total_return: Number | None = None
    sharpe: Number | None = None
    max_drawdown: Number | None = None
    trades: int | None = None
    final_equity: Number | None = None


HEADLINE = tuple(Headline.model_fields)


class RunSummary(_Record):
    """A run as the registry lists it: enough to list, filter and sort without opening files.

    ``index.json`` stores :meth:`to_index` under the run id; :meth:`to_dict` is the row of
    ``runs list --json`` and ``quantrun.api.list_runs``; :meth:`listing_row` the flat row of
    the run list page and ``GET /api/v1/runs``; :meth:`export_values` the CSV export's cells.
    """

    run_id: str
    status: str = "succeeded"
    created_at: str | None = None
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    risk_level: str | None = None
    dataset_id: str
    first_bar: str | None = None
    last_bar: str | None = None
    summary: Headline
    read_only: bool = False

    @classmethod
    def from_manifest(
        cls, manifest: Manifest, created_at: str | None, *, read_only: bool = False
    ) -> RunSummary:
        summary = manifest.summary
        return cls(
            run_id=manifest.run_id,
            created_at=created_at,
            symbol=manifest.identity.symbol,
            timeframe=manifest.identity.timeframe,
            strategy=manifest.identity.strategy.id,
            params=manifest.identity.strategy.params,
            risk_level=manifest.risk.level,
            dataset_id=manifest.identity.dataset_id,
            first_bar=summary.first_bar,
            last_bar=summary.last_bar,
            summary=Headline(**{k: getattr(summary, k) for k in HEADLINE}),
            read_only=read_only,
        )

    @classmethod
    def from_index(cls, run_id: str, entry: Any) -> RunSummary:
        """A row from its ``index.json`` entry; ValueError when the entry is not one."""
        if not isinstance(entry, dict):
            raise ValueError("index entry is not an object")
        try:
            return cls.model_validate(entry | {"run_id": run_id})
        except ValidationError as exc:
            raise ValueError(str(exc)) from None

    def to_index(self) -> dict[str, Any]:
        """The entry ``index.json`` keeps under the run id."""
        return self.model_dump(mode="json", exclude={"run_id", "read_only"})

    def to_dict(self) -> dict[str, Any]:
        """The row as ``runs list --json`` prints it (``read_only`` only when true)."""
        data = self.model_dump(mode="json")
        if not self.read_only:
            del data["read_only"]
        return data

    @property
    def url(self) -> str:
        return f"/runs/{self.run_id}"

    def listing_row(self) -> dict[str, Any]:
        """The flat row of the run list page and ``GET /api/v1/runs``."""
        return {
            "run_id": self.run_id,
            "symbol": self.symbol,
            "strategy": self.strategy,
            "params": self.params,
            "timeframe": self.timeframe,
            "status": self.status,
            "created_at": self.created_at,
            "first_bar": self.first_bar,
            "last_bar": self.last_bar,
            "read_only": self.read_only,
            "risk_level": self.risk_level,
            **self.summary.model_dump(mode="json"),
            "url": self.url,
        }

    def export_values(self, sources: list[str]) -> dict[str, Any]:
        """The row's cells for the runs CSV export, by column."""
        return {
            **self.listing_row(),
            "params": json.dumps(self.params, sort_keys=True, separators=(",", ":")),
            "sources": ";".join(sources),
        }

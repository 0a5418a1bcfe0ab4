"""Ingest: a source's raw rows to a stored, validated, content-addressed dataset.

:func:`inspect` runs every check and builds the report without writing anything;
:func:`ingest` does the same and then publishes the dataset (or finds it already stored)::

    result = ingest(IngestRequest(paths=["bars.csv"]), settings)
    result.dataset_id, result.created
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from quantrun.data.quality import build_report
from quantrun.data.receipt import INPUT_FIELDS, Receipt, hash_inputs, read_receipt, write_receipt
from quantrun.data.request import IngestRequest
from quantrun.data.source import CsvSource, SourceFile
from quantrun.data.store import (
    SOURCE_FIELDS,
    DatasetStore,
    LoadedDataset,
    content_hash,
    dataset_id_for,
    parquet_bytes,
)
from quantrun.data.timeframe import Timeframe
from quantrun.data.timestamps import TimestampKind
from quantrun.data.validation import CHECKS_BY_ID, CheckResult, Status, Validated, validate
from quantrun.errors import QuantrunError
from quantrun.logs import get_logger
from quantrun.settings import Settings

if TYPE_CHECKING:
    from quantrun.data.calendar import Calendar

log = get_logger(__name__)


@dataclass
class Inspection:
    """Everything :func:`inspect` found. ``bars`` is set only when every check passed."""

    request: IngestRequest
    sources: list[SourceFile]
    validated: Validated
    descriptor: dict[str, Any] = field(default_factory=dict)
    dataset_id: str | None = None
    content_sha256: str | None = None
    quality: dict[str, Any] | None = None
    #: The exchange calendar named (``--calendar``), loaded.
    calendar: Calendar | None = None
    #: The ingest receipt this inspection was answered from (``data/receipt.py``), if any.
    receipt: Receipt | None = None

    @property
    def bars(self) -> pl.DataFrame | None:
        return self.validated.bars

    @property
    def error(self) -> QuantrunError | None:
        return self.validated.first_error()

    @property
    def sessions(self) -> dict[str, Any] | None:
        """How sessions were handled (``session_dates``, ``calendar``), when they were."""
        if self.receipt is not None:
            return self.receipt.sessions
        return session_handling(self.request, self.validated)

    def to_dict(self) -> dict[str, Any]:
        err = self.error
        out = {
            "valid": err is None,
            "dataset_id": self.dataset_id,
            "sources": [s.reported() for s in self.sources],
            "timestamp_kinds": self.validated.timestamp_kinds,
            "checks": [r.to_dict(with_lines=True) for r in self.validated.results],
            "quality": self.quality,
            "error": err.to_dict() if err else None,
        }
        sessions = self.sessions
        if sessions is not None:
            out["sessions"] = sessions
        return out


def session_handling(request: IngestRequest, validated: Validated) -> dict[str, Any] | None:
    """What ``data inspect|ingest --json`` and the web preview say of sessions, when the
    bars were session-dated or a calendar was named (absent otherwise)."""
    if not validated.session_dates and request.calendar is None:
        return None
    return {
        # Daily/weekly bars stamped with dates: labelled by the date at 00:00 UTC.
        "session_dates": validated.session_dates,
        "calendar": validated.sessions.name if validated.sessions is not None else None,
    }


@dataclass(frozen=True)
class Provenance:
    """Where fetched input files came from, recorded in ``dataset.json`` when the fetch
    stores the dataset: ``origin`` (the provider and its request) and, per input path, what
    to add to its source record (the archive's ``url``, ``archive_sha256``, ...)."""

    origin: dict[str, Any]
    sources: list[dict[str, Any]]


def source_records(
    sources: Sequence[SourceFile], provenance: Provenance | None = None
) -> list[dict[str, Any]]:
    """What ``dataset.json`` records of each input file: never its local path."""
    records = [
        {key: s.to_dict()[key] for key in SOURCE_FIELDS}
        | ({"time_column": s.time_column} if s.time_column is not None else {})
        for s in sources
    ]
    if provenance is not None:
        records = [r | p for r, p in zip(records, provenance.sources, strict=True)]
    return records


@dataclass(frozen=True)
class IngestResult:
    dataset_id: str
    created: bool
    path: Path
    inspection: Inspection

    @property
    def quality(self) -> dict[str, Any]:
        assert self.inspection.quality is not None
        return self.inspection.quality

    def to_dict(self) -> dict[str, Any]:
        out = {
            "dataset_id": self.dataset_id,
            "created": self.created,
            "path": str(self.path),
            "sources": [s.reported() for s in self.inspection.sources],
            "timestamp_kinds": self.inspection.validated.timestamp_kinds,
            "quality": QualitySummary.of(self.quality).to_dict(),
        }
        sessions = self.inspection.sessions
        if sessions is not None:
            out["sessions"] = sessions
        return out


@dataclass(frozen=True)
class Refusal:
    """An input refused as a whole (not found, binary, wrong encoding, missing column, a
    limit): no rows were checked. :meth:`to_dict` has the :meth:`Inspection.to_dict` shape."""

    error: QuantrunError

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": False,
            "dataset_id": None,
            "sources": [],
            "timestamp_kinds": [],
            "checks": [],
            "quality": None,
            "error": self.error.to_dict(),
        }


@dataclass(frozen=True)
class QualitySummary:
    """The few numbers of a quality report people look at first."""

    rows: int
    timeframe: str
    first_bar: str
    last_bar: str
    expected_bars: int
    coverage: float
    gaps: int
    missing_bars: int
    zero_volume_bars: int
    outlier_returns: int
    repairs: dict[str, Any]
    #: With a calendar: its name, bars found among the expected ones, bars outside sessions.
    calendar: str | None = None
    present_bars: int | None = None
    outside_sessions: int = 0

    @classmethod
    def of(cls, report: dict[str, Any]) -> QualitySummary:
        calendar = report.get("calendar")
        return cls(
            rows=report["rows"],
            timeframe=report["timeframe"],
            first_bar=report["first_bar"],
            last_bar=report["last_bar"],
            expected_bars=report["expected_bars"],
            coverage=report["coverage"],
            gaps=report["gaps"]["count"],
            missing_bars=report["missing_bars"],
            zero_volume_bars=report["zero_volume_bars"]["count"],
            outlier_returns=report["outlier_returns"]["count"],
            repairs=report["repairs"],
            calendar=None if calendar is None else calendar["name"],
            present_bars=report["present_bars"] if calendar is not None else None,
            outside_sessions=report.get("outside_sessions", {}).get("count", 0),
        )

    def to_dict(self) -> dict[str, Any]:
        calendar = (
            {}
            if self.calendar is None
            else {
                "calendar": self.calendar,
                "present_bars": self.present_bars,
                "outside_sessions": self.outside_sessions,
            }
        )
        return calendar | {
            "rows": self.rows,
            "timeframe": self.timeframe,
            "first_bar": self.first_bar,
            "last_bar": self.last_bar,
            "expected_bars": self.expected_bars,
            "coverage": self.coverage,
            "gaps": self.gaps,
            "missing_bars": self.missing_bars,
            "zero_volume_bars": self.zero_volume_bars,
            "outlier_returns": self.outlier_returns,
            "repairs": self.repairs,
        }


def _validated(request: IngestRequest, settings: Settings) -> tuple[Inspection, Timeframe]:
    tf, options = request.checked()
    source = CsvSource(
        paths=list(request.paths),
        format=request.format,
        time_column=request.time_column,
        max_bytes=settings.max_input_bytes,
        max_rows=settings.max_rows,
        max_line_bytes=settings.max_line_bytes,
        max_columns=settings.max_columns,
    )
    raw = source.read()
    validated = validate(raw, options)
    return Inspection(request, raw.files, validated, calendar=options.calendar), tf


def _identify(inspection: Inspection, tf: Timeframe) -> None:
    """Descriptor, content hash and dataset id of a valid inspection."""
    validated = inspection.validated
    assert validated.bars is not None
    used_zone = str(TimestampKind.ISO_LOCAL) in validated.timestamp_kinds
    inspection.descriptor = {
        "symbol": inspection.request.symbol,
        "timeframe": tf.name,
        # Recorded only when it was applied to naive timestamps.
        "timezone": inspection.request.timezone if used_zone else None,
        "repairs": validated.repairs,
    }
    if inspection.calendar is not None:
        # Only with a calendar, so a dataset read without one keeps its id.
        inspection.descriptor["calendar"] = inspection.calendar.record()
    inspection.content_sha256 = content_hash(validated.bars)
    inspection.dataset_id = dataset_id_for(inspection.content_sha256, inspection.descriptor)


def _report(inspection: Inspection, tf: Timeframe) -> None:
    bars = inspection.validated.bars
    assert bars is not None
    inspection.quality = build_report(bars, inspection.validated, inspection.descriptor, tf)


def inspect(request: IngestRequest, settings: Settings) -> Inspection:
    """Read and check the input; build the report. Writes nothing."""
    inspection, tf = _validated(request, settings)
    if inspection.validated.bars is not None:
        _identify(inspection, tf)
        _report(inspection, tf)
    return inspection


def ingest(
    request: IngestRequest, settings: Settings, *, provenance: Provenance | None = None
) -> IngestResult:
    """Validate and store the dataset; raise the first failing check's error otherwise.
    ``provenance``: where fetched files came from (``data/fetch.py``), recorded with a
    dataset this stores; it never changes the dataset id.

    When an ingest receipt (``data/receipt.py``) shows these very bytes were ingested with these
    options into a dataset still stored, that dataset is loaded (and verified) instead."""
    reused = _from_receipt(request, settings)
    if reused is not None:
        return reused
    inspection, tf = _validated(request, settings)
    failure = inspection.error
    if failure is not None:
        log.info("ingest.rejected", code=str(failure.code), files=len(inspection.sources))
        raise failure
    bars = inspection.bars
    assert bars is not None
    store = DatasetStore(settings.runs_root)
    # Encode the Parquet file (polars, outside the GIL) on a worker from the moment the bars
    # are valid, while this thread hashes them (hashlib, also outside the GIL) and builds the
    # report. Only a dataset already stored drops the bytes.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quantrun-encode") as pool:
        future = pool.submit(parquet_bytes, bars)
        _identify(inspection, tf)
        _report(inspection, tf)
        assert inspection.dataset_id is not None
        encoded: bytes | None = None if store.exists(inspection.dataset_id) else future.result()
    assert inspection.quality is not None
    meta = {
        "schema_version": 1,
        "dataset_id": inspection.dataset_id,
        "content_sha256": inspection.content_sha256,
        "descriptor": inspection.descriptor,
        "rows": bars.height,
        "first_bar": inspection.quality["first_bar"],
        "last_bar": inspection.quality["last_bar"],
        "sources": source_records(inspection.sources, provenance),
    }
    if provenance is not None:
        meta["origin"] = provenance.origin
    stored = store.publish(inspection.dataset_id, bars, inspection.quality, meta, encoded)
    log.info(
        "ingest.stored",
        dataset_id=stored.dataset_id,
        created=stored.created,
        rows=bars.height,
    )
    write_receipt(
        request,
        settings,
        [_receipt_input(s) for s in inspection.sources],
        dataset_id=stored.dataset_id,
        timestamp_kinds=inspection.validated.timestamp_kinds,
        sessions=inspection.sessions,
    )
    return IngestResult(stored.dataset_id, stored.created, stored.path, inspection)


def _receipt_input(source: SourceFile) -> dict[str, Any]:
    recorded = source.to_dict()
    found = {key: recorded[key] for key in INPUT_FIELDS}
    return found | ({"time_column": source.time_column} if source.time_column is not None else {})


def _from_receipt(request: IngestRequest, settings: Settings) -> IngestResult | None:
    """The stored dataset a receipt names for these inputs and options, loaded and verified
    (DATASET_CORRUPT when its files no longer match their hashes); None when no receipt
    answers or its dataset is no longer stored (a full ingest follows)."""
    inputs = hash_inputs(request, settings)
    receipt = None if inputs is None else read_receipt(inputs, settings)
    if receipt is None:
        return None
    store = DatasetStore(settings.runs_root)
    if not store.exists(receipt.dataset_id):
        log.info("ingest.receipt_stale", dataset_id=receipt.dataset_id)
        return None
    loaded = store.load_for_run(receipt.dataset_id)
    tf, options = request.checked()
    calendar = options.calendar
    calendar_record = calendar.record() if calendar is not None else None
    if (
        loaded.symbol != request.symbol
        or loaded.timeframe != tf.name
        # A calendar library of another version would measure (and name) another dataset.
        or calendar_record != loaded.descriptor.get("calendar")
    ):
        log.warning("ingest.receipt_mismatch", dataset_id=receipt.dataset_id)
        return None
    try:
        inspection = _reused_inspection(request, receipt, loaded, calendar)
    except (KeyError, TypeError, ValueError) as exc:  # a receipt or report of another shape
        log.warning("ingest.receipt_unusable", dataset_id=receipt.dataset_id, error=repr(exc))
        return None
    log.info("ingest.reused", dataset_id=loaded.dataset_id, rows=loaded.bars.height)
    return IngestResult(loaded.dataset_id, False, store.path_of(loaded.dataset_id), inspection)


def _reused_inspection(
    request: IngestRequest, receipt: Receipt, loaded: LoadedDataset, calendar: Calendar | None
) -> Inspection:
    """What a full ingest of ``request`` reports, from its receipt and the stored dataset."""
    sources = [
        SourceFile(
            path=path,
            name=Path(path).name,
            bytes=item["bytes"],
            sha256=item["sha256"],
            format=item["format"],
            has_header=item["has_header"],
            rows=item["rows"],
            time_column=item.get("time_column"),
        )
        for path, item in zip(request.paths, receipt.inputs, strict=True)
    ]
    quality = loaded.quality
    validated = Validated(
        # One chunk per column, as a full ingest hands them on (the Parquet file decodes into
        # one chunk per row group), so everything downstream sees the same layout.
        bars=loaded.bars.rechunk(),
        results=[
            CheckResult(
                CHECKS_BY_ID[check["id"]],
                status=Status(check["status"]),
                count=check["count"],
                note=check.get("note", ""),
            )
            for check in quality["checks"]
        ],
        timestamp_kinds=receipt.timestamp_kinds,
        repairs=loaded.descriptor["repairs"],
        exact_duplicates=quality["duplicates_found"]["exact"],
        conflicting_duplicates=quality["duplicates_found"]["conflicting"],
        session_dates=bool(receipt.sessions and receipt.sessions.get("session_dates")),
    )
    return Inspection(
        request,
        sources,
        validated,
        descriptor=loaded.descriptor,
        dataset_id=loaded.dataset_id,
        content_sha256=loaded.content_sha256,
        quality=quality,
        calendar=calendar,
        receipt=receipt,
    )

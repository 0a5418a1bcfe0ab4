"""Ingest: a source's raw rows to a stored, validated, content-addressed dataset.

:func:`inspect` runs every check and builds the report without writing anything;
:func:`ingest` does the same and then publishes the dataset (or finds it already stored)::

    result = ingest(IngestRequest(paths=["bars.csv"]), settings)
    result.dataset_id, result.created
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from quantrun.data.dialect import Format
from quantrun.data.quality import build_report
from quantrun.data.source import CsvSource, SourceFile
from quantrun.data.store import DatasetStore, content_hash, dataset_id_for, parquet_bytes
from quantrun.data.timeframe import Timeframe
from quantrun.data.timestamps import TimestampKind, check_timezone
from quantrun.data.validation import Validated, ValidationOptions, validate
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import get_logger
from quantrun.settings import Settings

log = get_logger(__name__)

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$")


def check_symbol(symbol: str) -> None:
    """Refuse a symbol that is not 1-32 plain characters."""
    if not _SYMBOL.match(symbol):
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"invalid symbol {symbol[:40]!r}",
            hint="Use 1-32 letters, digits or . _ : / - (e.g. BTCUSDT, ES.F, EUR/USD).",
        )


@dataclass(frozen=True)
class IngestRequest:
    """What to read and how. ``paths`` are concatenated in order."""

    paths: Sequence[str]
    symbol: str | None = None
    format: Format = Format.AUTO
    timeframe: str = "1m"
    timezone: str | None = None
    sort: bool = False
    drop_exact_duplicates: bool = False

    def checked(self) -> tuple[Timeframe, ValidationOptions]:
        if not self.paths:
            raise error(ErrorCode.USAGE_INVALID_OPTION, "no input file given")
        if self.symbol is not None:
            check_symbol(self.symbol)
        if self.timezone is not None:
            check_timezone(self.timezone)
        tf = Timeframe.parse(self.timeframe)
        options = ValidationOptions(
            timeframe=tf,
            timezone=self.timezone,
            sort=self.sort,
            drop_exact_duplicates=self.drop_exact_duplicates,
        )
        return tf, options


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

    @property
    def bars(self) -> pl.DataFrame | None:
        return self.validated.bars

    @property
    def error(self) -> QuantrunError | None:
        return self.validated.first_error()

    def to_dict(self) -> dict[str, Any]:
        err = self.error
        return {
            "valid": err is None,
            "dataset_id": self.dataset_id,
            "sources": [s.to_dict() for s in self.sources],
            "timestamp_kinds": self.validated.timestamp_kinds,
            "checks": [r.to_dict(with_lines=True) for r in self.validated.results],
            "quality": self.quality,
            "error": err.to_dict() if err else None,
        }


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
        return {
            "dataset_id": self.dataset_id,
            "created": self.created,
            "path": str(self.path),
            "sources": [s.to_dict() for s in self.inspection.sources],
            "timestamp_kinds": self.inspection.validated.timestamp_kinds,
            "quality": quality_summary(self.quality),
        }


def refused_report(exc: QuantrunError) -> dict[str, Any]:
    """The :meth:`Inspection.to_dict` shape for an input refused as a whole (not found, binary,
    wrong encoding, missing column, a limit): no rows were checked."""
    return {
        "valid": False,
        "dataset_id": None,
        "sources": [],
        "timestamp_kinds": [],
        "checks": [],
        "quality": None,
        "error": exc.to_dict(),
    }


def quality_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The few numbers people look at first."""
    return {
        "rows": report["rows"],
        "timeframe": report["timeframe"],
        "first_bar": report["first_bar"],
        "last_bar": report["last_bar"],
        "expected_bars": report["expected_bars"],
        "coverage": report["coverage"],
        "gaps": report["gaps"]["count"],
        "missing_bars": report["missing_bars"],
        "zero_volume_bars": report["zero_volume_bars"]["count"],
        "outlier_returns": report["outlier_returns"]["count"],
        "repairs": report["repairs"],
    }


def _validated(request: IngestRequest, settings: Settings) -> tuple[Inspection, Timeframe]:
    tf, options = request.checked()
    source = CsvSource(
        paths=list(request.paths),
        format=request.format,
        max_bytes=settings.max_input_bytes,
        max_rows=settings.max_rows,
        max_line_bytes=settings.max_line_bytes,
        max_columns=settings.max_columns,
    )
    raw = source.read()
    validated = validate(raw, options)
    return Inspection(request, raw.files, validated), tf


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


def ingest(request: IngestRequest, settings: Settings) -> IngestResult:
    """Validate and store the dataset; raise the first failing check's error otherwise."""
    inspection, tf = _validated(request, settings)
    failure = inspection.error
    if failure is not None:
        log.info("ingest.rejected", code=str(failure.code), files=len(inspection.sources))
        raise failure
    bars = inspection.bars
    assert bars is not None
    _identify(inspection, tf)
    assert inspection.dataset_id is not None
    store = DatasetStore(settings.runs_root)
    encoded: bytes | None = None
    if store.exists(inspection.dataset_id):
        _report(inspection, tf)
    else:
        # Encode the Parquet file (polars releases the GIL) while the report is built.
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(parquet_bytes, bars)
            _report(inspection, tf)
            encoded = future.result()
    assert inspection.quality is not None
    meta = {
        "schema_version": 1,
        "dataset_id": inspection.dataset_id,
        "content_sha256": inspection.content_sha256,
        "descriptor": inspection.descriptor,
        "rows": bars.height,
        "first_bar": inspection.quality["first_bar"],
        "last_bar": inspection.quality["last_bar"],
    }
    stored = store.publish(inspection.dataset_id, bars, inspection.quality, meta, encoded)
    log.info(
        "ingest.stored",
        dataset_id=stored.dataset_id,
        created=stored.created,
        rows=bars.height,
    )
    return IngestResult(stored.dataset_id, stored.created, stored.path, inspection)

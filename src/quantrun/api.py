"""The Python API: what notebooks, the CLI and (later) the web edge call.

Each function takes a :class:`~quantrun.settings.Settings` and plain values, and returns a
result object with ``to_dict()``. Example::

    from quantrun.api import ingest_file
    from quantrun.settings import Settings

    result = ingest_file(Settings(runs_root="runs"), ["BTCUSDT-1m-2024-01.csv"], symbol="BTCUSDT")
    print(result.dataset_id, result.quality["coverage"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantrun.data.demo import DEMO_SYMBOL, write_demo_csv
from quantrun.data.dialect import Format
from quantrun.data.ingest import (
    IngestRequest,
    IngestResult,
    Inspection,
    ingest,
    inspect,
    quality_summary,
)
from quantrun.data.store import DatasetStore
from quantrun.errors import ErrorCode, error
from quantrun.settings import Settings


def _request(
    paths: Sequence[str],
    *,
    symbol: str | None,
    format: str,
    timeframe: str,
    timezone: str | None,
    sort: bool,
    drop_exact_duplicates: bool,
) -> IngestRequest:
    try:
        fmt = Format(format)
    except ValueError:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"unknown format {format!r}; use auto, generic or binance",
        ) from None
    return IngestRequest(
        paths=list(paths),
        symbol=symbol,
        format=fmt,
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )


def ingest_file(
    settings: Settings,
    paths: Sequence[str],
    *,
    symbol: str | None = None,
    format: str = "auto",
    timeframe: str = "1m",
    timezone: str | None = None,
    sort: bool = False,
    drop_exact_duplicates: bool = False,
) -> IngestResult:
    """Validate ``paths`` (concatenated in order) and store them as one dataset."""
    request = _request(
        paths,
        symbol=symbol,
        format=format,
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    return ingest(request, settings)


def inspect_file(
    settings: Settings,
    paths: Sequence[str],
    *,
    symbol: str | None = None,
    format: str = "auto",
    timeframe: str = "1m",
    timezone: str | None = None,
    sort: bool = False,
    drop_exact_duplicates: bool = False,
) -> Inspection:
    """Run every check on ``paths`` and build the report, writing nothing."""
    request = _request(
        paths,
        symbol=symbol,
        format=format,
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    return inspect(request, settings)


__all__ = [
    "DemoResult",
    "ingest_file",
    "inspect_file",
    "list_datasets",
    "quality_summary",
    "run_demo",
]


def list_datasets(settings: Settings) -> list[dict[str, Any]]:
    """Stored datasets, oldest data first: id, symbol, timeframe, rows, first/last bar."""
    return DatasetStore(settings.runs_root).list()


@dataclass(frozen=True)
class DemoResult:
    csv_path: Path
    ingest: IngestResult

    def to_dict(self) -> dict[str, Any]:
        return {"csv_path": str(self.csv_path), "ingest": self.ingest.to_dict()}


def run_demo(settings: Settings, directory: Path) -> DemoResult:
    """Write the embedded demo CSV into ``directory`` and ingest it."""
    csv_path = write_demo_csv(directory / f"{DEMO_SYMBOL}-1m-demo.csv")
    result = ingest_file(settings, [str(csv_path)], symbol=DEMO_SYMBOL)
    return DemoResult(csv_path, result)

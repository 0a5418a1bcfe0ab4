"""The data layer: CSV dialects, validation, the canonical store, resampling, quality."""

from quantrun.data.ingest import IngestRequest, IngestResult, Inspection, ingest, inspect
from quantrun.data.resample import Resampled, resample
from quantrun.data.timeframe import TIMEFRAMES, Timeframe

__all__ = [
    "TIMEFRAMES",
    "IngestRequest",
    "IngestResult",
    "Inspection",
    "Resampled",
    "Timeframe",
    "ingest",
    "inspect",
    "resample",
]

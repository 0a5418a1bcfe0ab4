"""Timestamp parsing: raw cells to epoch microseconds UTC, refusing anything ambiguous.

Accepted forms (one per file):

- integer epochs; the unit is read from the magnitude: seconds (1e8..1e11), milliseconds
  (..1e14), microseconds (..1e17), nanoseconds (above). Every row must have the same unit.
- ISO-8601 date-times with an offset or ``Z`` (``T`` or a space between date and time,
  optional seconds and fraction).
- ISO-8601 date-times without an offset only when the caller names their time zone; local
  times that repeat or do not exist at a DST change are refused.

Daily and weekly bars stamped with dates (``2004-08-19``), or with midnight (``2004-08-19
00:00:00``, with or without an offset), hold **session dates** (``session_dates=True``): each
bar is labelled by its date at 00:00 UTC, whatever the zone, so it stays on the day grid. A
session date is a label, not a moment, so it needs no zone (one given is still recorded).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl

from quantrun.errors import ErrorCode, error

# 1970-01-01 .. 2200-01-01 in epoch microseconds.
MIN_MICROS = 0
MAX_MICROS = 7_258_118_400_000_000


class TimestampKind(enum.StrEnum):
    EPOCH_S = "epoch_s"
    EPOCH_MS = "epoch_ms"
    EPOCH_US = "epoch_us"
    EPOCH_NS = "epoch_ns"
    ISO_OFFSET = "iso8601_offset"
    ISO_LOCAL = "iso8601_local"


#: (kind, smallest magnitude, microseconds per unit); seconds below 1e8 (1973) are refused,
#: which also catches yyyymmdd integers such as 20240131.
_EPOCH_UNITS: tuple[tuple[TimestampKind, int, int], ...] = (
    (TimestampKind.EPOCH_S, 10**8, 1_000_000),
    (TimestampKind.EPOCH_MS, 10**11, 1_000),
    (TimestampKind.EPOCH_US, 10**14, 1),
    (TimestampKind.EPOCH_NS, 10**17, 0),  # 0: divide by 1000
)

_ISO_OFFSET_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%z"
_ISO_LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"


#: A session date: a bare date, or a date at midnight (with or without an offset).
_SESSION_DATE = r"^(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?([Zz]|[+-]\d{2}:?\d{2})?$"


@dataclass
class ParsedTimestamps:
    """``micros`` holds nulls where a row failed; ``problems`` maps a code to those rows.
    ``session_dates``: the cells were read as session dates (see the module docstring)."""

    micros: pl.Series
    kind: TimestampKind | None
    problems: dict[ErrorCode, np.ndarray] = field(default_factory=dict)
    session_dates: bool = False

    def add(self, code: ErrorCode, mask: pl.Series) -> None:
        rows = np.flatnonzero(mask.fill_null(False).to_numpy())
        if rows.size:
            previous = self.problems.get(code)
            self.problems[code] = rows if previous is None else np.union1d(previous, rows)


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise error(ErrorCode.TIMEZONE_UNKNOWN, f"unknown time zone {name!r}") from None


def parse_timestamps(
    cells: pl.Series, timezone: str | None, *, session_dates: bool = False
) -> ParsedTimestamps:
    """Parse one file's timestamp cells (String, or Int64 epochs) into epoch µs UTC (Int64).

    ``session_dates``: the bars are daily or weekly, so cells that are all dates (or all
    midnights) are read as session dates (see the module docstring)."""
    if cells.dtype.is_integer():
        values = cells.cast(pl.Int64)
        present = values.is_not_null()
        return _parse_epochs(values, present, present)
    text = cells.str.strip_chars()
    present = text.is_not_null() & (text != "")
    is_int = text.str.contains(r"^-?\d+$").fill_null(False)
    first_present = text.filter(present)
    if first_present.len() and is_int.filter(present)[0]:
        return _parse_epochs(text.cast(pl.Int64, strict=False), present, is_int)
    if session_dates and first_present.len():
        dates = _parse_session_dates(text, present)
        if dates is not None:
            return dates
    return _parse_iso(text, present, timezone)


def _parse_session_dates(text: pl.Series, present: pl.Series) -> ParsedTimestamps | None:
    """Every present cell a date or a midnight, all with an offset or all without: each
    date at 00:00 UTC. None otherwise (the cells are read as moments, as usual)."""
    parts = text.filter(present).str.extract_groups(_SESSION_DATE)
    day, offset = parts.struct.field("1"), parts.struct.field("2")
    if day.null_count():
        return None
    with_offset = int(offset.is_not_null().sum())
    if with_offset not in (0, len(offset)):
        return None  # mixed forms: refused by the usual parse
    parsed = text.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if parsed.filter(present).null_count():
        return None  # e.g. 2024-02-30: the usual parse names the row
    kind = TimestampKind.ISO_OFFSET if with_offset else TimestampKind.ISO_LOCAL
    micros = parsed.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Int64)
    result = ParsedTimestamps(micros, kind, session_dates=True)
    _range_check(result, present)
    result.micros = _null_where(micros, ~present | _mask(result))
    return result


def _parse_epochs(values: pl.Series, present: pl.Series, is_int: pl.Series) -> ParsedTimestamps:
    """``values`` are the cells as Int64 (null where a cell is not an integer)."""
    lows = np.array([low for _, low, _ in _EPOCH_UNITS], dtype=np.int64)
    clean = _clean_epochs(values, present, is_int, lows)
    if clean is not None:
        return clean
    magnitude = values.abs().fill_null(0).to_numpy()
    unit_index = pl.Series(np.searchsorted(lows, magnitude, side="right") - 1)
    usable = (present & is_int & values.is_not_null()).to_numpy()
    first_unit = int(unit_index.to_numpy()[usable][0]) if usable.any() else -1
    kind, _, per_unit = _EPOCH_UNITS[max(first_unit, 0)]
    micros = values * per_unit if per_unit else values // 1000
    result = ParsedTimestamps(micros.cast(pl.Int64), kind)
    bad = present & (~is_int | values.is_null() | (unit_index < 0))
    if kind is TimestampKind.EPOCH_NS:
        bad = bad | (values % 1000 != 0).fill_null(False)
    result.add(ErrorCode.CSV_BAD_TIMESTAMP, bad)
    result.add(ErrorCode.CSV_AMBIGUOUS_TIMESTAMP, present & ~bad & (unit_index != first_unit))
    _range_check(result, present & ~bad)
    result.micros = _null_where(micros, ~present | _mask(result))
    return result


def _clean_epochs(
    values: pl.Series, present: pl.Series, is_int: pl.Series, lows: np.ndarray
) -> ParsedTimestamps | None:
    """The common case in a few whole-column passes: every cell an integer, all of one unit
    (the smallest and the largest magnitude fall in the same unit, so every one between
    does), whole microseconds, in range. None when any of that fails: the row-by-row
    path then names each offending row."""
    if values.null_count() or not (present.all() and is_int.all()) or not len(values):
        return None
    magnitude = np.abs(values.to_numpy())
    units = np.searchsorted(lows, [magnitude.min(), magnitude.max()], side="right") - 1
    if units[0] != units[1] or units[0] < 0:
        return None
    kind, _, per_unit = _EPOCH_UNITS[int(units[0])]
    if kind is TimestampKind.EPOCH_NS and (values % 1000 != 0).any():
        return None
    micros = (values * per_unit if per_unit else values // 1000).cast(pl.Int64)
    low, high = micros.min(), micros.max()
    assert isinstance(low, int) and isinstance(high, int)
    if low < MIN_MICROS or high >= MAX_MICROS:
        return None
    return ParsedTimestamps(micros.alias("ts"), kind)


def _parse_iso(text: pl.Series, present: pl.Series, timezone: str | None) -> ParsedTimestamps:
    norm = (
        text.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")
        .str.replace(r"(T\d{2}:\d{2})([+-]|[Zz]|$)", "${1}:00${2}")
        .str.replace(r"[Zz]$", "+00:00")
    )
    has_offset = norm.str.contains(r"T[\d:.]+[+-]\d{2}:?\d{2}$").fill_null(False)
    aware = norm.str.strptime(pl.Datetime("us", "UTC"), _ISO_OFFSET_FORMAT, strict=False)
    naive = norm.str.strptime(pl.Datetime("us"), _ISO_LOCAL_FORMAT, strict=False)
    parses_aware = aware.is_not_null() & has_offset
    parses_naive = naive.is_not_null() & ~has_offset
    first = norm.filter(present)
    file_is_aware = bool(has_offset.filter(present)[0]) if first.len() else True
    kind = TimestampKind.ISO_OFFSET if file_is_aware else TimestampKind.ISO_LOCAL
    result = ParsedTimestamps(pl.Series("ts", [], pl.Int64), kind)
    result.add(ErrorCode.CSV_BAD_TIMESTAMP, present & ~parses_aware & ~parses_naive)
    mixed = (parses_naive if file_is_aware else parses_aware) & present
    result.add(ErrorCode.CSV_AMBIGUOUS_TIMESTAMP, mixed)
    if file_is_aware:
        micros = aware.dt.epoch("us")
    elif timezone is None:
        result.add(ErrorCode.CSV_NAIVE_TIMESTAMP, parses_naive & present)
        micros = naive.dt.epoch("us")
    else:
        check_timezone(timezone)
        local = naive.dt.replace_time_zone(timezone, ambiguous="null", non_existent="null")
        result.add(ErrorCode.CSV_AMBIGUOUS_TIMESTAMP, parses_naive & local.is_null())
        micros = local.dt.epoch("us")
    result.micros = micros.cast(pl.Int64)
    _range_check(result, present & micros.is_not_null())
    result.micros = _null_where(result.micros, ~present | _mask(result))
    return result


def _range_check(result: ParsedTimestamps, candidates: pl.Series) -> None:
    micros = result.micros
    out = candidates & ((micros < MIN_MICROS) | (micros >= MAX_MICROS)).fill_null(False)
    result.add(ErrorCode.CSV_TIMESTAMP_OUT_OF_RANGE, out)


def _mask(result: ParsedTimestamps) -> pl.Series:
    mask = np.zeros(len(result.micros), dtype=bool)
    for rows in result.problems.values():
        mask[rows] = True
    return pl.Series(mask)


def _null_where(values: pl.Series, mask: pl.Series) -> pl.Series:
    return pl.select(pl.when(mask).then(None).otherwise(values)).to_series().alias("ts")

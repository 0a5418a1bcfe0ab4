"""Validation: raw cells to the canonical frame, failing closed.

``CHECKS`` is the declared table of checks, in the order they are reported. Every check runs
on every row it can (so ``quantrun data inspect`` lists all problems at once); ingest refuses
the input with the code of the first failing check. Nothing is repaired unless asked for:
``sort`` and ``drop_exact_duplicates`` are the only repairs, and both are recorded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from quantrun.data.dialect import FIELDS, PRICE_FIELDS
from quantrun.data.source import RawBars
from quantrun.data.timeframe import Timeframe
from quantrun.data.timestamps import check_timezone, parse_timestamps
from quantrun.errors import MAX_REPORTED_LINES, ErrorCode, QuantrunError, error

if TYPE_CHECKING:
    from quantrun.data.calendar import Calendar, Sessions

VALUE_FIELDS = ("open", "high", "low", "close", "volume")


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    REPAIRED = "repaired"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    id: str
    code: ErrorCode
    description: str


#: The declared check table, in reporting order.
CHECKS: tuple[Check, ...] = (
    Check("values_present", ErrorCode.CSV_MISSING_VALUE, "every row has all six fields"),
    Check("timestamps_parse", ErrorCode.CSV_BAD_TIMESTAMP, "timestamps are ISO-8601 or epochs"),
    Check("timestamps_aware", ErrorCode.CSV_NAIVE_TIMESTAMP, "timestamps carry a zone"),
    Check(
        "timestamps_unambiguous",
        ErrorCode.CSV_AMBIGUOUS_TIMESTAMP,
        "one timestamp form per file; no DST-ambiguous local times",
    ),
    Check("timestamps_in_range", ErrorCode.CSV_TIMESTAMP_OUT_OF_RANGE, "1970 <= time < 2200"),
    Check("numbers_parse", ErrorCode.CSV_BAD_NUMBER, "prices and volume are decimal numbers"),
    Check("numbers_finite", ErrorCode.CSV_NONFINITE, "no NaN or infinity"),
    Check("prices_positive", ErrorCode.CSV_NONPOSITIVE_PRICE, "open, high, low, close > 0"),
    Check("high_not_below_low", ErrorCode.CSV_HIGH_BELOW_LOW, "high >= low"),
    Check(
        "high_covers_open_close", ErrorCode.CSV_HIGH_BELOW_OPEN_CLOSE, "high >= max(open, close)"
    ),
    Check("low_covers_open_close", ErrorCode.CSV_LOW_ABOVE_OPEN_CLOSE, "low <= min(open, close)"),
    Check("volume_not_negative", ErrorCode.CSV_NEGATIVE_VOLUME, "volume >= 0"),
    Check("on_grid", ErrorCode.CSV_OFF_GRID, "every bar opens on the timeframe grid"),
    Check("unique_timestamps", ErrorCode.CSV_DUPLICATE_TIMESTAMP, "no timestamp repeats"),
    Check("sorted", ErrorCode.CSV_UNSORTED, "rows ascend in time"),
    Check(
        "timeframe_matches",
        ErrorCode.CSV_TIMEFRAME_MISMATCH,
        "consecutive bars are one declared timeframe apart somewhere in the file",
    ),
)
CHECKS_BY_ID = {c.id: c for c in CHECKS}


@dataclass(frozen=True)
class ValidationOptions:
    timeframe: Timeframe
    timezone: str | None = None
    sort: bool = False
    drop_exact_duplicates: bool = False
    #: The exchange calendar (``--calendar``): intraday bars open on its sessions' grid.
    calendar: Calendar | None = None


@dataclass
class CheckResult:
    check: Check
    status: Status = Status.PASS
    count: int = 0
    where: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    note: str = ""

    def to_dict(self, *, with_lines: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.check.id,
            "code": str(self.check.code),
            "description": self.check.description,
            "status": str(self.status),
            "count": self.count,
        }
        if with_lines and self.where:
            out["first_rows"] = self.where
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Validated:
    """Outcome of validation: the canonical frame (when no check failed) and every result."""

    bars: pl.DataFrame | None
    results: list[CheckResult]
    timestamp_kinds: list[str]
    repairs: dict[str, Any]
    exact_duplicates: int
    conflicting_duplicates: int
    #: Daily or weekly bars were stamped with dates, read as session dates (docs/formats.md).
    session_dates: bool = False
    #: The calendar's sessions around the bars (with ``--calendar`` and parsed timestamps).
    sessions: Sessions | None = None

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is Status.FAIL]

    def first_error(self) -> QuantrunError | None:
        failures = self.failures
        if not failures:
            return None
        first = failures[0]
        others = [f.check.code for f in failures[1:]]
        detail = f"{first.check.description}: {first.count:,} row(s) fail"
        if first.where:
            detail += f", first at {_where_text(first.where, first.count)}"
        if first.note:
            detail += f" ({first.note})"
        if others:
            detail += f"; also failing: {', '.join(others)}"
        return error(
            first.check.code,
            detail,
            lines=first.lines,
            extra={"failing_checks": [str(f.check.code) for f in failures]},
        )


def _where_text(where: list[str], total: int) -> str:
    text = ", ".join(where)
    label = "line" if len(where) == 1 else "lines"
    more = f" (and {total - len(where)} more)" if total > len(where) else ""
    return f"{label} {text}{more}"


class _Collector:
    """Turns row masks into check results with 'file:line' references."""

    def __init__(self, raw: RawBars) -> None:
        self.raw = raw
        self.lines = raw.frame["line"].to_numpy()
        self.files = raw.frame["file"].to_numpy()
        self.results = {c.id: CheckResult(c) for c in CHECKS}
        self.rows: dict[str, np.ndarray] = {}

    def fail(self, check_id: str, rows: np.ndarray, note: str = "") -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        rows = np.union1d(self.rows.get(check_id, rows[:0]), rows)
        self.rows[check_id] = rows
        result = self.results[check_id]
        result.status = Status.FAIL
        result.count = int(rows.size)
        shown = rows[:MAX_REPORTED_LINES]
        result.lines = [int(self.lines[i]) for i in shown]
        result.where = [self.raw.where(int(self.files[i]), int(self.lines[i])) for i in shown]
        if note:
            result.note = note

    def set(self, check_id: str, status: Status, note: str = "", count: int = 0) -> None:
        result = self.results[check_id]
        result.status = status
        result.note = note
        result.count = count


def validate(raw: RawBars, options: ValidationOptions) -> Validated:
    """Run every check on ``raw``; return the canonical frame only if all pass."""
    if options.timezone is not None:
        check_timezone(options.timezone)
    frame = raw.frame
    out = _Collector(raw)

    # Missing cells.
    missing = {f: _is_blank(frame[f]) for f in FIELDS}
    any_missing = np.zeros(frame.height, dtype=bool)
    for mask in missing.values():
        any_missing |= mask
    out.fail("values_present", np.flatnonzero(any_missing))

    # Timestamps, parsed file by file: each file may use its own form.
    tf = options.timeframe
    daily = tf.micros >= 1440 * 60_000_000
    ts_int, ts_ok, kinds, session_dates = _parse_all_timestamps(frame, options.timezone, out, daily)

    # Numbers.
    values: dict[str, np.ndarray] = {}
    bad_number = np.zeros(frame.height, dtype=bool)
    for f in VALUE_FIELDS:
        column = frame[f]
        if column.dtype == pl.String:
            column = column.str.strip_chars().cast(pl.Float64, strict=False)
            bad_number |= column.is_null().to_numpy() & ~missing[f]
        values[f] = column.to_numpy()
    out.fail("numbers_parse", np.flatnonzero(bad_number))
    parsed = ~bad_number & ~any_missing
    nonfinite = np.zeros(frame.height, dtype=bool)
    for f in VALUE_FIELDS:
        with np.errstate(invalid="ignore"):
            nonfinite |= parsed & ~np.isfinite(values[f])
    out.fail("numbers_finite", np.flatnonzero(nonfinite))
    ok = parsed & ~nonfinite
    o, h, lo, c, v = (values[f] for f in VALUE_FIELDS)
    with np.errstate(invalid="ignore"):
        nonpositive = np.zeros(frame.height, dtype=bool)
        for f in PRICE_FIELDS:
            nonpositive |= ok & (values[f] <= 0)
        out.fail("prices_positive", np.flatnonzero(nonpositive))
        out.fail("high_not_below_low", np.flatnonzero(ok & (h < lo)))
        out.fail("high_covers_open_close", np.flatnonzero(ok & (h < np.maximum(o, c))))
        out.fail("low_covers_open_close", np.flatnonzero(ok & (lo > np.minimum(o, c))))
        out.fail("volume_not_negative", np.flatnonzero(ok & (v < 0)))

    # Order and grid, on the rows whose timestamp parsed.
    sessions = None
    if options.calendar is not None and ts_ok.any():
        sessions = options.calendar.sessions(int(ts_int[ts_ok].min()), int(ts_int[ts_ok].max()))
    if sessions is not None and not daily:
        off_grid = ts_ok & ~sessions.on_grid(ts_int, tf)
        note = f"declared timeframe {tf.name} on the sessions of {sessions.name}"
    else:
        off_grid = ts_ok & ((ts_int - tf.origin) % tf.micros != 0)
        note = f"declared timeframe {tf.name}"
    out.fail("on_grid", np.flatnonzero(off_grid), note=note)

    canonical = pl.DataFrame(
        {"ts": ts_int, "open": o, "high": h, "low": lo, "close": c, "volume": v}
    ).with_columns(_row=pl.int_range(0, frame.height, dtype=pl.Int64))
    keep = canonical if ts_ok.all() else canonical.filter(pl.Series(ts_ok))
    strictly_ascending = bool((np.diff(keep["ts"].to_numpy()) > 0).all())
    if strictly_ascending:  # the common case: no duplicates and nothing to sort
        exact_repeat = pl.Series(np.zeros(keep.height, dtype=bool))
    else:
        exact_repeat = ~keep.select(pl.struct(*FIELDS).is_first_distinct()).to_series()
    exact_rows = keep["_row"].filter(exact_repeat).to_numpy()
    repairs: dict[str, Any] = {
        # Applied counts only: asking for a repair that changes nothing leaves the data, its
        # report and so its dataset id exactly as without the flag.
        "sort": {"rows_moved": 0},
        "drop_exact_duplicates": {"rows_dropped": 0},
    }
    if options.drop_exact_duplicates and exact_rows.size:
        keep = keep.filter(~exact_repeat)
        repairs["drop_exact_duplicates"]["rows_dropped"] = int(exact_rows.size)
        out.set(
            "unique_timestamps",
            Status.REPAIRED,
            f"dropped {exact_rows.size} exact duplicate row(s)",
            int(exact_rows.size),
        )
        exact_count = int(exact_rows.size)
    else:
        exact_count = int(exact_rows.size)
    if strictly_ascending:
        dup_rows = exact_rows
    else:
        repeat_ts = ~keep.select(pl.col("ts").is_first_distinct()).to_series()
        dup_rows = keep["_row"].filter(repeat_ts).to_numpy()
    conflicting = int(np.setdiff1d(dup_rows, exact_rows).size)
    if dup_rows.size:
        note = f"{exact_count} exact repeat(s), {conflicting} conflicting"
        out.fail("unique_timestamps", dup_rows, note=note)

    order = keep["ts"].to_numpy()
    backwards = np.flatnonzero(np.diff(order) < 0) + 1
    if backwards.size:
        if options.sort:
            sorted_frame = keep.sort("ts", maintain_order=True)
            moved = int((sorted_frame["_row"].to_numpy() != keep["_row"].to_numpy()).sum())
            keep = sorted_frame
            repairs["sort"]["rows_moved"] = moved
            out.set("sorted", Status.REPAIRED, f"sorted; {moved} row(s) moved", moved)
        else:
            out.fail("sorted", keep["_row"].to_numpy()[backwards])

    failed = any(r.status is Status.FAIL for r in out.results.values())
    if failed:
        out.set("timeframe_matches", Status.SKIPPED, "not checked: other checks failed")
    elif keep.height < 3:
        out.set("timeframe_matches", Status.SKIPPED, "not checked: fewer than 3 bars")
    else:
        _check_timeframe(keep["ts"].to_numpy(), tf, out)
        failed = out.results["timeframe_matches"].status is Status.FAIL
    bars = None if failed else keep.select(FIELDS)
    return Validated(
        bars=bars,
        results=list(out.results.values()),
        timestamp_kinds=kinds,
        repairs=repairs,
        exact_duplicates=exact_count,
        conflicting_duplicates=conflicting,
        session_dates=session_dates,
        sessions=sessions,
    )


def _is_blank(cells: pl.Series) -> np.ndarray:
    if cells.dtype != pl.String:
        if not cells.null_count():  # the common case: no mask to convert
            return np.zeros(len(cells), dtype=bool)
        typed: np.ndarray = cells.is_null().to_numpy()
        return typed
    stripped = cells.str.strip_chars()
    mask: np.ndarray = (stripped.is_null() | (stripped == "")).fill_null(True).to_numpy()
    return mask


def _parse_all_timestamps(
    frame: pl.DataFrame, timezone: str | None, out: _Collector, daily: bool
) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """Epoch µs (0 where a row failed) and whether each row parsed, the timestamp kinds, and
    whether any file held session dates (``daily``: 1d or 1w bars)."""
    ts = np.zeros(frame.height, dtype=np.int64)
    ok = np.ones(frame.height, dtype=bool)
    kinds: set[str] = set()
    session_dates = False
    file_ids = frame["file"].to_numpy()
    boundaries = np.flatnonzero(np.diff(file_ids)) + 1
    starts = np.r_[0, boundaries]
    ends = np.r_[boundaries, frame.height]
    codes_to_checks = {
        ErrorCode.CSV_BAD_TIMESTAMP: "timestamps_parse",
        ErrorCode.CSV_NAIVE_TIMESTAMP: "timestamps_aware",
        ErrorCode.CSV_AMBIGUOUS_TIMESTAMP: "timestamps_unambiguous",
        ErrorCode.CSV_TIMESTAMP_OUT_OF_RANGE: "timestamps_in_range",
    }
    for start, end in zip(starts, ends, strict=True):
        parsed = parse_timestamps(frame["ts"][int(start) : int(end)], timezone, session_dates=daily)
        session_dates = session_dates or parsed.session_dates
        if parsed.kind is not None:
            kinds.add(str(parsed.kind))
        micros = parsed.micros.cast(pl.Int64)
        if micros.null_count():
            ok[start:end] = micros.is_not_null().to_numpy()
            micros = micros.fill_null(0)
        ts[start:end] = micros.to_numpy()
        for code, rows in parsed.problems.items():
            out.fail(codes_to_checks[code], rows + start)
    return ts, ok, sorted(kinds), session_dates


def _check_timeframe(ts: np.ndarray, tf: Timeframe, out: _Collector) -> None:
    deltas = np.diff(ts)
    if (deltas == tf.micros).any():
        return
    smallest = int(deltas.min())
    looks_like = _describe_micros(smallest)
    out.results["timeframe_matches"].status = Status.FAIL
    out.results["timeframe_matches"].count = int(ts.size)
    out.results["timeframe_matches"].note = (
        f"declared {tf.name} but no two bars are {tf.name} apart; the closest are "
        f"{looks_like} apart"
    )


def _describe_micros(micros: int) -> str:
    minutes, rest = divmod(micros, 60_000_000)
    if rest:
        return f"{micros / 1_000_000:g}s"
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


__all__ = [
    "CHECKS",
    "CheckResult",
    "Status",
    "Validated",
    "ValidationOptions",
    "validate",
]

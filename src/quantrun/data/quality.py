"""The data-quality report: what the canonical bars look like, measured, never fixed.

A report is a pure function of the canonical bars and the dataset descriptor (timeframe, zone,
repairs), so the ``data_quality.json`` stored with a dataset has deterministic bytes. It names
bars by their UTC open time, not by input line numbers, because the same dataset can come from
differently laid-out files.

With an exchange calendar (``--calendar``) the expected bars are the calendar's sessions
(:meth:`~quantrun.data.calendar.Sessions.slots`): closed days are not gaps, a missing session
is, and bars outside the sessions are counted (``outside_sessions``). Those keys appear only
then, so a report without a calendar keeps its bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from quantrun.data.timeframe import Timeframe
from quantrun.data.validation import Validated

if TYPE_CHECKING:
    from quantrun.data.calendar import Sessions, SlotIndex

QUALITY_SCHEMA_VERSION = 1
GAP_LIST_CAP = 20
ZERO_VOLUME_LIST_CAP = 10
OUTSIDE_SESSIONS_LIST_CAP = 10
OUTLIER_LIST_CAP = 10
#: A close-to-close log return is an outlier when |r - median| > this many robust sigmas
#: (1.4826 x median absolute deviation).
OUTLIER_ROBUST_Z = 12.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(micros: int) -> str:
    """Epoch µs to ``2024-01-31T13:00:00Z`` (fraction only when present)."""
    moment = _EPOCH + timedelta(microseconds=int(micros))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def micros_of(text: str) -> int:
    """The inverse of :func:`iso`: ``2024-01-31T13:00:00Z`` to epoch µs."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(microseconds=1)


def gap_summary(ts: np.ndarray, tf: Timeframe) -> dict[str, Any]:
    """Gaps between consecutive bars: count, missing bars, the largest ones first."""
    if ts.size < 2:
        return {"count": 0, "missing_bars": 0, "largest": [], "cap": GAP_LIST_CAP}
    missing = np.diff(ts) // tf.micros - 1
    where = np.flatnonzero(missing > 0)
    # Largest first; ties broken by time so the list is deterministic.
    order = where[np.lexsort((ts[where], -missing[where]))][:GAP_LIST_CAP]
    largest = [
        {
            "start": iso(int(ts[i]) + tf.micros),
            "end": iso(int(ts[i + 1]) - tf.micros),
            "missing_bars": int(missing[i]),
        }
        for i in order
    ]
    return {
        "count": int(where.size),
        "missing_bars": int(missing[where].sum()),
        "largest": largest,
        "cap": GAP_LIST_CAP,
    }


def session_gap_summary(
    present: np.ndarray, low: int, high: int, slots: SlotIndex
) -> dict[str, Any]:
    """Gaps among the expected bars numbered ``low`` to ``high - 1`` (``slots``), of which the
    ascending numbers ``present`` are there: each run of consecutive expected bars with none
    present is one gap, from its first to its last missing bar."""
    bounds = np.r_[low - 1, present, high]
    missing = np.diff(bounds) - 1
    where = np.flatnonzero(missing > 0)
    order = where[np.lexsort((where, -missing[where]))][:GAP_LIST_CAP]
    first = slots.time_of(bounds[order] + 1)
    last = slots.time_of(bounds[order + 1] - 1)
    largest = [
        {"start": iso(int(s)), "end": iso(int(e)), "missing_bars": int(missing[i])}
        for s, e, i in zip(first, last, order, strict=True)
    ]
    return {
        "count": int(where.size),
        "missing_bars": int(missing[where].sum()),
        "largest": largest,
        "cap": GAP_LIST_CAP,
    }


def _coverage(
    ts: np.ndarray, tf: Timeframe, sessions: Sessions | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The coverage fields of the report, and the keys a calendar adds (none without one)."""
    rows = int(ts.size)
    if sessions is None or not rows:
        expected = int((ts[-1] - ts[0]) // tf.micros + 1) if rows else 0
        return {
            "expected_bars": expected,
            "present_bars": rows,
            "missing_bars": expected - rows,
            "coverage": round(rows / expected, 12) if expected else 0.0,
            "gaps": gap_summary(ts, tf),
        }, {}
    slots = sessions.slot_index(tf)
    numbers = slots.index_of(ts)
    present = numbers[numbers >= 0]  # ascending: the bars are sorted and unique
    outside = np.flatnonzero(numbers < 0)
    low, high = slots.rank(int(ts[0])), slots.rank(int(ts[-1]) + 1)
    found = int(present.size)
    expected = high - low
    return {
        "expected_bars": expected,
        "present_bars": found,
        "missing_bars": expected - found,
        "coverage": round(found / expected, 12) if expected else 0.0,
        "gaps": session_gap_summary(present, low, high, slots),
    }, {
        "outside_sessions": {
            "count": int(outside.size),
            "first": [iso(int(ts[i])) for i in outside[:OUTSIDE_SESSIONS_LIST_CAP]],
        },
    }


def outlier_summary(ts: np.ndarray, close: np.ndarray) -> dict[str, Any]:
    rule = {
        "measure": "close-to-close log return between consecutive bars",
        "threshold_robust_z": OUTLIER_ROBUST_Z,
        "robust_sigma": "1.4826 * median(|r - median(r)|); "
        "if that is 0, 1.2533 * mean(|r - median(r)|)",
    }
    if close.size < 3:
        return {"rule": rule, "count": 0, "largest": [], "cap": OUTLIER_LIST_CAP}
    returns = np.diff(np.log(close))
    median = float(np.median(returns))
    deviation = np.abs(returns - median)
    sigma = 1.4826 * float(np.median(deviation))
    if sigma == 0.0:  # over half the returns equal the median (flat, illiquid minutes)
        sigma = 1.2533 * float(np.mean(deviation))
    if sigma == 0.0:
        return {"rule": rule, "count": 0, "largest": [], "cap": OUTLIER_LIST_CAP}
    z = deviation / sigma
    where = np.flatnonzero(z > OUTLIER_ROBUST_Z)
    order = where[np.lexsort((ts[where + 1], -np.abs(returns[where])))][:OUTLIER_LIST_CAP]
    largest = [
        {
            "ts": iso(int(ts[i + 1])),
            "log_return": round(float(returns[i]), 12),
            "robust_z": round(float(z[i]), 6),
        }
        for i in order
    ]
    return {"rule": rule, "count": int(where.size), "largest": largest, "cap": OUTLIER_LIST_CAP}


def build_report(
    bars: pl.DataFrame,
    validated: Validated,
    descriptor: dict[str, Any],
    tf: Timeframe,
) -> dict[str, Any]:
    """The ``data_quality.json`` content for canonical ``bars``."""
    ts = bars["ts"].to_numpy()
    volume = bars["volume"].to_numpy()
    rows = int(ts.size)
    coverage, calendar_keys = _coverage(ts, tf, validated.sessions)
    if "calendar" in descriptor:
        calendar_keys["calendar"] = descriptor["calendar"]
    zero = np.flatnonzero(volume == 0)
    return calendar_keys | {
        "schema_version": QUALITY_SCHEMA_VERSION,
        "timeframe": tf.name,
        "timezone_assumed": descriptor.get("timezone"),
        "rows": rows,
        "first_bar": iso(int(ts[0])) if rows else None,
        "last_bar": iso(int(ts[-1])) if rows else None,
        **coverage,
        "zero_volume_bars": {
            "count": int(zero.size),
            "first": [iso(int(ts[i])) for i in zero[:ZERO_VOLUME_LIST_CAP]],
        },
        "duplicates_found": {
            "exact": validated.exact_duplicates,
            "conflicting": validated.conflicting_duplicates,
        },
        "outlier_returns": outlier_summary(ts, bars["close"].to_numpy()),
        "checks": [r.to_dict(with_lines=False) for r in validated.results],
        "repairs": validated.repairs,
    }

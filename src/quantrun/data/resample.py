"""Resampling: deterministic aggregation of canonical bars into coarser buckets.

Rules (docs/resampling.md; recorded in every manifest through :data:`RESAMPLE_RULES`):

- buckets are aligned to the Unix epoch in UTC (weekly: Monday 00:00 UTC), left-closed and
  labelled by their **open** time;
- open=first, high=max, low=min, close=last, volume=sum (:data:`AGGREGATION`); the volume
  sum adds a bucket's rows in row order, whatever the machine's thread count (D52);
- ``bar_count`` says how many base bars built the bucket; a bucket with fewer than
  ``timeframe / base_timeframe`` is kept and flagged ``partial``; empty buckets are omitted;
- the trailing bucket that the data ends inside (the data stops before the bucket closes) is
  dropped and counted in ``dropped_trailing_bars``. "The data" ends where the *base* data
  ends: when resampling already-resampled bars in a second step, pass the first step's
  ``data_end`` along, so a step is equal to resampling the base bars directly.

With an exchange's ``sessions`` (:mod:`quantrun.data.calendar`), buckets align to the
sessions instead (:func:`session_rules`): intraday buckets are cut from each trading phase, a
daily bucket is a session labelled by its date, a weekly one the sessions of a week; a bucket
is complete when it holds every base bar its sessions expect. Without sessions the rows must
sit on the UTC grid (RESAMPLE_SESSION_GRID otherwise: bars on a session grid such as 09:30
would silently be relabelled), unless they are resampled to their own timeframe.

Example::

    out = resample(bars, "15m")
    out.bars.columns == ["ts", "open", "high", "low", "close", "volume", "bar_count", "partial"]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from quantrun.data.timeframe import BASE_TIMEFRAME, Timeframe
from quantrun.errors import ErrorCode, error

if TYPE_CHECKING:
    from quantrun.data.calendar import Sessions

#: The aggregation table: output column -> how a bucket's rows are combined.
AGGREGATION: dict[str, str] = {
    "open": "first",
    "high": "max",
    "low": "min",
    "close": "last",
    "volume": "sum",
    "bar_count": "sum",
}

#: The float columns :data:`AGGREGATION` sums: summed in row order by
#: :func:`_with_row_order_sums`, not by the group-by (rules 2).
_FLOAT_SUMS = tuple(
    name for name, how in AGGREGATION.items() if how == "sum" and name != "bar_count"
)


#: The current resampling rules. 2 (D52): a bucket's volume is its rows added in row order;
#: 1 let polars' group-by add it, which split the rows among threads and so gave last bits
#: that depend on the machine's thread count (runs made under 1 rebuild under 1).
RESAMPLE_RULES_VERSION = 2
#: Every version a build can still follow (``RunCreateRequest.resample_rules`` pins one).
RESAMPLE_RULES_VERSIONS = (1, 2)


def resample_rules(version: int = RESAMPLE_RULES_VERSION) -> dict[str, Any]:
    """What every manifest records about resampling under rules ``version``."""
    rules: dict[str, Any] = {
        "version": version,
        "alignment": "unix-epoch-utc (1w: monday 00:00 utc)",
        "closed": "left",
        "label": "bucket-open",
        "aggregation": AGGREGATION,
        "empty_buckets": "omitted",
        "partial_buckets": "kept-and-flagged",
        "trailing_incomplete_bucket": "dropped-and-counted",
        "visibility": "a bar is visible to a strategy only after its bucket has closed",
    }
    if version >= 2:
        rules["sum_order"] = "row order, from 0.0"
    return rules


#: What every manifest records about resampling (the current rules).
RESAMPLE_RULES: dict[str, Any] = resample_rules()

#: Version of the session alignment (recorded with it, beside the rules' own version).
SESSION_RULES_VERSION = 1


def session_rules(calendar: str, version: int = RESAMPLE_RULES_VERSION) -> dict[str, Any]:
    """The rules a manifest records when bars were resampled by ``calendar``'s sessions:
    :func:`resample_rules` with the session alignment in place of the epoch alignment."""
    return resample_rules(version) | {
        "alignment": f"sessions of {calendar}: intraday buckets open at each trading phase's "
        "start (the open, the end of a break) and end with the phase at the latest; 1d: one "
        "bucket per session (from its open to the next session's open), labelled by its date "
        "at 00:00 utc; 1w: the sessions of a week, labelled monday 00:00 utc",
        "partial_buckets": "kept-and-flagged (complete: every base bar its sessions expect)",
        "sessions": {"calendar": calendar, "version": SESSION_RULES_VERSION},
    }


OUTPUT_COLUMNS = ["ts", "open", "high", "low", "close", "volume", "bar_count", "partial"]


@dataclass(frozen=True)
class Resampled:
    """The result of :func:`resample`: bars plus what the rules did to them."""

    bars: pl.DataFrame
    timeframe: Timeframe
    base_timeframe: Timeframe
    dropped_trailing_bars: int
    partial_bars: int
    #: Where the data these bars were built from ends (exclusive, epoch µs): the last input
    #: row's ts + its length, or the ``data_end`` passed in. ``None`` for empty input.
    #: Pass it to the next step of a chained resample.
    data_end: int | None = None
    #: The calendar whose sessions aligned the buckets (None: the UTC epoch).
    calendar: str | None = None
    #: The resampling rules' version that built the bars.
    rules_version: int = RESAMPLE_RULES_VERSION

    def summary(self) -> dict[str, Any]:
        return {
            "timeframe": self.timeframe.name,
            "base_timeframe": self.base_timeframe.name,
            "bars": self.bars.height,
            "partial_bars": self.partial_bars,
            "dropped_trailing_base_bars": self.dropped_trailing_bars,
            "rules": resample_rules(self.rules_version)
            if self.calendar is None
            else session_rules(self.calendar, self.rules_version),
        }


def _as_timeframe(value: Timeframe | str) -> Timeframe:
    return value if isinstance(value, Timeframe) else Timeframe.parse(value)


def resample(
    bars: pl.DataFrame,
    timeframe: Timeframe | str,
    *,
    base_timeframe: Timeframe | str = BASE_TIMEFRAME,
    source_timeframe: Timeframe | str | None = None,
    data_end: int | None = None,
    sessions: Sessions | None = None,
    rules_version: int = RESAMPLE_RULES_VERSION,
) -> Resampled:
    """Aggregate sorted canonical ``bars`` (ts in epoch µs UTC) into ``timeframe`` buckets.

    ``base_timeframe`` is the dataset's own bar length (``bar_count`` is counted in it);
    ``source_timeframe`` is the length of the rows passed in, when they were already
    resampled (default: the base). Resampling to a finer timeframe is refused.

    ``data_end`` (exclusive, epoch µs) is where the underlying base data ends; default: the
    last row's ts + ``source_timeframe``. Rows that were themselves resampled lost their
    dropped trailing bucket, so the data may go on past their last row: chain steps as
    ``resample(first.bars, "15m", source_timeframe="5m", data_end=first.data_end)``.

    ``sessions``: align the buckets to an exchange's sessions (covering the bars; see the
    module docstring) instead of the UTC epoch.

    ``rules_version``: the rules to follow (:data:`RESAMPLE_RULES_VERSIONS`; an older one
    rebuilds a run made under it).
    """
    if rules_version not in RESAMPLE_RULES_VERSIONS:
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"unknown resampling rules {rules_version}")
    target = _as_timeframe(timeframe)
    base = _as_timeframe(base_timeframe)
    source = _as_timeframe(source_timeframe) if source_timeframe is not None else base
    for finer in (base, source):
        if not target.is_multiple_of(finer):
            raise error(
                ErrorCode.RESAMPLE_DOWNWARD,
                f"cannot resample {finer.name} bars to {target.name}: "
                f"{target.name} is not a whole multiple of {finer.name}",
            )
    frame = (
        bars if "bar_count" in bars.columns else bars.with_columns(bar_count=pl.lit(1, pl.Int64))
    )
    expected = target.micros // base.micros
    calendar = None if sessions is None else sessions.name
    if frame.height == 0:
        empty = frame.select(OUTPUT_COLUMNS[:-1]).with_columns(partial=pl.lit(False))
        return Resampled(
            empty, target, base, 0, 0, data_end, calendar=calendar, rules_version=rules_version
        )

    if sessions is not None and not sessions.covers(int(frame["ts"][0]), int(frame["ts"][-1])):
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"the sessions of {sessions.name} passed in do not cover the bars "
            f"({_iso(int(frame['ts'][0]))} .. {_iso(int(frame['ts'][-1]))}); build them with "
            "Calendar.sessions(first, last) of these bars",
        )
    rows_end = int(frame["ts"][-1]) + source.micros
    if sessions is not None:  # a bar ends with its session's phase at the latest
        last = np.array([frame["ts"][-1]], dtype=np.int64)
        rows_end = min(rows_end, int(sessions.buckets(last, source, source, base)[1][0]))
    if data_end is None:
        data_end = rows_end
    elif data_end < rows_end:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"data_end {data_end} is before the end of the last bar ({rows_end})",
        )
    if sessions is not None:
        return _by_sessions(frame, sessions, target, source, base, data_end, rules_version)
    if _on_utc_grid(frame, source, target):
        bucket = ((pl.col("ts") - target.origin) // target.micros) * target.micros + target.origin
    else:  # bars on a session grid at their own timeframe: each is its own bucket
        bucket = pl.col("ts")
    out = _one_row_per_bucket(frame, target)
    if out is None:
        out = _aggregate(frame, bucket, rules_version)
        if rules_version >= 2:
            out = _with_row_order_sums(out, frame.select(bucket).to_series().to_numpy(), frame)
    out = out.with_columns(partial=pl.col("bar_count") < expected)
    dropped = 0
    last_open = int(out["ts"][-1])
    if data_end < last_open + target.micros:
        dropped = int(out["bar_count"][-1])
        out = out.slice(0, out.height - 1)
    partial = int(out["partial"].sum())
    return Resampled(
        out.select(OUTPUT_COLUMNS),
        target,
        base,
        dropped,
        partial,
        data_end,
        rules_version=rules_version,
    )


def _on_utc_grid(frame: pl.DataFrame, source: Timeframe, target: Timeframe) -> bool:
    """Whether the rows sit on the source timeframe's UTC grid. Rows that do not (bars on a
    session grid, 09:30 hourly bars) are refused unless the target is their own timeframe:
    epoch buckets would relabel them to the hour before them."""
    ts = frame["ts"].to_numpy()
    off = np.flatnonzero((ts - source.origin) % source.micros)
    if not off.size:
        return True
    if target.micros == source.micros:
        return False
    raise error(
        ErrorCode.RESAMPLE_SESSION_GRID,
        f"{off.size:,} {source.name} bar(s) do not open on the UTC {source.name} grid "
        f"(first at {_iso(int(ts[off[0]]))}); resampling them to {target.name} needs their "
        "calendar's sessions",
    )


def _iso(micros: int) -> str:
    seconds, rest = divmod(micros, 1_000_000)
    stamp = np.datetime64(seconds, "s").astype(str)
    return f"{stamp}Z" if not rest else f"{stamp}.{rest:06d}Z"


def _by_sessions(
    frame: pl.DataFrame,
    sessions: Sessions,
    target: Timeframe,
    source: Timeframe,
    base: Timeframe,
    data_end: int,
    rules_version: int,
) -> Resampled:
    """Buckets cut from ``sessions`` (see :meth:`~quantrun.data.calendar.Sessions.buckets`)."""
    ts = frame["ts"].to_numpy()
    label, close, expected = sessions.buckets(ts, target, source, base)
    keyed = frame.with_columns(
        _bucket=pl.Series(label, dtype=pl.Int64),
        _close=pl.Series(close, dtype=pl.Int64),
        _expected=pl.Series(expected, dtype=pl.Int64),
    )
    out = (
        keyed.lazy()
        .group_by("_bucket", maintain_order=True)
        .agg(
            *_bucket_aggregation(rules_version),
            pl.col("_close").max(),
            pl.col("_expected").max(),
        )
        .rename({"_bucket": "ts"})
        .collect()
    )
    if rules_version >= 2:
        out = _with_row_order_sums(out, label, frame)
    out = out.with_columns(partial=pl.col("bar_count") < pl.col("_expected"))
    dropped = 0
    if data_end < int(out["_close"][-1]):
        dropped = int(out["bar_count"][-1])
        out = out.slice(0, out.height - 1)
    partial = int(out["partial"].sum())
    return Resampled(
        out.select(OUTPUT_COLUMNS),
        target,
        base,
        dropped,
        partial,
        data_end,
        calendar=sessions.name,
        rules_version=rules_version,
    )


_AGGREGATED = ["ts", "open", "high", "low", "close", "volume", "bar_count"]


def _bucket_aggregation(rules_version: int) -> list[pl.Expr]:
    """:data:`AGGREGATION` as polars expressions, one per output column in its order: what
    the epoch and the session group-bys both compute per bucket. Under rules 2 the float sums
    are left out: :func:`_with_row_order_sums` adds them, in row order."""
    skipped = _FLOAT_SUMS if rules_version >= 2 else ()
    return [
        getattr(pl.col(name), how)().cast(pl.Int64)
        if name == "bar_count"
        else getattr(pl.col(name), how)()
        for name, how in AGGREGATION.items()
        if name not in skipped
    ]


def _one_row_per_bucket(frame: pl.DataFrame, target: Timeframe) -> pl.DataFrame | None:
    """The group-by's result when it would be the identity, else None.

    When the rows already sit on the target grid, strictly ascending, and hold no nulls, every
    row is a bucket of its own and first/max/min/last/sum of one value is that value: the
    group-by (about 0.3 s per million rows) would hand the rows back unchanged. This is the
    case of a run on the data's own timeframe (1m bars from a 1m file).
    """
    if frame["ts"].dtype != pl.Int64 or any(frame[c].null_count() for c in _AGGREGATED):
        return None
    ts = frame["ts"].to_numpy()
    if ((ts - target.origin) % target.micros).any() or not bool((np.diff(ts) > 0).all()):
        return None
    return frame.select(*_AGGREGATED[:-1], pl.col("bar_count").cast(pl.Int64))


def _aggregate(frame: pl.DataFrame, bucket: pl.Expr, rules_version: int) -> pl.DataFrame:
    return (
        frame.lazy()
        .with_columns(bucket.alias("_bucket"))
        .group_by("_bucket", maintain_order=True)
        .agg(*_bucket_aggregation(rules_version))
        .rename({"_bucket": "ts"})
        .collect()
    )


def _with_row_order_sums(out: pl.DataFrame, keys: np.ndarray, frame: pl.DataFrame) -> pl.DataFrame:
    """``out`` with each float sum (volume): the sum of its bucket's rows added in row order,
    starting from 0.0 (rules 2).

    polars' group-by splits the rows among its threads and adds the partial sums of a bucket
    that straddles two parts: the last bits of such a bucket's volume then depend on the
    machine's thread count and, with more than one thread, on the call; buckets of hundreds of
    rows were split even on one thread (D52). Adding in row order depends on nothing but the
    rows.
    ``keys`` is each input row's bucket label (``out["ts"]`` holds each label once).
    """
    labels = out["ts"].to_numpy()
    return out.with_columns(
        pl.Series(name, _row_order_sum(keys, _values(frame, name), labels), dtype=pl.Float64)
        for name in _FLOAT_SUMS
    )


def _values(frame: pl.DataFrame, name: str) -> np.ndarray:
    """A column as float64, nulls as 0.0 (the group-by's sum skips them; x + 0.0 == x)."""
    return frame[name].cast(pl.Float64).fill_null(0.0).to_numpy()


def _row_order_sum(keys: np.ndarray, values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per label, the sum of ``values`` whose key is that label, added in row order
    (``keys`` not empty).

    Vectorised across buckets: the buckets as the rows of a zero-padded grid summed along each
    row with ``np.add.accumulate`` (left to right, never pairwise; adding 0.0 is exact), or,
    when padding would more than double the values (a few long buckets among short ones), a
    loop whose step ``j`` adds every bucket's ``j``-th value."""
    order = (
        None
        if keys.size < 2 or bool((keys[1:] >= keys[:-1]).all())
        else np.argsort(keys, kind="stable")
    )
    if order is not None:
        keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lengths = np.diff(np.r_[starts, keys.size])
    width = int(lengths.max(initial=0))
    if starts.size * width <= 2 * keys.size:  # buckets as rows of a padded grid
        grid = np.zeros((starts.size, width), dtype=np.float64)
        grid[
            np.repeat(np.arange(starts.size), lengths),
            np.arange(keys.size) - np.repeat(starts, lengths),
        ] = values
        sums = np.add.accumulate(grid, axis=1)[:, -1]
    else:
        sums = np.zeros(starts.size, dtype=np.float64)
        live = np.arange(starts.size)
        for step in range(width):
            live = live[lengths[live] > step]
            sums[live] += values[starts[live] + step]
    return sums[np.searchsorted(keys[starts], labels)]

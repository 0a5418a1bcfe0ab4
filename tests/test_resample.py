"""Resampling (docs/resampling.md): exact rules on hand-made frames, then properties.

The property tests generate sorted, unique, on-grid 1m bars with random gaps (the bar
*layout* is drawn by Hypothesis, the OHLCV values come from a ``random.Random`` seeded by a
drawn integer, which keeps a thousand-row example cheap) and compare :func:`resample`
against an independent pure-Python reference that buckets with calendar arithmetic
(midnight, minute-of-day, Monday) rather than the epoch formula the implementation uses.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from quantrun.data.resample import (
    AGGREGATION,
    OUTPUT_COLUMNS,
    RESAMPLE_RULES,
    Resampled,
    resample,
)
from quantrun.data.timeframe import MICROS_PER_MINUTE, TIMEFRAMES, Timeframe
from quantrun.errors import ErrorCode, QuantrunError, UsageError

MINUTE = MICROS_PER_MINUTE
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

PRICE_COLUMNS = ["open", "high", "low", "close", "volume"]
INPUT_SCHEMA = pl.Schema([("ts", pl.Int64), *((c, pl.Float64) for c in PRICE_COLUMNS)])
OUTPUT_SCHEMA = pl.Schema([*INPUT_SCHEMA.items(), ("bar_count", pl.Int64), ("partial", pl.Boolean)])

Row = tuple[int, float, float, float, float, float]
OutRow = tuple[int, float, float, float, float, float, int, bool]

#: Deterministic, database-less property runs: same examples on every machine and every run.
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None)


# --------------------------------------------------------------------------- helpers


def us(iso: str) -> int:
    """'2024-01-01T00:05' read as UTC -> epoch microseconds."""
    moment = dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC)
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def at(ts: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=ts)


def frame(rows: Sequence[Row]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=INPUT_SCHEMA, orient="row")


def expected(rows: Sequence[OutRow]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=OUTPUT_SCHEMA, orient="row")


def flat(ts: int, price: float = 1.0, volume: float = 1.0) -> Row:
    return (ts, price, price, price, price, volume)


def minutes(start: str, count: int, volume: float = 1.0) -> list[Row]:
    """``count`` consecutive flat 1m bars from ``start``; price = minute index + 1."""
    first = us(start)
    return [flat(first + i * MINUTE, float(i + 1), volume) for i in range(count)]


def labels(result: Resampled) -> list[dt.datetime]:
    return [at(int(ts)) for ts in result.bars["ts"]]


# ------------------------------------------------------------------ exact unit tests


def test_1m_to_5m_known_numbers() -> None:
    t0 = us("2024-01-01T00:00")
    data = frame(
        [
            (t0 + 0 * MINUTE, 10.0, 11.0, 9.0, 10.5, 1.0),
            (t0 + 1 * MINUTE, 10.5, 12.0, 10.0, 11.0, 2.0),
            (t0 + 2 * MINUTE, 11.0, 11.5, 8.0, 9.0, 3.0),
            (t0 + 3 * MINUTE, 9.0, 10.0, 8.5, 9.5, 4.0),
            (t0 + 4 * MINUTE, 9.5, 10.0, 9.0, 9.75, 5.0),
            (t0 + 5 * MINUTE, 20.0, 21.0, 19.0, 20.0, 0.5),
            (t0 + 6 * MINUTE, 20.0, 25.0, 20.0, 24.0, 0.25),
            (t0 + 7 * MINUTE, 24.0, 24.0, 15.0, 16.0, 0.0),
            (t0 + 8 * MINUTE, 16.0, 17.0, 16.0, 17.0, 1.25),
            (t0 + 9 * MINUTE, 17.0, 18.0, 16.5, 17.5, 2.0),
        ]
    )
    result = resample(data, "5m")
    assert_frame_equal(
        result.bars,
        expected(
            [
                (t0, 10.0, 12.0, 8.0, 9.75, 15.0, 5, False),
                (t0 + 5 * MINUTE, 20.0, 25.0, 15.0, 17.5, 4.0, 5, False),
            ]
        ),
        check_exact=True,
    )
    assert result.bars.columns == OUTPUT_COLUMNS
    assert result.timeframe == TIMEFRAMES["5m"]
    assert result.base_timeframe == TIMEFRAMES["1m"]
    assert result.dropped_trailing_bars == 0
    assert result.partial_bars == 0


def test_worked_example_from_the_docs() -> None:
    """The table in docs/resampling.md, number for number."""
    data = frame(
        [
            (us("2024-03-01T09:00"), 100.0, 101.0, 99.0, 100.5, 10.0),
            (us("2024-03-01T09:01"), 100.5, 102.0, 100.0, 101.5, 5.0),
            (us("2024-03-01T09:02"), 101.5, 101.5, 100.5, 101.0, 7.0),
            (us("2024-03-01T09:03"), 101.0, 103.0, 101.0, 102.5, 3.0),
            (us("2024-03-01T09:04"), 102.5, 102.5, 98.0, 99.0, 8.0),
            (us("2024-03-01T09:07"), 99.0, 99.5, 97.0, 98.0, 4.0),
            (us("2024-03-01T09:09"), 98.0, 98.5, 97.5, 98.25, 2.0),
            (us("2024-03-01T09:15"), 98.25, 99.0, 98.0, 98.5, 6.0),
            (us("2024-03-01T09:16"), 98.5, 98.75, 98.25, 98.5, 1.0),
        ]
    )
    result = resample(data, "5m")
    assert_frame_equal(
        result.bars,
        expected(
            [
                (us("2024-03-01T09:00"), 100.0, 103.0, 98.0, 99.0, 33.0, 5, False),
                (us("2024-03-01T09:05"), 99.0, 99.5, 97.0, 98.25, 6.0, 2, True),
            ]
        ),
        check_exact=True,
    )
    assert result.partial_bars == 1
    assert result.dropped_trailing_bars == 2
    summary = result.summary()
    assert summary == {
        "timeframe": "5m",
        "base_timeframe": "1m",
        "bars": 2,
        "partial_bars": 1,
        "dropped_trailing_base_bars": 2,
        "rules": RESAMPLE_RULES,
    }


def test_label_is_bucket_open_not_first_minute() -> None:
    # The data starts at 10:07: the 15m bar that holds it is labelled 10:00 and is partial.
    result = resample(frame(minutes("2024-05-06T10:07", 8)), "15m")
    assert labels(result) == [dt.datetime(2024, 5, 6, 10, 0, tzinfo=dt.UTC)]
    assert result.bars["bar_count"].to_list() == [8]
    assert result.bars["partial"].to_list() == [True]
    assert result.bars["open"].to_list() == [1.0]  # the 10:07 bar's open
    assert result.bars["close"].to_list() == [8.0]  # the 10:14 bar's close


def test_4h_buckets_are_aligned_to_midnight_utc() -> None:
    data = frame(
        [
            flat(us("2024-03-10T01:30"), 1.0),
            flat(us("2024-03-10T03:59"), 2.0),
            flat(us("2024-03-10T04:00"), 3.0),
            flat(us("2024-03-10T06:10"), 4.0),
            flat(us("2024-03-10T07:59"), 5.0),
            flat(us("2024-03-10T20:00"), 6.0),
            flat(us("2024-03-10T23:59"), 7.0),
        ]
    )
    result = resample(data, "4h")
    assert labels(result) == [
        dt.datetime(2024, 3, 10, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 10, 4, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 10, 20, 0, tzinfo=dt.UTC),
    ]
    assert result.bars["bar_count"].to_list() == [2, 3, 2]
    assert result.bars["open"].to_list() == [1.0, 3.0, 6.0]
    assert result.bars["close"].to_list() == [2.0, 5.0, 7.0]
    assert result.bars["partial"].to_list() == [True, True, True]
    assert result.partial_bars == 3
    assert result.dropped_trailing_bars == 0
    assert all(int(ts) % (4 * HOUR) == 0 for ts in result.bars["ts"])


def test_1d_buckets_open_at_midnight_utc() -> None:
    data = frame(
        [
            flat(us("2024-01-01T23:59"), 1.0, 2.0),
            flat(us("2024-01-02T00:00"), 2.0, 3.0),
            flat(us("2024-01-02T12:00"), 3.0, 4.0),
            flat(us("2024-01-02T23:59"), 4.0, 5.0),
        ]
    )
    result = resample(data, "1d")
    assert labels(result) == [
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    ]
    assert result.bars["volume"].to_list() == [2.0, 12.0]
    assert result.bars["bar_count"].to_list() == [1, 3]
    assert result.bars["high"].to_list() == [1.0, 4.0]
    assert result.bars["low"].to_list() == [1.0, 2.0]


def test_weekly_buckets_open_monday_midnight_utc() -> None:
    # 2023-12-31 is a Sunday, 2024-01-01 a Monday, 2024-01-07 the next Sunday.
    data = frame(
        [
            flat(us("2023-12-28T12:00"), 1.0),  # Thursday
            flat(us("2023-12-31T23:59"), 2.0),  # Sunday, last minute of that week
            flat(us("2024-01-01T00:00"), 3.0),  # Monday, first minute of the next
            flat(us("2024-01-04T00:00"), 4.0),  # Thursday
            flat(us("2024-01-07T23:59"), 5.0),  # Sunday, last minute
        ]
    )
    result = resample(data, "1w")
    assert labels(result) == [
        dt.datetime(2023, 12, 25, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    ]
    assert [d.weekday() for d in labels(result)] == [0, 0]
    assert result.bars["open"].to_list() == [1.0, 3.0]
    assert result.bars["close"].to_list() == [2.0, 5.0]
    assert result.bars["bar_count"].to_list() == [2, 3]
    assert result.dropped_trailing_bars == 0


def test_first_week_of_the_epoch_opens_on_monday_1969_12_29() -> None:
    # The epoch fell on a Thursday: its week opened four days earlier, before the epoch.
    data = frame([flat(0, 1.0), flat(us("1970-01-04T23:59"), 2.0)])
    result = resample(data, "1w")
    assert result.bars["ts"].to_list() == [-3 * DAY]
    assert labels(result) == [dt.datetime(1969, 12, 29, tzinfo=dt.UTC)]
    assert result.bars["bar_count"].to_list() == [2]


def test_a_full_week_of_minutes_gives_complete_daily_and_weekly_bars() -> None:
    start = us("2024-01-01T00:00")  # a Monday
    n = 7 * 1440
    data = frame([(start + i * MINUTE, i + 1.0, i + 2.0, i + 0.5, i + 1.5, 0.5) for i in range(n)])
    week = resample(data, "1w")
    assert_frame_equal(
        week.bars,
        expected([(start, 1.0, n + 1.0, 0.5, n + 0.5, n * 0.5, n, False)]),
        check_exact=True,
    )
    assert (week.dropped_trailing_bars, week.partial_bars) == (0, 0)
    days = resample(data, "1d")
    assert days.bars["ts"].to_list() == [start + d * DAY for d in range(7)]
    assert days.bars["bar_count"].to_list() == [1440] * 7
    assert days.bars["partial"].to_list() == [False] * 7
    assert days.bars["open"].to_list() == [1.0 + 1440 * d for d in range(7)]
    assert days.bars["close"].to_list() == [1440.5 + 1440 * d for d in range(7)]


def test_empty_buckets_are_omitted_not_invented() -> None:
    data = frame(minutes("2024-01-01T00:00", 5) + minutes("2024-01-01T00:20", 5))
    result = resample(data, "5m")
    assert labels(result) == [
        dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 1, 0, 20, tzinfo=dt.UTC),
    ]
    assert result.bars["bar_count"].to_list() == [5, 5]
    assert result.bars["partial"].to_list() == [False, False]
    assert result.partial_bars == 0


def test_partial_bucket_in_the_middle_is_kept_and_flagged() -> None:
    t0 = us("2024-01-01T00:00")
    data = frame(
        [flat(t0 + i * MINUTE, 1.0) for i in range(5)]
        + [flat(t0 + 5 * MINUTE, 7.0, 2.0), flat(t0 + 7 * MINUTE, 9.0, 3.0)]
        + [flat(t0 + i * MINUTE, 1.0) for i in range(10, 15)]
    )
    result = resample(data, "5m")
    assert result.bars["ts"].to_list() == [t0, t0 + 5 * MINUTE, t0 + 10 * MINUTE]
    assert result.bars["bar_count"].to_list() == [5, 2, 5]
    assert result.bars["partial"].to_list() == [False, True, False]
    assert result.partial_bars == 1
    middle = result.bars.row(1, named=True)
    assert (middle["open"], middle["high"], middle["low"], middle["close"]) == (7.0, 9.0, 7.0, 9.0)
    assert middle["volume"] == 5.0
    assert result.dropped_trailing_bars == 0


def test_trailing_incomplete_bucket_is_dropped_and_counted() -> None:
    # 00:00..00:07: the 00:05 bucket would close at 00:10 but the data stops after 00:07.
    result = resample(frame(minutes("2024-01-01T00:00", 8)), "5m")
    assert labels(result) == [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)]
    assert result.dropped_trailing_bars == 3
    assert result.bars["volume"].to_list() == [5.0]
    assert result.summary()["dropped_trailing_base_bars"] == 3


def test_trailing_bucket_with_a_gap_before_the_end_is_dropped() -> None:
    t0 = us("2024-01-01T00:00")
    data = frame([flat(t0 + i * MINUTE) for i in (0, 1, 2, 3, 4, 5, 6)])
    result = resample(data, "5m")
    assert result.bars["ts"].to_list() == [t0]
    assert result.dropped_trailing_bars == 2


def test_single_incomplete_bucket_leaves_nothing() -> None:
    result = resample(frame(minutes("2024-01-01T00:00", 14)), "15m")
    assert result.bars.height == 0
    assert result.bars.schema == OUTPUT_SCHEMA
    assert result.dropped_trailing_bars == 14
    assert result.partial_bars == 0


def test_trailing_complete_bucket_is_kept() -> None:
    result = resample(frame(minutes("2024-01-01T00:00", 10)), "5m")
    assert result.bars["ts"].to_list() == [us("2024-01-01T00:00"), us("2024-01-01T00:05")]
    assert result.bars["close"].to_list() == [5.0, 10.0]
    assert result.dropped_trailing_bars == 0


def test_trailing_partial_bucket_that_reaches_its_close_is_kept() -> None:
    # Only 00:05 and 00:09 exist in the last bucket, but 00:09 is its last minute: it closed.
    t0 = us("2024-01-01T00:00")
    data = frame([*minutes("2024-01-01T00:00", 5), flat(t0 + 5 * MINUTE), flat(t0 + 9 * MINUTE)])
    result = resample(data, "5m")
    assert result.bars["ts"].to_list() == [t0, t0 + 5 * MINUTE]
    assert result.bars["bar_count"].to_list() == [5, 2]
    assert result.bars["partial"].to_list() == [False, True]
    assert result.dropped_trailing_bars == 0
    assert result.partial_bars == 1


def test_chained_step_must_be_told_where_the_data_ends() -> None:
    """Found by the step property: 00:00 and 00:15 only, 1m -> 5m -> 15m.

    Step one keeps the 00:00 5m bar and drops the still-open 00:15 one. Judged from its own
    rows, step two would think the data ended at 00:05 and drop the 00:00 15m bar too, but
    the data really ran to 00:16, past that bar's close: ``data_end`` carries that along.
    """
    data = frame([flat(0, 1.0), flat(15 * MINUTE, 2.0)])
    direct = resample(data, "15m")
    assert direct.bars["ts"].to_list() == [0]
    assert direct.dropped_trailing_bars == 1
    first = resample(data, "5m")
    assert first.bars["ts"].to_list() == [0]
    assert first.data_end == 16 * MINUTE
    second = resample(first.bars, "15m", source_timeframe="5m", data_end=first.data_end)
    assert_frame_equal(second.bars, direct.bars, check_exact=True)
    assert second.data_end == 16 * MINUTE
    # Without it, only the rows themselves are known: they end at 00:05, inside the bar.
    blind = resample(first.bars, "15m", source_timeframe="5m")
    assert blind.bars.height == 0
    assert blind.dropped_trailing_bars == 1


def test_data_end_keeps_a_bucket_the_data_ran_past() -> None:
    data = frame(minutes("2024-01-01T00:00", 8))
    result = resample(data, "5m", data_end=us("2024-01-01T00:10"))
    assert result.bars["ts"].to_list() == [us("2024-01-01T00:00"), us("2024-01-01T00:05")]
    assert result.bars["bar_count"].to_list() == [5, 3]
    assert result.bars["partial"].to_list() == [False, True]
    assert result.dropped_trailing_bars == 0
    assert result.data_end == us("2024-01-01T00:10")


def test_data_end_before_the_last_bar_is_refused() -> None:
    data = frame(minutes("2024-01-01T00:00", 8))
    with pytest.raises(QuantrunError) as caught:
        resample(data, "5m", data_end=us("2024-01-01T00:07"))
    assert caught.value.code == ErrorCode.USAGE_INVALID_OPTION


def test_same_timeframe_is_identity_plus_counts() -> None:
    data = frame(minutes("2024-01-01T00:00", 3))
    result = resample(data, "1m")
    assert_frame_equal(result.bars.select(INPUT_SCHEMA.names()), data, check_exact=True)
    assert result.bars["bar_count"].to_list() == [1, 1, 1]
    assert result.bars["partial"].to_list() == [False, False, False]


@pytest.mark.parametrize(
    ("target", "base", "source"),
    [
        ("1m", "5m", None),  # finer than the base
        ("15m", "1h", None),
        ("1d", "1w", None),
        ("5m", "1m", "15m"),  # finer than the rows passed in
        ("1h", "1m", "4h"),
    ],
)
def test_resampling_to_a_finer_timeframe_is_refused(
    target: str, base: str, source: str | None
) -> None:
    data = frame([flat(0)])
    with pytest.raises(QuantrunError) as caught:
        resample(data, target, base_timeframe=base, source_timeframe=source)
    assert caught.value.code == ErrorCode.RESAMPLE_DOWNWARD
    assert isinstance(caught.value, UsageError)
    assert target in caught.value.detail


def test_non_multiple_timeframe_is_refused() -> None:
    seven = Timeframe(7 * MINUTE, "7m")
    with pytest.raises(QuantrunError) as caught:
        resample(frame([flat(0)]), seven, base_timeframe="5m")
    assert caught.value.code == ErrorCode.RESAMPLE_DOWNWARD
    # Same length as 5m but shifted by 30s: boundaries do not fall on the 1m grid.
    shifted = Timeframe(5 * MINUTE, "5m+30s", origin=30_000_000)
    with pytest.raises(QuantrunError) as caught:
        resample(frame([flat(0)]), shifted)
    assert caught.value.code == ErrorCode.RESAMPLE_DOWNWARD


def test_refusal_also_applies_to_empty_input() -> None:
    with pytest.raises(QuantrunError) as caught:
        resample(frame([]), "1m", base_timeframe="1h")
    assert caught.value.code == ErrorCode.RESAMPLE_DOWNWARD


@pytest.mark.parametrize(
    ("timeframe", "base"), [("2h", "1m"), ("1mo", "1m"), ("", "1m"), ("5m", "7m")]
)
def test_unknown_timeframe_name(timeframe: str, base: str) -> None:
    with pytest.raises(QuantrunError) as caught:
        resample(frame([flat(0)]), timeframe, base_timeframe=base)
    assert caught.value.code == ErrorCode.TIMEFRAME_UNKNOWN
    assert isinstance(caught.value, UsageError)


def test_timeframe_names_are_trimmed_and_case_insensitive() -> None:
    data = frame(minutes("2024-01-01T00:00", 60))
    assert_frame_equal(resample(data, " 1H ").bars, resample(data, "1h").bars)


def test_empty_input_gives_empty_output() -> None:
    result = resample(frame([]), "15m")
    assert result.bars.height == 0
    assert result.bars.schema == OUTPUT_SCHEMA
    assert result.dropped_trailing_bars == 0
    assert result.partial_bars == 0
    assert result.summary()["bars"] == 0
    assert result.data_end is None


def test_daily_base_to_weekly() -> None:
    # 2024-01-01 is a Monday. Week 1 complete (7 days), week 2 misses Wednesday but reaches
    # Sunday (kept, partial), week 3 has Mon..Wed only (still open: dropped, 3 base bars).
    days = [dt.date(2024, 1, d) for d in range(1, 18) if d != 10]
    rows = [
        (us(day.isoformat()), float(i + 1), float(i + 2), float(i), float(i + 1.5), 10.0)
        for i, day in enumerate(days)
    ]
    result = resample(frame(rows), "1w", base_timeframe="1d")
    assert labels(result) == [
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 8, tzinfo=dt.UTC),
    ]
    assert result.bars["bar_count"].to_list() == [7, 6]
    assert result.bars["partial"].to_list() == [False, True]
    assert result.bars["open"].to_list() == [1.0, 8.0]
    assert result.bars["high"].to_list() == [8.0, 14.0]
    assert result.bars["low"].to_list() == [0.0, 7.0]
    assert result.bars["close"].to_list() == [7.5, 13.5]
    assert result.bars["volume"].to_list() == [70.0, 60.0]
    assert result.dropped_trailing_bars == 3
    assert result.partial_bars == 1
    assert result.base_timeframe == TIMEFRAMES["1d"]
    assert result.summary()["base_timeframe"] == "1d"


def test_files_read_back_from_parquet_resample_like_one_frame(tmp_path: Path) -> None:
    data = frame(minutes("2024-01-01T00:00", 95, volume=0.1))
    for n, (start, stop) in enumerate([(0, 7), (7, 50), (50, 95)]):
        data.slice(start, stop - start).write_parquet(tmp_path / f"part-{n}.parquet")
    pieces = [pl.read_parquet(p) for p in sorted(tmp_path.glob("part-*.parquet"))]
    assert [p.height for p in pieces] == [7, 43, 45]
    joined = pl.concat(pieces, rechunk=False)
    assert_frame_equal(resample(joined, "15m").bars, resample(data, "15m").bars, check_exact=True)


def test_rules_record_matches_the_implementation() -> None:
    assert AGGREGATION == {
        "open": "first",
        "high": "max",
        "low": "min",
        "close": "last",
        "volume": "sum",
        "bar_count": "sum",
    }
    assert RESAMPLE_RULES["closed"] == "left"
    assert RESAMPLE_RULES["label"] == "bucket-open"
    assert RESAMPLE_RULES["empty_buckets"] == "omitted"
    assert RESAMPLE_RULES["trailing_incomplete_bucket"] == "dropped-and-counted"
    assert list(TIMEFRAMES) == ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"]
    assert TIMEFRAMES["1w"].origin == 4 * DAY
    assert at(TIMEFRAMES["1w"].origin).weekday() == 0  # Monday


# ----------------------------------------------------------------- generated minute data

PROPERTY_TIMEFRAMES = ["5m", "15m", "30m", "1h", "4h", "1d", "1w"]


def _price(rnd: random.Random, ties: bool) -> float:
    """Few distinct small prices (ties) or a price in [1, 1000) with 0..8 decimals."""
    if ties:
        return float(1 + int(rnd.random() * 4))
    return round(1.0 + 999.0 * rnd.random(), int(rnd.random() * 9))


def _volume(rnd: random.Random, exact: bool) -> float:
    draw = rnd.random()
    if draw < 0.1:
        return 0.0
    if exact:
        # Multiples of 1/64 below 2**14: every sum of a few thousand of them is exact.
        return int(draw * 1_000_000) / 64
    return rnd.random() * 10.0 ** int(draw * 10 - 4)


def _next_boundary(minute: int, step: int, origin: int = 0) -> int:
    """The first bucket boundary of ``step`` minutes strictly after ``minute``."""
    return ((minute - origin) // step + 1) * step + origin


@st.composite
def minute_bars(
    draw: st.DrawFn, focus: str = "15m", exact_volume: bool = True, max_runs: int = 6
) -> pl.DataFrame:
    """Sorted, unique, on-grid 1m bars in runs separated by random gaps, with valid OHLCV.

    Gaps and runs are scaled to the ``focus`` timeframe: runs sometimes start on one of its
    boundaries and fill a whole bucket (up to a day), and the data sometimes ends on the last
    minute of a bucket, so complete bars, partial bars, empty buckets and both outcomes of
    the trailing rule all occur.
    """
    bucket = TIMEFRAMES[focus].minutes
    origin = TIMEFRAMES[focus].origin // MINUTE
    minute = draw(st.integers(0, 60_000_000))  # up to ~2084; shrinks towards the epoch
    stamps: list[int] = []
    for run in range(draw(st.integers(0, max_runs))):
        aligned = False
        how = draw(st.integers(0, 3))
        if how >= 2:  # start on the next bucket boundary (after the previous bar)
            minute = _next_boundary(minute - 1 if run == 0 else minute, bucket, origin)
            aligned = True
        elif run:  # a short gap, or one on the scale of the bucket
            minute += draw(st.integers(1, 20) if how == 0 else st.integers(1, 3 * bucket))
        if aligned and draw(st.booleans()):
            length = min(bucket, 1440)
        else:
            length = draw(st.integers(1, 15) | st.integers(1, min(bucket, 240)))
        stamps.extend(range(minute, minute + length))
        minute += length - 1
    if draw(st.booleans()) and stamps:  # end on the last minute of a bucket
        last = _next_boundary(minute, bucket, origin) - 1
        if last > minute:
            stamps.append(last)
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    ties = draw(st.booleans())
    rows: list[Row] = []
    for m in stamps:
        a, b, c, d = (_price(rnd, ties) for _ in range(4))
        rows.append(
            (m * MINUTE, a, max(a, b, c, d), min(a, b, c, d), b, _volume(rnd, exact_volume))
        )
    return frame(rows)


@given(data=minute_bars(exact_volume=False))
@PROPERTY
def test_generated_bars_are_valid_canonical_minutes(data: pl.DataFrame) -> None:
    """The strategy itself: sorted, unique, on-grid, valid OHLC, volume >= 0."""
    ts = data["ts"].to_list()
    assert ts == sorted(set(ts))
    assert all(t % MINUTE == 0 and t >= 0 for t in ts)
    for _, o, h, lo, c, v in data.iter_rows():
        assert 0 < lo <= min(o, c) <= max(o, c) <= h
        assert v >= 0


def ref_bucket(ts: int, name: str) -> int:
    """Bucket open by calendar arithmetic, independent of the epoch formula under test."""
    moment = at(ts)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "1w":
        start = midnight - dt.timedelta(days=moment.weekday())
    elif name == "1d":
        start = midnight
    else:
        step = TIMEFRAMES[name].minutes
        of_day = moment.hour * 60 + moment.minute
        start = midnight + dt.timedelta(minutes=of_day - of_day % step)
    return (start - EPOCH) // dt.timedelta(microseconds=1)


def buckets(data: pl.DataFrame, name: str) -> dict[int, list[tuple[Any, ...]]]:
    """Input rows grouped by reference bucket, in time order."""
    groups: dict[int, list[tuple[Any, ...]]] = {}
    for row in data.iter_rows():
        groups.setdefault(ref_bucket(row[0], name), []).append(row)
    return groups


def trailing_dropped_rows(
    data: pl.DataFrame, name: str, groups: dict[int, list[tuple[Any, ...]]] | None = None
) -> list[tuple[Any, ...]]:
    """The rows of the last bucket if the data stops before that bucket's last minute."""
    if data.height == 0:
        return []
    groups = buckets(data, name) if groups is None else groups
    last_open = max(groups)
    last_minute = last_open + TIMEFRAMES[name].minutes * MINUTE - MINUTE
    return [] if int(data["ts"][-1]) == last_minute else groups[last_open]


def reference(data: pl.DataFrame, name: str) -> tuple[list[OutRow], int]:
    """The expected output rows and dropped trailing count, computed row by row."""
    groups = buckets(data, name)
    dropped = trailing_dropped_rows(data, name, groups)
    if dropped:
        del groups[max(groups)]
    out: list[OutRow] = []
    for start, rows in groups.items():
        out.append(
            (
                start,
                rows[0][1],
                max(r[2] for r in rows),
                min(r[3] for r in rows),
                rows[-1][4],
                sum(r[5] for r in rows),
                len(rows),
                len(rows) < TIMEFRAMES[name].minutes,
            )
        )
    return out, len(dropped)


#: Each property runs once per timeframe (or chain), so every one gets its share of examples.
PER_CASE = settings(PROPERTY, max_examples=20)
each_timeframe = pytest.mark.parametrize("name", PROPERTY_TIMEFRAMES)


@each_timeframe
@given(st_data=st.data())
@PER_CASE
def test_volume_is_conserved(name: str, st_data: st.DataObject) -> None:
    data = st_data.draw(minute_bars(focus=name), label="data")
    result = resample(data, name)
    dropped = trailing_dropped_rows(data, name)
    assert result.dropped_trailing_bars == len(dropped)
    kept_volume = sum(result.bars["volume"].to_list())
    dropped_volume = sum(r[5] for r in dropped)
    assert kept_volume + dropped_volume == sum(data["volume"].to_list())
    assert int(result.bars["bar_count"].sum()) + len(dropped) == data.height


@each_timeframe
@given(st_data=st.data())
@PER_CASE
def test_each_bar_aggregates_exactly_its_bucket(name: str, st_data: st.DataObject) -> None:
    data = st_data.draw(minute_bars(focus=name), label="data")
    result = resample(data, name)
    rows, dropped = reference(data, name)
    assert result.bars.rows() == rows
    assert result.dropped_trailing_bars == dropped
    assert result.partial_bars == sum(1 for row in rows if row[7])
    assert result.bars.schema == OUTPUT_SCHEMA


CHAINS = [
    ("5m", "15m"),
    ("1h", "4h"),
    ("4h", "1d"),
    ("5m", "1h"),
    ("15m", "4h"),
    ("30m", "1d"),
    ("1d", "1w"),
]
each_chain = pytest.mark.parametrize(("middle", "target"), CHAINS)


@each_chain
@given(st_data=st.data())
@PER_CASE
def test_resampling_in_steps_equals_resampling_directly(
    middle: str, target: str, st_data: st.DataObject
) -> None:
    data = st_data.draw(minute_bars(focus=target), label="data")
    direct = resample(data, target)
    first = resample(data, middle)
    second = resample(first.bars, target, source_timeframe=middle, data_end=first.data_end)
    assert_frame_equal(second.bars, direct.bars, check_exact=True)
    assert second.partial_bars == direct.partial_bars
    assert second.base_timeframe == direct.base_timeframe == TIMEFRAMES["1m"]
    # Every base bar left out is left out by exactly one of the two steps.
    assert first.dropped_trailing_bars + second.dropped_trailing_bars == (
        direct.dropped_trailing_bars
    )


@each_chain
@given(st_data=st.data())
@PER_CASE
def test_steps_with_inexact_volumes_differ_only_by_float_rounding(
    middle: str, target: str, st_data: st.DataObject
) -> None:
    """Prices and counts are selections, so exact; float volume sums may round differently."""
    data = st_data.draw(minute_bars(focus=target, exact_volume=False), label="data")
    direct = resample(data, target).bars
    first = resample(data, middle)
    stepped = resample(first.bars, target, source_timeframe=middle, data_end=first.data_end).bars
    assert_frame_equal(stepped.drop("volume"), direct.drop("volume"), check_exact=True)
    assert_frame_equal(
        stepped.select("volume"), direct.select("volume"), check_exact=False, rel_tol=1e-12
    )


@each_timeframe
@given(st_data=st.data())
@PER_CASE
def test_output_does_not_depend_on_how_input_was_split(name: str, st_data: st.DataObject) -> None:
    data = st_data.draw(minute_bars(focus=name, exact_volume=False), label="data")
    cuts = st_data.draw(st.lists(st.integers(0, data.height), max_size=6, unique=True))
    bounds = [0, *sorted(cuts), data.height]
    pieces = [data.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    joined = pl.concat(pieces, rechunk=False)
    assert joined.height == data.height
    whole = resample(data, name)
    split = resample(joined, name)
    # Volumes here are arbitrary floats: equal bit for bit, whatever the chunk layout.
    assert_frame_equal(split.bars, whole.bars, check_exact=True)
    assert split.summary() == whole.summary()
    assert split.data_end == whole.data_end


@each_timeframe
@given(st_data=st.data())
@PER_CASE
def test_labels_never_look_ahead(name: str, st_data: st.DataObject) -> None:
    data = st_data.draw(minute_bars(focus=name), label="data")
    result = resample(data, name)
    out_ts = [int(t) for t in result.bars["ts"]]
    assert all(a < b for a, b in itertools.pairwise(out_ts))
    length = TIMEFRAMES[name].micros
    groups = buckets(data, name)
    for label in out_ts:
        members = [int(r[0]) for r in groups[label]]
        # Labelled by the bucket open: never later than any minute inside it ...
        assert label <= min(members)
        # ... and the bar becomes visible at label + length, after its last minute closed.
        assert max(members) + MINUTE <= label + length
    assert all(ref_bucket(t, name) == t for t in out_ts)


# ------------------------------------------------------------ rules 2: volume in row order


def _big_minutes(rows: int, seed: int = 7) -> pl.DataFrame:
    """``rows`` 1m bars from an on-grid start with inexact volumes (a few missing minutes),
    large enough that polars' group-by splits buckets among threads."""
    rnd = random.Random(seed)
    start = us("2024-01-01T00:00")
    ts = [start + i * MINUTE for i in range(rows) if i % 997 != 5]
    price = [100.0 + (i % 50) / 7 for i in range(len(ts))]
    volume = [round(rnd.lognormvariate(3.0, 1.0), 3) for _ in ts]
    return pl.DataFrame(
        {"ts": ts, "open": price, "high": price, "low": price, "close": price, "volume": volume},
        schema=INPUT_SCHEMA,
    )


@pytest.mark.parametrize("name", ["15m", "4h", "1d", "1w"])
def test_volume_is_its_rows_added_in_row_order(name: str) -> None:
    data = _big_minutes(120_000)
    out = resample(data, name)
    label = TIMEFRAMES[name]
    buckets: dict[int, list[float]] = {}
    for ts, volume in zip(data["ts"].to_list(), data["volume"].to_list(), strict=True):
        buckets.setdefault((ts - label.origin) // label.micros, []).append(volume)
    expected = [sum(values) for values in buckets.values()][: out.bars.height]
    assert out.bars["volume"].to_list() == expected  # exactly: Python adds left to right


_THREADS_CHILD = """
import hashlib, sys
import polars as pl
from quantrun.data.resample import resample
data = pl.read_parquet(sys.argv[1])
for name in ("15m", "4h", "1d"):
    bars = resample(data, name).bars
    print(name, pl.thread_pool_size(), hashlib.sha256(bars.write_ipc(None).getvalue()).hexdigest())
"""


def test_resampled_bars_are_the_same_bits_whatever_the_thread_count(tmp_path: Path) -> None:
    """Rules 2 depend on nothing but the rows: one thread and four give the same bytes, call
    after call (rules 1's group-by sum did not; D52)."""
    import subprocess
    import sys

    source = tmp_path / "minutes.parquet"
    _big_minutes(300_000).write_parquet(source)
    digests = set()
    for threads in ("1", "4", "4"):
        env = dict(os.environ, POLARS_MAX_THREADS=threads)
        done = subprocess.run(
            [sys.executable, "-c", _THREADS_CHILD, str(source)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = done.stdout.split("\n")[:3]
        assert {line.split()[1] for line in lines} == {threads}
        digests.add(tuple(line.split()[2] for line in lines))
    assert len(digests) == 1


def test_rules_1_are_still_followed_when_pinned() -> None:
    data = _big_minutes(20_000)
    old = resample(data, "4h", rules_version=1)
    new = resample(data, "4h")
    assert old.summary()["rules"]["version"] == 1 and "sum_order" not in old.summary()["rules"]
    assert new.summary()["rules"] == RESAMPLE_RULES and RESAMPLE_RULES["version"] == 2
    assert RESAMPLE_RULES["sum_order"] == "row order, from 0.0"
    # Everything but the volume's last bits is the same under both rules.
    assert_frame_equal(old.bars.drop("volume"), new.bars.drop("volume"))
    assert_frame_equal(old.bars.select("volume"), new.bars.select("volume"), rel_tol=1e-12)
    with pytest.raises(QuantrunError) as refused:
        resample(data, "4h", rules_version=3)
    assert refused.value.code == ErrorCode.USAGE_INVALID_OPTION

"""Any market's data (issue 19): pandas exports, session-dated daily bars, exchange calendars.

The fixtures stand in for the sample files a backtesting.py user has (GOOG daily 2004-2013,
EURUSD hourly, BTCUSD daily): they are written by pandas' own ``DataFrame.to_csv()`` from a
``DatetimeIndex``, with dates and holidays spelled out here, so the calendar is checked against
the exchange's real closures rather than against itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from quantrun.api import create_run, ingest_file, inspect_file
from quantrun.cli import main
from quantrun.data.calendar import load_calendar
from quantrun.data.resample import RESAMPLE_RULES, resample
from quantrun.data.timeframe import Timeframe
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings
from test_hostile_inputs import _CELLS, _ingest_or_refuse, mutated_csv

pd: Any = pytest.importorskip("pandas")
pytest.importorskip("exchange_calendars")

HOUR = 3_600_000_000
DAY = 24 * HOUR

#: NYSE closures between 2004-08-19 (GOOG's first day) and the end of 2004: Labor Day,
#: Thanksgiving, and Christmas observed on Friday 24 December (1 January 2005 was a Saturday,
#: which the NYSE does not make up on the Friday before).
NYSE_CLOSED_2004 = {"2004-09-06", "2004-11-25", "2004-12-24"}
#: NYSE closures of 2012: the holidays and the two days of Hurricane Sandy.
NYSE_CLOSED_2012 = {
    "2012-01-02",
    "2012-01-16",
    "2012-02-20",
    "2012-04-06",
    "2012-05-28",
    "2012-07-04",
    "2012-09-03",
    "2012-10-29",
    "2012-10-30",
    "2012-11-22",
    "2012-12-25",
}


def _us(moment: str) -> int:
    """'2004-08-19T00:00' (UTC) in epoch µs."""
    stamp = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    return int((stamp - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))


def weekdays(first: str, last: str, closed: Iterable[str] = ()) -> list[str]:
    """Every Monday-Friday from ``first`` to ``last`` (inclusive) not in ``closed``."""
    day, end, skip = date.fromisoformat(first), date.fromisoformat(last), set(closed)
    days = []
    while day <= end:
        if day.weekday() < 5 and day.isoformat() not in skip:
            days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def ohlcv_frame(index: Any) -> Any:
    """A pandas frame of valid bars on ``index``, as backtesting.py's samples are laid out."""
    i = np.arange(len(index))
    opens = 100.0 + (i * 7 % 13) * 0.5
    closes = opens + ((i * 5 % 7) - 3) * 0.25
    return pd.DataFrame(
        {
            "Open": opens,
            "High": np.maximum(opens, closes) + 1.0,
            "Low": np.minimum(opens, closes) - 1.0,
            "Close": closes,
            "Volume": 1000 + i,
        },
        index=index,
    )


def to_csv(frame: Any, path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, **kwargs)
    return path


@pytest.fixture
def goog(tmp_path: Path) -> Path:
    """GOOG-like daily bars from 2004-08-19 to 2004-12-31 on the NYSE's sessions, written by
    ``DataFrame.to_csv()``: an unnamed first column of dates."""
    days = weekdays("2004-08-19", "2004-12-31", NYSE_CLOSED_2004)
    return to_csv(ohlcv_frame(pd.DatetimeIndex(days)), tmp_path / "GOOG.csv")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# --- pandas exports ------------------------------------------------------------------------


def test_a_pandas_daily_export_is_read_by_its_index_column(goog: Path, settings: Settings) -> None:
    assert _lines(goog)[:2] == [
        ",Open,High,Low,Close,Volume",
        "2004-08-19,100.0,101.0,98.25,99.25,1000",
    ]
    result = ingest_file([str(goog)], settings, timeframe="1d")
    source = result.to_dict()["sources"][0]
    assert source["time_column"] == {"name": "", "column": 1, "rule": "pandas-index"}
    assert result.quality["rows"] == 94
    assert result.quality["first_bar"] == "2004-08-19T00:00:00Z"
    assert result.quality["last_bar"] == "2004-12-31T00:00:00Z"
    # The choice is recorded with the dataset's input files, outside its identity.
    meta = json.loads((result.path / "dataset.json").read_text())
    assert meta["sources"][0]["time_column"]["rule"] == "pandas-index"
    assert "time_column" not in meta["descriptor"]


def test_the_dataset_id_names_the_bars_not_the_layout(
    goog: Path, settings: Settings, tmp_path: Path
) -> None:
    """The same bars under a `date` header with UTC offsets: one dataset."""
    frame = ohlcv_frame(pd.DatetimeIndex(weekdays("2004-08-19", "2004-12-31", NYSE_CLOSED_2004)))
    frame.index = frame.index.tz_localize("UTC")
    labelled = to_csv(
        frame, tmp_path / "named.csv", index_label="date", date_format="%Y-%m-%dT%H:%M:%SZ"
    )
    assert _lines(labelled)[1].startswith("2004-08-19T00:00:00Z,")
    first = ingest_file([str(goog)], settings, timeframe="1d")
    second = ingest_file([str(labelled)], settings, timeframe="1d")
    assert second.dataset_id == first.dataset_id and not second.created
    assert "time_column" not in second.to_dict()["sources"][0]


def test_a_pandas_hourly_fx_export_with_weekend_closures(
    tmp_path: Path, settings: Settings
) -> None:
    """EURUSD-like hourly bars: the market closes Friday 21:00 UTC and reopens Sunday 21:00."""
    hours = pd.date_range("2017-04-19 09:00", "2017-05-05 20:00", freq="h")
    weekend = (
        ((hours.day_of_week == 4) & (hours.hour >= 21))
        | (hours.day_of_week == 5)
        | ((hours.day_of_week == 6) & (hours.hour < 21))
    )
    path = to_csv(ohlcv_frame(hours[~weekend]), tmp_path / "EURUSD.csv")
    assert _lines(path)[1].startswith("2017-04-19 09:00:00,")
    # Naive times: the index column is found, then the zone is asked for, as for any file.
    with pytest.raises(QuantrunError) as refused:
        ingest_file([str(path)], settings, timeframe="1h")
    assert refused.value.code is ErrorCode.CSV_NAIVE_TIMESTAMP
    plain = ingest_file([str(path)], settings, timeframe="1h", timezone="UTC")
    quality = plain.quality
    assert quality["rows"] == len(hours) - 96
    assert (quality["gaps"]["count"], quality["missing_bars"]) == (2, 96)
    assert quality["gaps"]["largest"][0] == {
        "start": "2017-04-21T21:00:00Z",
        "end": "2017-04-23T20:00:00Z",
        "missing_bars": 48,
    }
    # 24/5 sessions run Monday to Friday, 00:00 to 24:00 UTC: the Sunday evening bars fall
    # outside them (3 a week) and the Friday evening hours are missing (3 a week).
    fx = ingest_file([str(path)], settings, timeframe="1h", timezone="UTC", calendar="24/5")
    q = fx.quality
    assert q["outside_sessions"]["count"] == 6
    assert q["outside_sessions"]["first"][:3] == [
        "2017-04-23T21:00:00Z",
        "2017-04-23T22:00:00Z",
        "2017-04-23T23:00:00Z",
    ]
    assert (q["gaps"]["count"], q["missing_bars"]) == (2, 6)
    assert q["present_bars"] == q["rows"] - 6
    assert q["expected_bars"] == q["present_bars"] + 6
    assert fx.dataset_id != plain.dataset_id


@pytest.mark.parametrize("name", ["Unnamed: 0", "index", "INDEX"])
def test_other_names_pandas_gives_its_index(name: str, write_csv: Any, settings: Settings) -> None:
    rows = ["2024-01-02T00:00:00Z,10,11,9,10.5,100", "2024-01-03T00:00:00Z,10.5,12,10,11,200"]
    path = write_csv(rows, header=f"{name},Open,High,Low,Close,Volume")
    result = inspect_file([str(path)], settings, timeframe="1d")
    assert result.error is None
    assert result.sources[0].time_column == {"name": name, "column": 1, "rule": "pandas-index"}


def test_an_unnamed_first_column_that_is_not_a_time_is_refused_as_before(
    write_csv: Any, settings: Settings
) -> None:
    """A RangeIndex (0, 1, 2, ...) with no time column: the same code as before."""
    path = write_csv(
        ["0,10,11,9,10.5,100", "1,10.5,12,10,11,200"], header=",Open,High,Low,Close,Volume"
    )
    with pytest.raises(QuantrunError) as refused:
        inspect_file([str(path)], settings)
    assert refused.value.code is ErrorCode.CSV_MISSING_COLUMN
    assert "missing column(s) ts; header has: , Open, High" in refused.value.detail
    assert "does not hold timestamps" in refused.value.detail


def test_an_index_column_beside_a_date_column_is_ignored(
    write_csv: Any, settings: Settings
) -> None:
    """``reset_index()`` then ``to_csv()``: a RangeIndex first, then the dates, by name."""
    rows = ["0,2024-01-02T00:00:00Z,10,11,9,10.5,100", "1,2024-01-03T00:00:00Z,10.5,12,10,11,200"]
    path = write_csv(rows, header=",Date,Open,High,Low,Close,Volume")
    result = inspect_file([str(path)], settings, timeframe="1d")
    assert result.error is None and result.sources[0].time_column is None


def test_time_column_names_any_column(write_csv: Any, settings: Settings) -> None:
    rows = [
        "2017-04-19 09:00:00,1.07160,1.07220,1.07083,1.07219,1413",
        "2017-04-19 10:00:00,1.07219,1.07300,1.07100,1.07250,900",
    ]
    path = write_csv(rows, header="Gmt time,Open,High,Low,Close,Volume")
    with pytest.raises(QuantrunError) as refused:
        inspect_file([str(path)], settings, timeframe="1h", timezone="UTC")
    assert refused.value.code is ErrorCode.CSV_MISSING_COLUMN
    result = inspect_file(
        [str(path)], settings, timeframe="1h", timezone="UTC", time_column="GMT TIME"
    )
    assert result.error is None
    assert result.sources[0].time_column == {"name": "Gmt time", "column": 1, "rule": "time-column"}
    assert result.quality is not None and result.quality["first_bar"] == "2017-04-19T09:00:00Z"


def test_time_column_wins_over_another_time_alias(write_csv: Any, settings: Settings) -> None:
    rows = ["x,2024-01-02T00:00:00Z,10,11,9,10.5,100", "y,2024-01-03T00:00:00Z,10.5,12,10,11,200"]
    path = write_csv(rows, header="date,stamp,open,high,low,close,volume")
    result = inspect_file([str(path)], settings, timeframe="1d", time_column="stamp")
    assert result.error is None and result.quality is not None
    assert result.quality["rows"] == 2


@pytest.mark.parametrize(
    ("header", "rows", "time_column", "code"),
    [
        ("ts,open,high,low,close,volume", None, "when", ErrorCode.CSV_MISSING_COLUMN),
        ("when,when,open,high,low,close,volume", None, "when", ErrorCode.CSV_AMBIGUOUS_COLUMN),
        ("ts,open,high,low,close,volume", None, "Open", ErrorCode.CSV_AMBIGUOUS_COLUMN),
        (None, ["1704067200000,1,2,0.5,1.5,3"] * 2, "open_time", ErrorCode.CSV_MISSING_COLUMN),
    ],
    ids=["absent", "twice", "a price column", "headerless file"],
)
def test_time_column_refusals(
    header: str | None,
    rows: list[str] | None,
    time_column: str,
    code: ErrorCode,
    write_csv: Any,
    settings: Settings,
) -> None:
    path = write_csv(
        rows or ["2024-01-02T00:00:00Z,2024-01-02T00:00:00Z,1,2,0.5,1.5,3"], header=header
    )
    with pytest.raises(QuantrunError) as refused:
        inspect_file([str(path)], settings, time_column=time_column)
    assert refused.value.code is code


# --- session-dated daily bars --------------------------------------------------------------


def test_session_dates_stay_on_the_day_grid_whatever_the_zone(
    goog: Path, settings: Settings
) -> None:
    """The issue's second refusal: dates in New York were put at 04:00 UTC, off the day grid."""
    result = ingest_file([str(goog)], settings, timeframe="1d", timezone="America/New_York")
    assert result.quality["first_bar"] == "2004-08-19T00:00:00Z"
    assert result.quality["timezone_assumed"] == "America/New_York"
    assert result.to_dict()["sessions"] == {"session_dates": True, "calendar": None}
    meta = json.loads((result.path / "dataset.json").read_text())
    assert meta["descriptor"]["timezone"] == "America/New_York"  # recorded, not applied
    # Without a calendar the data trades around the clock: weekends and holidays are gaps.
    assert result.quality["expected_bars"] == 135
    assert (result.quality["gaps"]["count"], result.quality["missing_bars"]) == (20, 41)


def test_midnights_with_an_offset_are_session_dates_too(
    tmp_path: Path, settings: Settings, goog: Path
) -> None:
    """yfinance's daily index is New York midnight with its offset (-04:00, then -05:00)."""
    days = weekdays("2004-08-19", "2004-12-31", NYSE_CLOSED_2004)
    frame = ohlcv_frame(pd.DatetimeIndex(days).tz_localize("America/New_York"))
    path = to_csv(frame, tmp_path / "yahoo.csv", index_label="Date")
    lines = _lines(path)
    assert lines[1].startswith("2004-08-19 00:00:00-04:00,") and "00:00:00-05:00," in lines[-1]
    aware = ingest_file([str(path)], settings, timeframe="1d")
    plain = ingest_file([str(goog)], settings, timeframe="1d")
    assert aware.dataset_id == plain.dataset_id  # one session, one label: the same bars


def test_intraday_files_still_use_the_zone(write_csv: Any, settings: Settings) -> None:
    rows = ["2024-07-01,1,2,0.5,1.5,3", "2024-07-02,1,2,0.5,1.5,3", "2024-07-03,1,2,0.5,1.5,3"]
    result = inspect_file(
        [str(write_csv(rows))], settings, timeframe="1h", timezone="America/New_York"
    )
    assert result.error is not None and result.error.code is ErrorCode.CSV_TIMEFRAME_MISMATCH
    assert "sessions" not in result.to_dict()


def test_a_utc_daily_file_of_dates_keeps_its_dataset_id(write_csv: Any, settings: Settings) -> None:
    """Dates with --timezone UTC were accepted before session dates: same id, same report bytes
    (pinned from the release before this change)."""
    rows = [
        "2024-01-02,10,11,9,10.5,100",
        "2024-01-03,10.5,12,10,11,200",
        "2024-01-04,11,11.5,10,10.25,0",
        "2024-01-08,10.25,10.5,9.5,10,50",
    ]
    path = write_csv(rows, header="date,open,high,low,close,volume")
    result = ingest_file([str(path)], settings, timeframe="1d", timezone="UTC")
    assert result.dataset_id == "63224fc40cda23d80e96ae2e3265dbed253babd806e6e9a8c7291856bb1f8502"
    import hashlib

    stored = (result.path / "data_quality.json").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == (
        "b2e473ceec31b9682b4cb818b60c97643c93d8c6b959fd11c799c0fb3a4db445"
    )
    assert "sessions" in result.to_dict()  # reported by ingest, never stored


# --- exchange calendars --------------------------------------------------------------------


def test_xnys_calendar_gives_full_coverage_when_no_session_is_missing(
    goog: Path, settings: Settings
) -> None:
    result = ingest_file(
        [str(goog)], settings, timeframe="1d", timezone="America/New_York", calendar="XNYS"
    )
    q = result.quality
    assert (q["expected_bars"], q["present_bars"], q["missing_bars"]) == (94, 94, 0)
    assert q["coverage"] == 1.0
    assert q["gaps"] == {"count": 0, "missing_bars": 0, "largest": [], "cap": 20}
    assert q["outside_sessions"] == {"count": 0, "first": []}
    assert q["calendar"] == {
        "name": "XNYS",
        "library": "exchange-calendars",
        "version": load_calendar("XNYS").version,
    }
    meta = json.loads((result.path / "dataset.json").read_text())
    assert meta["descriptor"]["calendar"] == q["calendar"]
    assert result.to_dict()["quality"]["calendar"] == "XNYS"


def test_a_missing_session_is_exactly_one_gap(
    goog: Path, settings: Settings, tmp_path: Path
) -> None:
    lines = _lines(goog)
    missing = tmp_path / "GOOG-missing.csv"
    missing.write_text(
        "\n".join(line for line in lines if not line.startswith("2004-10-13")) + "\n"
    )
    q = ingest_file(
        [str(missing)], settings, timeframe="1d", timezone="America/New_York", calendar="XNYS"
    ).quality
    assert (q["expected_bars"], q["present_bars"], q["missing_bars"]) == (94, 93, 1)
    assert q["coverage"] == round(93 / 94, 12)
    assert q["gaps"]["count"] == 1
    assert q["gaps"]["largest"] == [
        {"start": "2004-10-13T00:00:00Z", "end": "2004-10-13T00:00:00Z", "missing_bars": 1}
    ]


def test_a_year_of_sessions_with_holidays_and_a_hurricane(
    tmp_path: Path, settings: Settings
) -> None:
    days = weekdays("2012-01-01", "2012-12-31", NYSE_CLOSED_2012)
    assert len(days) == 250
    path = to_csv(ohlcv_frame(pd.DatetimeIndex(days)), tmp_path / "GOOG-2012.csv")
    q = ingest_file([str(path)], settings, timeframe="1d", calendar="XNYS").quality
    assert (q["expected_bars"], q["coverage"], q["gaps"]["count"]) == (250, 1.0, 0)
    # A bar on a closed day (the Monday of the hurricane) is flagged, not refused.
    sandy = tmp_path / "GOOG-2012-sandy.csv"
    text = path.read_text().replace("2012-10-31,", "2012-10-29,10,11,9,10,5\n2012-10-31,")
    sandy.write_text(text)
    flagged = ingest_file([str(sandy)], settings, timeframe="1d", calendar="XNYS").quality
    assert flagged["outside_sessions"] == {"count": 1, "first": ["2012-10-29T00:00:00Z"]}
    assert (flagged["rows"], flagged["present_bars"], flagged["coverage"]) == (251, 250, 1.0)


def test_weekly_bars_expect_weeks_with_a_session(write_csv: Any, settings: Settings) -> None:
    # Mondays of December 2004 and the first one of 2005; the week of 27 December has sessions.
    mondays = ["2004-12-06", "2004-12-13", "2004-12-20", "2005-01-03"]
    rows = [f"{d},10,11,9,10.5,100" for d in mondays]
    q = ingest_file([str(write_csv(rows))], settings, timeframe="1w", calendar="XNYS").quality
    assert (q["expected_bars"], q["missing_bars"]) == (5, 1)
    assert q["gaps"]["largest"][0]["start"] == "2004-12-27T00:00:00Z"


def test_the_calendar_is_part_of_the_dataset_identity(goog: Path, settings: Settings) -> None:
    plain = ingest_file([str(goog)], settings, timeframe="1d")
    xnys = ingest_file([str(goog)], settings, timeframe="1d", calendar="XNYS")
    alias = ingest_file([str(goog)], settings, timeframe="1d", calendar="nyse")
    assert xnys.dataset_id != plain.dataset_id
    assert alias.dataset_id == xnys.dataset_id and not alias.created  # NYSE is XNYS
    plain_meta = json.loads((plain.path / "dataset.json").read_text())
    assert "calendar" not in plain_meta["descriptor"]
    assert "calendar" not in plain.quality and "outside_sessions" not in plain.quality


def test_an_unknown_calendar_is_refused_before_reading(settings: Settings, goog: Path) -> None:
    with pytest.raises(QuantrunError) as refused:
        inspect_file([str(goog)], settings, timeframe="1d", calendar="XNYZ")
    assert refused.value.code is ErrorCode.CALENDAR_UNKNOWN
    assert "XNYS" in refused.value.detail  # a close name
    assert refused.value.exit_code == 2


def test_a_calendar_without_the_library_is_refused(
    settings: Settings, goog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "exchange_calendars", None)  # as if not installed
    with pytest.raises(QuantrunError) as refused:
        ingest_file([str(goog)], settings, timeframe="1d", calendar="XNYS")
    assert refused.value.code is ErrorCode.CALENDAR_UNAVAILABLE
    assert "quantrun[calendars]" in refused.value.hint
    # Without --calendar nothing needs the library.
    assert ingest_file([str(goog)], settings, timeframe="1d").quality["rows"] == 94


# --- intraday bars on the session grid -----------------------------------------------------

#: Thanksgiving week 2004: the NYSE closed on Thursday and closed at 13:00 on Friday.
THANKSGIVING_WEEK = ["2004-11-22", "2004-11-23", "2004-11-24", "2004-11-26"]


def _session_bars(step_minutes: int) -> list[str]:
    """Naive New York open times of every bar of Thanksgiving week 2004 at ``step_minutes``."""
    stamps = []
    for day in THANKSGIVING_WEEK:
        close = (13 if day == "2004-11-26" else 16) * 60
        minute = 9 * 60 + 30
        while minute < close:
            stamps.append(f"{day} {minute // 60:02d}:{minute % 60:02d}:00")
            minute += step_minutes
    return stamps


def _rows(stamps: list[str]) -> list[str]:
    return [
        f"{s},{10 + i % 3},{12 + i % 3},{9 + i % 3},{11 + i % 3},{100 + i}"
        for i, s in enumerate(stamps)
    ]


def test_hourly_bars_open_on_the_session_grid_with_a_calendar(
    write_csv: Any, settings: Settings
) -> None:
    stamps = _session_bars(60)
    assert len(stamps) == 3 * 7 + 4  # 09:30 .. 15:30, and 09:30 .. 12:30 on the short Friday
    path = write_csv(_rows(stamps))
    options: dict[str, Any] = {"timeframe": "1h", "timezone": "America/New_York"}
    utc = inspect_file([str(path)], settings, **options)
    assert utc.error is not None and utc.error.code is ErrorCode.CSV_OFF_GRID
    result = ingest_file([str(path)], settings, calendar="XNYS", **options)
    q = result.quality
    assert (q["expected_bars"], q["present_bars"], q["coverage"]) == (25, 25, 1.0)
    assert q["first_bar"] == "2004-11-22T14:30:00Z"  # 09:30 EST


def test_session_grid_refusals_and_flags(write_csv: Any, settings: Settings) -> None:
    stamps = _session_bars(60)
    options: dict[str, Any] = {
        "timeframe": "1h",
        "timezone": "America/New_York",
        "calendar": "XNYS",
    }
    off = write_csv(_rows([*stamps[:3], "2004-11-22 12:00:00", *stamps[3:]]))
    report = inspect_file([str(off)], settings, **options)
    assert report.error is not None and report.error.code is ErrorCode.CSV_OFF_GRID
    assert "on the sessions of XNYS" in report.error.detail
    early = write_csv(_rows(["2004-11-22 08:30:00", *stamps[1:]]))
    q = ingest_file([str(early)], settings, **options).quality
    # The pre-market bar is flagged; the missing 09:30 bar is a gap.
    assert q["outside_sessions"] == {"count": 1, "first": ["2004-11-22T13:30:00Z"]}
    assert (q["expected_bars"], q["present_bars"], q["gaps"]["count"]) == (25, 24, 1)


def test_a_lunch_break_starts_a_new_grid(write_csv: Any, settings: Settings) -> None:
    """Hong Kong trades 09:30-12:00 and 13:00-16:00: hourly bars at 09:30, 10:30, 11:30
    (half an hour), then 13:00, 14:00, 15:00."""
    times = ["09:30", "10:30", "11:30", "13:00", "14:00", "15:00"]
    stamps = [f"{day} {t}:00" for day in ("2024-03-04", "2024-03-05") for t in times]
    path = write_csv(_rows(stamps))
    q = ingest_file(
        [str(path)], settings, timeframe="1h", timezone="Asia/Hong_Kong", calendar="XHKG"
    ).quality
    assert (q["expected_bars"], q["coverage"]) == (12, 1.0)


# --- resampling by sessions ----------------------------------------------------------------


def _frame(stamps: list[str]) -> pl.DataFrame:
    """Canonical bars at naive New York ``stamps``: price i, volume 1 each."""
    ts = [
        int(pd.Timestamp(s).tz_localize("America/New_York").tz_convert("UTC").value // 1000)
        for s in stamps
    ]
    n = len(ts)
    values = [float(100 + i) for i in range(n)]
    return pl.DataFrame(
        {
            "ts": pl.Series(ts, dtype=pl.Int64),
            "open": values,
            "high": [v + 1 for v in values],
            "low": [v - 1 for v in values],
            "close": values,
            "volume": [1.0] * n,
        }
    )


@pytest.fixture
def sessions() -> Any:
    return load_calendar("XNYS").sessions(_us("2004-11-22T00:00"), _us("2004-11-27T00:00"))


def test_hourly_buckets_open_at_the_session_open(sessions: Any) -> None:
    bars = _frame(_session_bars(30))
    out = resample(bars, "1h", base_timeframe="30m", sessions=sessions)
    monday = out.bars.filter(pl.col("ts") < _us("2004-11-23T00:00"))
    # 09:30 .. 15:30 New York is 14:30 .. 20:30 UTC; the 15:30 bar lasts until the 16:00 close.
    assert monday["ts"].to_list() == [_us("2004-11-22T14:30") + k * HOUR for k in range(7)]
    assert monday["bar_count"].to_list() == [2, 2, 2, 2, 2, 2, 1]
    assert not out.bars["partial"].any()
    assert out.dropped_trailing_bars == 0  # the data runs to Friday's 13:00 close
    summary = out.summary()
    assert summary["rules"]["alignment"].startswith("sessions of XNYS")
    assert summary["rules"]["sessions"] == {"calendar": "XNYS", "version": 1}


def test_daily_and_weekly_buckets_are_sessions(sessions: Any) -> None:
    bars = _frame(_session_bars(30))
    daily = resample(bars, "1d", base_timeframe="30m", sessions=sessions)
    assert daily.bars["ts"].to_list() == [_us(f"{d}T00:00") for d in THANKSGIVING_WEEK]
    assert daily.bars["bar_count"].to_list() == [13, 13, 13, 7]
    assert not daily.bars["partial"].any()
    weekly = resample(bars, "1w", base_timeframe="30m", sessions=sessions)
    assert weekly.bars.select("ts", "bar_count", "partial").rows() == [
        (_us("2004-11-22T00:00"), 46, False)
    ]
    # A week from session-dated daily bars: four sessions make it complete.
    from_days = resample(
        daily.bars.select("ts", "open", "high", "low", "close", "volume"),
        "1w",
        base_timeframe="1d",
        sessions=sessions,
    )
    assert from_days.bars.select("bar_count", "partial").rows() == [(4, False)]


def test_session_buckets_flag_partial_and_drop_the_open_trailing_one(sessions: Any) -> None:
    stamps = [s for s in _session_bars(30) if not s.endswith("10:00:00")]  # one per day missing
    stamps = stamps[:-1]  # the data stops at 12:00 on Friday, before its 13:00 close
    daily = resample(_frame(stamps), "1d", base_timeframe="30m", sessions=sessions)
    assert daily.bars["bar_count"].to_list() == [12, 12, 12]
    assert daily.bars["partial"].to_list() == [True, True, True]
    assert daily.dropped_trailing_bars == 5  # Friday is still open


def test_session_resampling_in_steps_equals_resampling_directly(sessions: Any) -> None:
    bars = _frame(_session_bars(30))
    hourly = resample(bars, "1h", base_timeframe="30m", sessions=sessions)
    stepped = resample(
        hourly.bars,
        "1d",
        base_timeframe="30m",
        source_timeframe="1h",
        data_end=hourly.data_end,
        sessions=sessions,
    )
    direct = resample(bars, "1d", base_timeframe="30m", sessions=sessions)
    assert stepped.bars.equals(direct.bars)


def test_without_sessions_session_grid_bars_are_refused_not_relabelled() -> None:
    hourly = _frame(_session_bars(60))
    with pytest.raises(QuantrunError) as refused:
        resample(hourly, "4h", base_timeframe="1h")
    assert refused.value.code is ErrorCode.RESAMPLE_SESSION_GRID
    assert "2004-11-22T14:30:00Z" in refused.value.detail
    same = resample(hourly, "1h", base_timeframe="1h")  # their own timeframe: left as they are
    assert same.bars["ts"].to_list() == hourly["ts"].to_list()
    assert same.summary()["rules"] == RESAMPLE_RULES


def test_session_slots_are_the_exchange_hours(sessions: Any) -> None:
    assert sessions.name == "XNYS"
    days = sessions.slots(Timeframe.parse("1d"))
    assert _us("2004-11-25T00:00") not in days  # Thanksgiving
    friday = [
        s
        for s in sessions.slots(Timeframe.parse("1h"))
        if _us("2004-11-26T00:00") <= s < _us("2004-11-27T00:00")
    ]
    assert len(friday) == 4 and friday[-1] == _us("2004-11-26T17:30")  # 12:30 EST


# --- the edges -----------------------------------------------------------------------------


def test_a_run_records_the_new_options_only_when_set(goog: Path, settings: Settings) -> None:
    options: dict[str, Any] = {
        "symbol": "GOOG",
        "strategy": "buy_and_hold",
        "timeframe": "1d",
        "base_timeframe": "1d",
        "timezone": "America/New_York",
    }
    plain = create_run([str(goog)], settings, **options)
    assert "calendar" not in plain.manifest.request and "time_column" not in plain.manifest.request
    run = create_run([str(goog)], settings, calendar="XNYS", **options)
    assert run.run_id != plain.run_id
    assert run.manifest.request["calendar"] == "XNYS"
    assert run.manifest.summary.bars == 94
    stored = settings.runs_root / "datasets" / run.manifest.dataset.dataset_id / "dataset.json"
    assert json.loads(stored.read_text())["sources"][0]["time_column"]["rule"] == "pandas-index"


def test_cli_inspect_shows_the_time_column_and_the_sessions(goog: Path, runs_root: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "data",
            "inspect",
            str(goog),
            "--timeframe",
            "1d",
            "--timezone",
            "America/New_York",
            "--calendar",
            "XNYS",
            "--runs-root",
            str(runs_root),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "time column: column 1 (unnamed: a pandas index)" in result.output
    assert "sessions: session dates (bars labelled by their date), calendar XNYS" in result.output
    assert "coverage 100.0000% (94 of 94 expected sessions' bars" in result.output
    unknown = CliRunner().invoke(main, ["data", "inspect", str(goog), "--calendar", "NOPE"])
    assert unknown.exit_code == 2 and "CALENDAR_UNKNOWN" in unknown.stderr


def test_the_preview_api_takes_the_same_options(goog: Path, settings: Settings) -> None:
    from test_web_api import open_client

    with open_client(settings, start_worker=False) as client:
        data = {"timeframe": "1d", "timezone": "America/New_York", "calendar": "XNYS"}
        files = {"file": ("GOOG.csv", goog.read_bytes(), "text/csv")}
        report = client.post("/api/v1/inspect", data=data, files=files).json()
        assert report["valid"] is True
        assert report["sources"][0]["time_column"]["rule"] == "pandas-index"
        assert report["sessions"] == {"session_dates": True, "calendar": "XNYS"}
        assert report["quality"]["coverage"] == 1.0
        unknown = client.post("/api/v1/inspect", data={"calendar": "XNYZ"}, files=files).json()
        assert unknown["error"]["code"] == "CALENDAR_UNKNOWN"


def _brute_force_coverage(
    ts: np.ndarray, every: np.ndarray
) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Expected bars, present ones and the gaps (size, first and last missing open time),
    largest first, from the listed slots."""
    slots = every[(every >= ts[0]) & (every <= ts[-1])]
    present = np.isin(slots, ts)
    gaps, start = [], -1
    for i, here in enumerate([*present, True]):
        if not here and start < 0:
            start = i
        elif here and start >= 0:
            gaps.append((i - start, int(slots[start]), int(slots[i - 1])))
            start = -1
    return int(slots.size), int(present.sum()), sorted(gaps, key=lambda g: (-g[0], g[1]))


@pytest.mark.parametrize("name", ["1h", "30m", "1d", "1w"])
def test_the_report_counts_what_listing_every_expected_bar_counts(name: str) -> None:
    """The report numbers the expected bars instead of listing them (a minute calendar over
    decades is tens of millions of bars); on a small range both agree."""
    from quantrun.data.quality import build_report, iso
    from quantrun.data.validation import Validated

    rng = np.random.default_rng(19)
    tf = Timeframe.parse(name)
    sessions = load_calendar("XHKG").sessions(_us("2024-01-01T00:00"), _us("2024-03-31T00:00"))
    every = sessions.slots(tf)
    for _ in range(20):
        kept = every[rng.random(every.size) < rng.uniform(0.3, 0.95)]
        stray = every[: max(1, every.size // 10)] + tf.micros // 2 if tf.micros < DAY else kept[:0]
        ts = np.unique(np.r_[kept, stray[rng.random(stray.size) < 0.2]]).astype(np.int64)
        n = ts.size
        bars = pl.DataFrame(
            {"ts": ts, "open": [1.0] * n, "high": [1.0] * n, "low": [1.0] * n, "close": [1.0] * n}
        ).with_columns(volume=pl.lit(1.0))
        validated = Validated(None, [], [], {}, 0, 0, sessions=sessions)
        report = build_report(bars, validated, {"timezone": None}, tf)
        expected, present, gaps = _brute_force_coverage(ts, every)
        assert (report["expected_bars"], report["present_bars"]) == (expected, present)
        assert report["gaps"]["count"] == len(gaps)
        assert report["gaps"]["missing_bars"] == sum(g[0] for g in gaps)
        assert report["gaps"]["largest"] == [
            {"start": iso(s), "end": iso(e), "missing_bars": size} for size, s, e in gaps[:20]
        ]
        assert report["outside_sessions"]["count"] == int((~np.isin(ts, every)).sum())


# --- fuzzing: with the new options, a file is stored or refused with a catalogue code -------

_PANDAS_SEEDS = [
    b",Open,High,Low,Close,Volume\n"
    + b"".join(f"2004-08-{d},10,11,9,10.5,{d}\n".encode() for d in range(19, 31)),
    b"Unnamed: 0,Open,High,Low,Close,Volume\n"
    + b"".join(f"2004-11-22 {h:02d}:30:00,10,11,9,10.5,{h}\n".encode() for h in range(9, 16)),
    b"Date,Open,High,Low,Close,Volume\n"
    + b"".join(f"2004-08-{d} 00:00:00-04:00,10,11,9,10.5,1\n".encode() for d in range(19, 31)),
]


@st.composite
def pandas_like_csv(draw: st.DrawFn) -> bytes:
    """A pandas-style export with a few cells replaced by hostile ones."""
    lines = draw(st.sampled_from(_PANDAS_SEEDS)).split(b"\n")
    for _ in range(draw(st.integers(0, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        cells = lines[index].split(b",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(_CELLS)
        lines[index] = b",".join(cells)
    return b"\n".join(lines)


_MARKET_OPTIONS = st.fixed_dictionaries(
    {
        "timeframe": st.sampled_from(["1m", "1h", "1d", "1w"]),
        "timezone": st.sampled_from([None, "America/New_York", "UTC"]),
        "calendar": st.sampled_from([None, "XNYS", "XHKG", "24/5"]),
        "time_column": st.sampled_from([None, None, "Date", ""]),
    }
)


@fuzz_settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.one_of(pandas_like_csv(), mutated_csv()), options=_MARKET_OPTIONS)
def test_fuzz_market_options(data: bytes, options: dict[str, object]) -> None:
    _ingest_or_refuse(data, options)


def test_dates_the_calendar_does_not_cover_are_refused(write_csv: Any, settings: Settings) -> None:
    rows = ["2060-01-05,10,11,9,10.5,100", "2060-01-06,10.5,12,10,11,200"]
    with pytest.raises(QuantrunError) as refused:
        ingest_file([str(write_csv(rows))], settings, timeframe="1d", calendar="XHKG")
    assert refused.value.code is ErrorCode.CALENDAR_OUT_OF_RANGE
    assert "only recorded to the year 2049" in refused.value.detail
    assert refused.value.exit_code == 3


def test_sessions_that_do_not_cover_the_bars_are_refused() -> None:
    later = load_calendar("XNYS").sessions(_us("2005-06-01T00:00"), _us("2005-06-30T00:00"))
    with pytest.raises(QuantrunError) as refused:
        resample(_frame(_session_bars(30)), "1h", base_timeframe="30m", sessions=later)
    assert refused.value.code is ErrorCode.USAGE_INVALID_OPTION
    assert "do not cover the bars" in refused.value.detail


def test_a_stored_dataset_gives_back_its_sessions(goog: Path, settings: Settings) -> None:
    from quantrun.data.calendar import recorded_sessions

    stored = ingest_file([str(goog)], settings, timeframe="1d", calendar="XNYS")
    bars = stored.inspection.bars
    assert bars is not None
    ts = bars["ts"].to_numpy()
    sessions = recorded_sessions(stored.quality["calendar"], ts)
    assert sessions is not None and sessions.covers(int(ts[0]), int(ts[-1]))
    weekly = resample(bars, "1w", base_timeframe="1d", sessions=sessions)
    assert weekly.bars["partial"].sum() == 1  # only the first week, which starts on a Thursday
    assert recorded_sessions(None, ts) is None
    moved = stored.quality["calendar"] | {"version": "0.0.1"}
    with pytest.raises(QuantrunError) as refused:
        recorded_sessions(moved, ts)
    assert refused.value.code is ErrorCode.CALENDAR_UNAVAILABLE
    assert "0.0.1" in refused.value.detail


def test_a_run_on_session_bars_resamples_by_the_sessions(
    write_csv: Any, settings: Settings
) -> None:
    """Issue 19: hourly NYSE bars opening at 09:30 (on the session grid) run on daily bars: one
    bar per session, labelled by the session, the rules recorded in the run's manifest."""
    path = write_csv(_rows(_session_bars(60)))
    options: dict[str, Any] = {"timezone": "America/New_York", "calendar": "XNYS"}
    run = create_run(
        [str(path)],
        settings,
        symbol="XYZ",
        strategy="buy_and_hold",
        timeframe="1d",
        base_timeframe="1h",
        **options,
    )
    resampling = run.manifest.resampling
    assert resampling.bars == 4  # Thanksgiving week: Mon, Tue, Wed and the half day Friday
    assert resampling.rules["sessions"]["calendar"] == "XNYS"
    assert run.manifest.summary.first_bar == "2004-11-22T00:00:00Z"

"""Exchange calendars: the sessions a market trades, so that its closed days are not gaps.

``--calendar XNYS`` names a calendar of the optional ``exchange-calendars`` library (the
``calendars`` extra); it is imported here only, and only when a calendar is named. A
:class:`Calendar` knows its canonical name and the library's version (both part of the
dataset's identity); :meth:`Calendar.sessions` gives the :class:`Sessions` between two times as
plain int64 arrays, so validation, the quality report and resampling never touch pandas::

    sessions = load_calendar("XNYS").sessions(first_ts, last_ts)
    sessions.slots(Timeframe.parse("1d"))     # every session, as its date at 00:00 UTC

Which bars an exchange's data is expected to have (:meth:`Sessions.slots`):

- ``1d``: one bar per session, labelled by the session's date at 00:00 UTC (a session-dated
  daily file, docs/formats.md);
- ``1w``: one bar per week holding a session, labelled Monday 00:00 UTC (the usual ``1w`` grid);
- intraday: bars from each trading phase's start (the open, and the end of a lunch break) every
  timeframe while the phase lasts: ``1h`` bars of XNYS open at 09:30, 10:30, ... 15:30 New York
  time, the last one half an hour long.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from quantrun.data.timeframe import TIMEFRAMES, Timeframe
from quantrun.errors import ErrorCode, error

#: The library behind ``--calendar`` (module name) and its distribution (for the version).
LIBRARY = "exchange_calendars"
DISTRIBUTION = "exchange-calendars"
_DAY = 86_400_000_000
_WEEK = TIMEFRAMES["1w"]
#: Days of schedule fetched beyond the data on each side (a bar before the first session's
#: open still needs the session before it to find its grid).
_MARGIN_DAYS = 7
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The library builds its schedules with pandas calls that pandas 3 deprecates; the warnings are
# silenced around those calls only, and one build at a time (warning filters are process-wide).
_BUILD_LOCK = threading.Lock()


def _library() -> Any:
    try:
        return importlib.import_module(LIBRARY)
    except ImportError:
        raise error(
            ErrorCode.CALENDAR_UNAVAILABLE,
            f"--calendar needs the {DISTRIBUTION} library, which is not installed",
        ) from None


@dataclass(frozen=True)
class Calendar:
    """An exchange calendar: its canonical name and the library version that defines it."""

    name: str
    version: str

    def record(self) -> dict[str, str]:
        """What a dataset descriptor and its quality report record of the calendar."""
        return {"name": self.name, "library": DISTRIBUTION, "version": self.version}

    def sessions(self, first_micros: int, last_micros: int) -> Sessions:
        """The sessions around ``first_micros`` .. ``last_micros`` (epoch µs, UTC)."""
        start = _day(first_micros) - timedelta(days=_MARGIN_DAYS)
        end = _day(last_micros) + timedelta(days=_MARGIN_DAYS)
        return _sessions(self.name, start, end)


def load_calendar(name: str) -> Calendar:
    """The calendar ``name`` names: exactly, case-insensitively, or through the library's
    aliases (``NYSE`` is ``XNYS``); CALENDAR_UNKNOWN otherwise, CALENDAR_UNAVAILABLE without
    the library."""
    library = _library()
    names: list[str] = sorted(library.get_calendar_names(include_aliases=True))
    wanted = name.strip()
    match = next((n for n in names if n == wanted), None)
    if match is None:
        folded = [n for n in names if n.casefold() == wanted.casefold()]
        match = folded[0] if len(folded) == 1 else None
    if match is None:
        close = difflib.get_close_matches(wanted.upper(), names, n=4, cutoff=0.6)
        shown = f"; did you mean {', '.join(close)}?" if close else ""
        raise error(
            ErrorCode.CALENDAR_UNKNOWN,
            f"unknown exchange calendar {wanted[:40]!r}{shown} ({len(names)} calendars, e.g. "
            "XNYS, XLON, XTKS, 24/5)",
        )
    canonical: str = library.resolve_alias(match)
    return Calendar(canonical, importlib.metadata.version(DISTRIBUTION))


def recorded_sessions(record: dict[str, Any] | None, ts: np.ndarray) -> Sessions | None:
    """The sessions a stored dataset was measured against, around its bars' open times
    ``ts``: ``record`` is the ``calendar`` of its descriptor or quality report (None: no
    calendar, so None). The installed library must be the version recorded, since another
    release may move a holiday (CALENDAR_UNAVAILABLE otherwise). For a run that resamples by
    sessions: ``resample(bars, tf, sessions=recorded_sessions(quality.get("calendar"), ts))``.
    """
    if record is None or not ts.size:
        return None
    calendar = load_calendar(str(record["name"]))
    if calendar.version != record["version"]:
        raise error(
            ErrorCode.CALENDAR_UNAVAILABLE,
            f"the dataset was measured against {calendar.name} of {DISTRIBUTION} "
            f"{record['version']}, but {calendar.version} is installed",
            hint=f"Install {DISTRIBUTION}=={record['version']} (the lock file pins it).",
        )
    return calendar.sessions(int(ts[0]), int(ts[-1]))


def _day(micros: int) -> date:
    return (_EPOCH + timedelta(microseconds=int(micros))).date()


@functools.lru_cache(maxsize=8)
def _sessions(name: str, start: date, end: date) -> Sessions:
    library = _library()
    pd: Any = importlib.import_module("pandas")  # installed with the library

    quiet = tuple(
        getattr(pd.errors, kind)
        for kind in ("PandasChangeWarning", "PandasDeprecationWarning")
        if hasattr(pd.errors, kind)
    ) or (FutureWarning,)
    with _BUILD_LOCK, warnings.catch_warnings():
        for kind in quiet:
            warnings.filterwarnings("ignore", category=kind)
        try:
            schedule = library.get_calendar(name, start=start.isoformat(), end=end.isoformat())
            frame = schedule.schedule
        except (ValueError, library.errors.CalendarError) as exc:
            raise error(
                ErrorCode.CALENDAR_OUT_OF_RANGE,
                f"calendar {name} has no sessions for {start} .. {end}: {str(exc)[:200]}",
            ) from None

        def micros(column: Any) -> np.ndarray:
            index = pd.DatetimeIndex(column)
            values: np.ndarray = index.as_unit("us").asi8.copy()
            values[index.isna()] = -1
            return values

        dates = micros(frame.index)
        opens = micros(frame["open"])
        closes = micros(frame["close"])
        break_starts = micros(frame["break_start"])
        break_ends = micros(frame["break_end"])
    return Sessions(name, dates, opens, closes, break_starts, break_ends)


@dataclass(frozen=True, eq=False)
class SlotIndex:
    """Expected bars in runs: run ``i`` holds ``counts[i]`` bars ``step`` apart from
    ``starts[i]``; the runs are disjoint and in time order. Bars are numbered 0, 1, ... across
    the runs, so a gap is a jump in the numbers of consecutive bars."""

    starts: np.ndarray
    counts: np.ndarray
    step: int

    @functools.cached_property
    def first(self) -> np.ndarray:
        """The number of each run's first bar."""
        first: np.ndarray = np.cumsum(self.counts) - self.counts
        return first

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def index_of(self, ts: np.ndarray) -> np.ndarray:
        """Each time's bar number, or -1 for a time that is not an expected bar's open."""
        run = np.searchsorted(self.starts, ts, side="right") - 1
        safe = np.maximum(run, 0)
        offset = ts - self.starts[safe]
        k = offset // self.step
        ok = (run >= 0) & (offset % self.step == 0) & (k < self.counts[safe])
        found: np.ndarray = np.where(ok, self.first[safe] + k, -1)
        return found

    def rank(self, moment: int) -> int:
        """How many expected bars open before ``moment``."""
        run = int(np.searchsorted(self.starts, moment, side="right")) - 1
        if run < 0:
            return 0
        ahead = -((self.starts[run] - moment) // self.step)  # bars opening before moment
        return int(self.first[run] + min(int(self.counts[run]), int(ahead)))

    def time_of(self, numbers: np.ndarray) -> np.ndarray:
        """The open time of each bar number."""
        run = np.searchsorted(self.first, numbers, side="right") - 1
        times: np.ndarray = self.starts[run] + (numbers - self.first[run]) * self.step
        return times


@dataclass(frozen=True, eq=False)
class Sessions:
    """A calendar's sessions in a date range, as epoch-µs int64 arrays (one row per session).

    ``dates`` is each session's date at 00:00 UTC; ``break_starts``/``break_ends`` are -1 for a
    session without a break. A trading *phase* is the part of a session between its open (or
    the end of its break) and its close (or the start of its break).
    """

    name: str
    dates: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    break_starts: np.ndarray
    break_ends: np.ndarray

    def covers(self, first: int, last: int) -> bool:
        """Whether the sessions span the times ``first`` .. ``last`` (from the first session's
        date to the day after the last one's)."""
        return bool(self.dates.size) and self.dates[0] <= first and last < self.dates[-1] + _DAY

    @functools.cached_property
    def phases(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(starts, ends, session index) of every trading phase, in time order."""
        has_break = self.break_starts >= 0
        index = np.arange(self.dates.size)
        starts = np.concatenate([self.opens, self.break_ends[has_break]])
        ends = np.concatenate(
            [np.where(has_break, self.break_starts, self.closes), self.closes[has_break]]
        )
        sessions = np.concatenate([index, index[has_break]])
        order = np.argsort(starts, kind="stable")
        return starts[order], ends[order], sessions[order]

    def _phase_of(self, ts: np.ndarray) -> np.ndarray:
        """The latest phase starting at or before each time (0 before the first one)."""
        starts = self.phases[0]
        found: np.ndarray = np.maximum(np.searchsorted(starts, ts, side="right") - 1, 0)
        return found

    def on_grid(self, ts: np.ndarray, tf: Timeframe) -> np.ndarray:
        """Whether each intraday bar opens on its sessions' grid: a whole number of bars after
        the start of the latest trading phase (outside the sessions too, so pre- and
        after-market bars continue the last phase's grid)."""
        anchor = self.phases[0][self._phase_of(ts)]
        on: np.ndarray = (ts - anchor) % tf.micros == 0
        return on

    def slot_index(self, tf: Timeframe) -> SlotIndex:
        """The bars the sessions expect at ``tf``, numbered in time order (never listed: a
        minute calendar over decades would be tens of millions of them)."""
        if tf.micros == _DAY:
            return SlotIndex(self.dates, np.ones(self.dates.size, dtype=np.int64), _DAY)
        if tf.micros > _DAY:
            weeks = np.unique(
                (self.dates - _WEEK.origin) // _WEEK.micros * _WEEK.micros + _WEEK.origin
            )
            return SlotIndex(weeks, np.ones(weeks.size, dtype=np.int64), _WEEK.micros)
        starts, ends, _ = self.phases
        counts = np.maximum(-((starts - ends) // tf.micros), 0)  # a short last bar counts
        return SlotIndex(starts, counts, tf.micros)

    def slots(self, tf: Timeframe) -> np.ndarray:
        """Every bar the sessions expect at ``tf``: sorted open times (for small ranges)."""
        index = self.slot_index(tf)
        return index.time_of(np.arange(index.total))

    def buckets(
        self, ts: np.ndarray, target: Timeframe, source: Timeframe, base: Timeframe
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each row (open times ``ts`` of ``source`` bars, built from ``base`` bars): the
        open time of its ``target`` bucket, the bucket's close and how many base bars fill it.

        Intraday targets are cut from each trading phase, from its start, and end at the
        phase's end at the latest (outside the sessions a bucket is a whole bar long). ``1d``
        is a session (rows from one open to the next, so after-market bars join their day),
        labelled by its date at 00:00 UTC; ``1w`` groups sessions by the Monday of their date.
        Daily rows (session-dated bars) are read by their date.
        """
        if source.micros >= _DAY:
            session = np.searchsorted(self.dates, ts, side="right") - 1
        else:
            session = np.searchsorted(self.opens, ts, side="right") - 1
        session = np.clip(session, 0, self.dates.size - 1)
        if target.micros < _DAY:
            starts, ends, _ = self.phases
            phase = self._phase_of(ts)
            start, end = starts[phase], ends[phase]
            label = start + (ts - start) // target.micros * target.micros
            # A bucket ends with its phase; outside the sessions it is a whole bar long.
            inside = (ts >= start) & (ts < end)
            full = label + target.micros
            close = np.where(inside, np.minimum(full, end), full)
            expected = -((label - close) // base.micros)
            return label, close, expected
        per_session = self._base_bars_per_session(base)
        if target.micros == _DAY:
            return self.dates[session], self.closes[session], per_session[session]
        week = (self.dates - _WEEK.origin) // _WEEK.micros * _WEEK.micros + _WEEK.origin
        starts_of_weeks, first_session, inverse = np.unique(
            week, return_index=True, return_inverse=True
        )
        totals = np.bincount(inverse, weights=per_session).astype(np.int64)
        last_session = np.r_[first_session[1:], week.size] - 1
        w = inverse[session]
        return starts_of_weeks[w], self.closes[last_session][w], totals[w]

    def _base_bars_per_session(self, base: Timeframe) -> np.ndarray:
        if base.micros >= _DAY:
            return np.ones(self.dates.size, dtype=np.int64)
        starts, ends, session = self.phases
        per_phase = -((starts - ends) // base.micros)
        counts: np.ndarray = np.bincount(
            session, weights=per_phase, minlength=self.dates.size
        ).astype(np.int64)
        return counts

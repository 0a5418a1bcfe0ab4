"""Timeframes: the declared table of bar lengths quantrun understands.

Buckets are aligned to the Unix epoch in UTC, except weekly bars, which open on Monday
00:00 UTC (the epoch fell on a Thursday; see docs/resampling.md)::

    Timeframe.parse("4h").micros == 4 * 3_600_000_000
"""

from __future__ import annotations

from dataclasses import dataclass

from quantrun.errors import ErrorCode, error

MICROS_PER_MINUTE = 60_000_000
_DAY = 1440 * MICROS_PER_MINUTE


@dataclass(frozen=True, order=True)
class Timeframe:
    micros: int
    name: str
    #: Shift of bucket boundaries from the epoch, in microseconds.
    origin: int = 0

    @classmethod
    def parse(cls, name: str) -> Timeframe:
        try:
            return TIMEFRAMES[name.strip().lower()]
        except KeyError:
            raise error(
                ErrorCode.TIMEFRAME_UNKNOWN,
                f"unknown timeframe {name!r}; known: {', '.join(TIMEFRAMES)}",
            ) from None

    @property
    def minutes(self) -> int:
        return self.micros // MICROS_PER_MINUTE

    def bucket_start(self, ts_micros: int) -> int:
        return (ts_micros - self.origin) // self.micros * self.micros + self.origin

    def is_multiple_of(self, base: Timeframe) -> bool:
        return self.micros % base.micros == 0 and (self.origin - base.origin) % base.micros == 0

    def __str__(self) -> str:
        return self.name


def _tf(name: str, minutes: int, origin: int = 0) -> Timeframe:
    return Timeframe(minutes * MICROS_PER_MINUTE, name, origin)


#: name -> Timeframe. Weekly buckets open on Monday: the epoch + 4 days.
TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        _tf("1m", 1),
        _tf("5m", 5),
        _tf("15m", 15),
        _tf("30m", 30),
        _tf("1h", 60),
        _tf("4h", 240),
        _tf("1d", 1440),
        _tf("1w", 7 * 1440, origin=4 * _DAY),
    )
}

BASE_TIMEFRAME = TIMEFRAMES["1m"]

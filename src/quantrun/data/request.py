"""The ingest request: what to read and how. Light on purpose (no polars): the CLI derives
its options from these models at import time.

:class:`InputOptions` (dialect, time zone, repairs) is shared by ``data ingest|inspect`` and
by a run (:class:`~quantrun.runs.request.RunCreateRequest` inherits it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from quantrun.data.dialect import Format
from quantrun.data.timeframe import TIMEFRAMES, Timeframe
from quantrun.errors import ErrorCode, error
from quantrun.fields import Edge

if TYPE_CHECKING:
    from quantrun.data.validation import ValidationOptions

__all__ = ["IngestRequest", "InputOptions", "check_symbol"]

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$")


def check_symbol(symbol: str) -> None:
    """Refuse a symbol that is not 1-32 plain characters."""
    if not _SYMBOL.match(symbol):
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"invalid symbol {symbol[:40]!r}",
            hint="Use 1-32 letters, digits or . _ : / - (e.g. BTCUSDT, ES.F, EUR/USD).",
        )


def _timeframe_names() -> list[str]:
    return list(TIMEFRAMES)


class InputOptions(BaseModel):
    """How to read the input files: the same options for `data ingest|inspect` and for a run
    (:class:`~quantrun.runs.request.RunCreateRequest` inherits them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Format = Field(
        default=Format.AUTO,
        description="CSV dialect: a generic header CSV or a Binance kline export.",
    )
    timezone: str | None = Field(
        default=None, description="IANA zone of naive timestamps, recorded."
    )
    sort: bool = Field(default=False, description="Sort rows by time (repair, recorded).")
    drop_exact_duplicates: bool = Field(
        default=False, description="Drop rows repeated exactly (repair, recorded)."
    )
    time_column: str | None = Field(
        default=None,
        description="The column holding the bar times, when its name is not one quantrun "
        "knows (ts, time, date, ...); an unnamed first column (a pandas index) is found alone.",
    )
    calendar: str | None = Field(
        default=None,
        description="Exchange calendar (e.g. XNYS; the `calendars` extra): the expected bars "
        "are its sessions, so closed days are not gaps; recorded in the dataset's identity.",
    )

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {f.value for f in Format}:
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"unknown format {value[:40]!r}; use {', '.join(f.value for f in Format)}",
            )
        return value


class IngestRequest(InputOptions):
    """What to read and how. ``paths`` are concatenated in order."""

    paths: Annotated[
        list[str],
        Edge(argument=True, web=False, why="the web takes the file itself as an upload"),
    ] = Field(description="CSV file(s), concatenated in order.")
    symbol: str | None = Field(default=None, description="Instrument name, e.g. BTCUSDT.")
    timeframe: Annotated[str, Edge(choices=_timeframe_names)] = Field(
        default="1m",
        description="The file's own bar length (coarser bases can only be resampled upward).",
    )

    def checked(self) -> tuple[Timeframe, ValidationOptions]:
        """The timeframe and the validation options; a usage error for a bad choice."""
        from quantrun.data.timestamps import check_timezone
        from quantrun.data.validation import ValidationOptions

        if not self.paths:
            raise error(ErrorCode.USAGE_INVALID_OPTION, "no input file given")
        if self.symbol is not None:
            check_symbol(self.symbol)
        if self.timezone is not None:
            check_timezone(self.timezone)
        if self.time_column is not None and not self.time_column.strip():
            raise error(ErrorCode.USAGE_INVALID_OPTION, "--time-column is empty")
        tf = Timeframe.parse(self.timeframe)
        calendar = None
        if self.calendar is not None:
            from quantrun.data.calendar import load_calendar

            calendar = load_calendar(self.calendar)
        options = ValidationOptions(
            timeframe=tf,
            timezone=self.timezone,
            sort=self.sort,
            drop_exact_duplicates=self.drop_exact_duplicates,
            calendar=calendar,
        )
        return tf, options

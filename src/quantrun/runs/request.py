"""``RunCreateRequest``: the contract of run creation, the same for CLI, API and web.

Everything a run depends on is here; :meth:`RunCreateRequest.resolve` validates it against the
registries (strategy, params, risk level, costs, timeframe, window) before any data is read, so
a bad request fails fast and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quantrun.data.dialect import Format
from quantrun.data.ingest import check_symbol
from quantrun.data.timeframe import Timeframe
from quantrun.data.timestamps import check_timezone
from quantrun.engine.risk import (
    Costs,
    RiskConfig,
    costs_from,
    risk_from_file,
    risk_from_level,
    risk_from_mapping,
)
from quantrun.errors import ErrorCode, error
from quantrun.strategies.base import StrategyParams
from quantrun.strategies.registry import get, parse_params


class RunCreateRequest(BaseModel):
    """A request to create one run. ``paths`` are recorded as given, outside the identity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paths: list[str] = Field(min_length=1, description="CSV file(s), concatenated in order.")
    labels: list[str] | None = Field(
        default=None,
        description="What to record as each input's path in the manifest (e.g. an upload's "
        "original file name); defaults to the paths as given.",
    )
    symbol: str = Field(description="Instrument name, e.g. BTCUSDT.")
    timeframe: str = Field(default="15m", description="Bar length the strategy runs on.")
    strategy: str = Field(description="Registered strategy id.")
    params: dict[str, Any] = Field(default_factory=dict, description="Strategy parameters.")
    risk: str | None = Field(default="moderate", description="Named risk level.")
    risk_config: dict[str, Any] | None = Field(
        default=None,
        description="Custom risk config (the fields of a risk file); overrides `risk`.",
    )
    risk_file: str | None = Field(default=None, description="Path of a JSON risk file.")
    commission_bps: float | None = Field(default=None, description="Commission per fill, bps.")
    slippage_bps: float | None = Field(default=None, description="Slippage per fill, bps.")
    cash: float | None = Field(default=None, description="Initial cash.")
    start: str | None = Field(default=None, description="First bar open included (ISO-8601).")
    end: str | None = Field(default=None, description="Bars opening at or after this are excluded.")
    base_timeframe: str = Field(default="1m", description="The input file's own bar length.")
    format: Format = Field(default=Format.AUTO, description="CSV dialect.")
    timezone: str | None = Field(default=None, description="Zone of naive timestamps.")
    sort: bool = Field(default=False, description="Repair: sort rows by time (recorded).")
    drop_exact_duplicates: bool = Field(default=False, description="Repair: drop exact duplicates.")

    def resolve(self) -> ResolvedRequest:
        """Check every choice against its registry; raise a usage error naming the first bad one."""
        timeframe = Timeframe.parse(self.timeframe)
        base = Timeframe.parse(self.base_timeframe)
        if not timeframe.is_multiple_of(base):
            raise error(
                ErrorCode.RESAMPLE_DOWNWARD,
                f"cannot run on {timeframe.name} bars from {base.name} data",
            )
        check_symbol(self.symbol)
        get(self.strategy)
        params = parse_params(self.strategy, self.params)
        if self.risk_config is not None:
            risk, level = risk_from_mapping(self.risk_config), None
        elif self.risk_file is not None:
            risk, level = risk_from_file(Path(self.risk_file)), None
        else:
            level = self.risk or "moderate"
            risk = risk_from_level(level)
        costs = costs_from(
            commission_bps=self.commission_bps,
            slippage_bps=self.slippage_bps,
            initial_cash=self.cash,
        )
        if self.timezone is not None:
            check_timezone(self.timezone)
        start = _parse_bound(self.start, "start")
        end = _parse_bound(self.end, "end")
        if start is not None and end is not None and start >= end:
            raise error(
                ErrorCode.RUN_WINDOW_INVALID, f"start {self.start} is not before end {self.end}"
            )
        return ResolvedRequest(self, timeframe, base, params, risk, level, costs, start, end)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_bound(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise error(ErrorCode.RUN_WINDOW_INVALID, f"--{name} {value!r} is not ISO-8601") from None
    if moment.tzinfo is None:
        raise error(
            ErrorCode.RUN_WINDOW_INVALID, f"--{name} {value!r} has no offset; add Z or +HH:MM"
        )
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class ResolvedRequest:
    request: RunCreateRequest
    timeframe: Timeframe
    base_timeframe: Timeframe
    params: StrategyParams
    risk: RiskConfig
    risk_level: str | None
    costs: Costs
    start_micros: int | None
    end_micros: int | None

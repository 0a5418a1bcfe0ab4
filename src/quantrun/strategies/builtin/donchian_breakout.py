"""donchian_breakout: trade closes outside the channel of the previous bars' highs and lows."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from quantrun.strategies.base import Signals, Strategy, StrategyParams, hold_sides
from quantrun.strategies.registry import register


def _previous(rolled: pl.Series) -> np.ndarray:
    """``rolled`` moved one bar later, so bar i sees the window ending at bar i-1."""
    out = np.full(rolled.len(), np.nan)
    out[1:] = np.asarray(rolled.to_numpy(), dtype=np.float64)[:-1]
    return out


def highest_before(values: np.ndarray, window: int) -> np.ndarray:
    """max(values[i-window : i]), the current bar excluded; NaN for i < window."""
    return _previous(pl.Series(values).rolling_max(window_size=window, min_samples=window))


def lowest_before(values: np.ndarray, window: int) -> np.ndarray:
    """min(values[i-window : i]), the current bar excluded; NaN for i < window."""
    return _previous(pl.Series(values).rolling_min(window_size=window, min_samples=window))


class DonchianBreakoutParams(StrategyParams):
    entry: int = Field(
        20, ge=2, le=10_000, description="Bars in the breakout (entry) channel, current excluded."
    )
    exit: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Bars in the exit channel, current excluded (<= entry).",
    )

    @model_validator(mode="after")
    def _exit_within_entry(self) -> DonchianBreakoutParams:
        if self.exit > self.entry:
            raise ValueError(f"exit ({self.exit}) must not exceed entry ({self.entry})")
        return self


@register
class DonchianBreakout(Strategy):
    """Turtle-style channel breakout on closes.

    With upper_entry[i] = max(high[i-entry .. i-1]), lower_entry[i] = min(low[i-entry .. i-1])
    and upper_exit / lower_exit the same over the previous ``exit`` bars (bar i itself is never
    in its channel):

    - long after a bar with close > upper_entry; it stays long until a bar with
      close < lower_exit (then flat) or a short entry;
    - short (flat if shorting is not allowed) after a bar with close < lower_entry; it stays
      short until a bar with close > upper_exit (then flat) or a long entry.

    Flat before the first breakout; nothing can happen before bar ``entry``.
    """

    id = "donchian_breakout"
    version = "1"
    description = (
        "Long after a close above the highest high of the previous `entry` bars, flat after a "
        "close below the lowest low of the previous `exit` bars; short side mirrored."
    )
    Params = DonchianBreakoutParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: DonchianBreakoutParams) -> Signals:
        high = np.asarray(bars["high"].to_numpy(), dtype=np.float64)
        low = np.asarray(bars["low"].to_numpy(), dtype=np.float64)
        close = np.asarray(bars["close"].to_numpy(), dtype=np.float64)
        upper_entry = highest_before(high, params.entry)
        lower_entry = lowest_before(low, params.entry)
        upper_exit = highest_before(high, params.exit)
        lower_exit = lowest_before(low, params.exit)
        with np.errstate(invalid="ignore"):  # NaN channels compare False: no event.
            target = hold_sides(
                long_entry=close > upper_entry,
                long_exit=close < lower_exit,
                short_entry=close < lower_entry,
                short_exit=close > upper_exit,
            )
        return Signals(
            target,
            {
                "upper_entry": upper_entry,
                "lower_entry": lower_entry,
                "upper_exit": upper_exit,
                "lower_exit": lower_exit,
            },
        )

"""sma_crossover: act on crosses of a fast and a slow simple moving average of the close."""

from __future__ import annotations

import polars as pl
from pydantic import Field, model_validator

from quantrun.strategies.base import (
    Signals,
    Strategy,
    StrategyParams,
    crosses_above,
    hold_between,
    sma,
)
from quantrun.strategies.registry import register


class SmaCrossoverParams(StrategyParams):
    fast: int = Field(10, ge=1, le=10_000, description="Bars in the fast SMA.")
    slow: int = Field(30, ge=2, le=100_000, description="Bars in the slow SMA (> fast).")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossoverParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


@register
class SmaCrossover(Strategy):
    id = "sma_crossover"
    version = "1"
    description = (
        "Long after the fast SMA crosses above the slow one, flat (or short, if the risk "
        "config allows) after it crosses below."
    )
    Params = SmaCrossoverParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: SmaCrossoverParams) -> Signals:
        close = bars["close"].to_numpy()
        fast = sma(close, params.fast)
        slow = sma(close, params.slow)
        up = crosses_above(fast, slow)
        down = crosses_above(slow, fast)
        target = hold_between(enter=up, leave=down, short=down)
        return Signals(target, {"sma_fast": fast, "sma_slow": slow})

"""sma_crossover: act on crosses of a fast and a slow simple moving average of the close.

Version 1 compares float SMAs (a cross at an exact tie is decided by rounding, D21); version 2
decides every cross exactly on the decimal prices (D33). Both stay registered.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field, model_validator

from quantrun.strategies.base import (
    Signals,
    Strategy,
    StrategyParams,
    TieRuleParams,
    crosses_above,
    hold_between,
    sma,
)
from quantrun.strategies.exact import (
    crossed_above,
    crossed_below,
    price_ticks,
    sma_order,
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


class SmaCrossoverV2Params(TieRuleParams, SmaCrossoverParams):
    """Version 2's parameters: version 1's and ``ties``."""


@register
class SmaCrossoverV2(Strategy):
    """Version 2: the crosses are decided exactly (decision D33).

    The SMAs are compared as integers, ``slow * sum_fast - fast * sum_slow`` over the closes'
    decimal ticks, so an exact tie is a tie; ``ties`` says whether passing through one is a
    cross. Version 1 stays registered: its runs re-run bit for bit.
    """

    id = "sma_crossover"
    version = "2"
    description = (
        "Long after the fast SMA crosses above the slow one, flat (or short, if the risk "
        "config allows) after it crosses below; crosses decided exactly on the decimal prices."
    )
    Params = SmaCrossoverV2Params

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: SmaCrossoverV2Params) -> Signals:
        ticks = price_ticks(bars["close"].to_numpy())
        close = ticks.columns[0]
        order = sma_order(close, params.fast, close, params.slow)
        up = crossed_above(order, params.ties)
        down = crossed_below(order, params.ties)
        target = hold_between(enter=up, leave=down, short=down)
        indicators = {"sma_fast": ticks.sma(0, params.fast), "sma_slow": ticks.sma(0, params.slow)}
        return Signals(target, indicators)

"""buy_and_hold: long from the first bar's close to the end."""

from __future__ import annotations

import numpy as np
import polars as pl

from quantrun.strategies.base import NoParams, Signals, Strategy
from quantrun.strategies.registry import register


@register
class BuyAndHold(Strategy):
    id = "buy_and_hold"
    version = "1"
    description = (
        "Buy at the open after the first bar and hold to the end (stops, targets and the "
        "drawdown halt of the risk level still apply)."
    )
    Params = NoParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: NoParams) -> Signals:
        return Signals(np.ones(bars.height, dtype=np.int8))

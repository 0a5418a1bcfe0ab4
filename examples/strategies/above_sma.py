"""Above its SMA: a complete strategy of your own, ready for `quantrun strategies add`.

Long while the close is above its simple moving average, flat otherwise. The comparison is
exact on the prices' decimals (``sma_order`` on ``price_ticks``), so a close exactly on its SMA
is a tie and counts as "not above", whatever the float rounding of the mean.

    quantrun strategies check examples/strategies/above_sma.py
    quantrun strategies add examples/strategies/above_sma.py

The rules the checker holds a strategy to (docs/strategies.md): ``id``, ``version`` and
``description`` set on the class; ``Params`` a frozen pydantic model (subclass
``StrategyParams``) with a default and both bounds for every number; ``signals`` a classmethod
returning one int8 target in {-1, 0, +1} per bar and float64 indicators, NaN while they warm
up; bar *i* decided on bars 0..*i* only; the same bars give the same signals.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from quantrun.strategies.base import Signals, Strategy, StrategyParams, price_ticks, sma_order


class AboveSmaParams(StrategyParams):
    """Frozen, unknown names refused (from StrategyParams); every number bounded."""

    period: int = Field(50, ge=2, le=10_000, description="Bars in the SMA of the close.")


class AboveSma(Strategy):
    """Long while the close is above SMA(close, period), flat otherwise."""

    id = "above_sma"
    version = "1"
    description = "Long while the close is above its SMA(close, period), flat otherwise."
    Params = AboveSmaParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: AboveSmaParams) -> Signals:
        ticks = price_ticks(bars["close"].to_numpy())
        close = ticks.columns[0]
        # sign(close - SMA) per bar, exact; NaN (never above) until `period` bars have closed.
        order = sma_order(close, 1, close, params.period)
        target = (order > 0).astype(np.int8)
        # The SMA shown in the decision records: the exact window sum divided once; NaN
        # until its window is full.
        return Signals(target, {"sma": ticks.sma(0, params.period)})

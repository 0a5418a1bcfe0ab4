"""bollinger_reversion: fade closes that leave the Bollinger bands, exit at the middle."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from quantrun.strategies.base import (
    Signals,
    Strategy,
    StrategyParams,
    crosses_above,
    crosses_below,
    hold_sides,
    sma,
)
from quantrun.strategies.registry import register


def rolling_pstd(values: np.ndarray, period: int) -> np.ndarray:
    """Population (ddof=0) standard deviation over the last ``period`` bars; NaN until full."""
    out = pl.Series(values).rolling_std(window_size=period, min_samples=period, ddof=0)
    return np.asarray(out.to_numpy(), dtype=np.float64)


class BollingerReversionParams(StrategyParams):
    period: int = Field(
        20, ge=2, le=10_000, description="Bars in the middle SMA and in the deviation."
    )
    k: float = Field(
        2.0, gt=0, le=10, description="Band half-width in population standard deviations."
    )


@register
class BollingerReversion(Strategy):
    """Mean reversion at the Bollinger bands.

    bb_middle = SMA(close, period); bb_upper / bb_lower = bb_middle +/- k * sigma, where sigma
    is the *population* standard deviation (ddof=0, as in Bollinger's definition and TA-Lib)
    of the same ``period`` closes. Crosses compare bar i with bar i-1:

    - long after close crosses below bb_lower (close[i] < lower[i], close[i-1] >= lower[i-1]),
      held until close crosses above bb_middle (then flat) or a short entry;
    - short (flat if shorting is not allowed) after close crosses above bb_upper, held until
      close crosses below bb_middle (then flat) or a long entry.

    Flat before the first entry; nothing can happen before bar ``period``.
    """

    id = "bollinger_reversion"
    version = "1"
    description = (
        "Long after the close crosses below the lower Bollinger band (population std), short "
        "after it crosses above the upper one; flat when it crosses back over the middle SMA."
    )
    Params = BollingerReversionParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: BollingerReversionParams) -> Signals:
        close = np.asarray(bars["close"].to_numpy(), dtype=np.float64)
        middle = sma(close, params.period)
        width = params.k * rolling_pstd(close, params.period)
        upper = middle + width
        lower = middle - width
        target = hold_sides(
            long_entry=crosses_below(close, lower),
            long_exit=crosses_above(close, middle),
            short_entry=crosses_above(close, upper),
            short_exit=crosses_below(close, middle),
        )
        return Signals(target, {"bb_middle": middle, "bb_upper": upper, "bb_lower": lower})

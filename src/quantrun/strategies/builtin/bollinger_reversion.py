"""bollinger_reversion: fade closes that leave the Bollinger bands, exit at the middle."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from quantrun.strategies.base import (
    Signals,
    Strategy,
    StrategyParams,
    TieRuleParams,
    crosses_above,
    crosses_below,
    hold_sides,
    sma,
)
from quantrun.strategies.exact import (
    band_order,
    price_ticks,
)
from quantrun.strategies.exact import crossed_above as crossed_above_exact
from quantrun.strategies.exact import crossed_below as crossed_below_exact
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


class BollingerReversionV2Params(TieRuleParams, BollingerReversionParams):
    """Version 2's parameters: version 1's and ``ties``."""


@register
class BollingerReversionV2(Strategy):
    """Version 2: every band test is decided exactly (decision D33).

    The close is placed against each band with integer arithmetic on its decimal ticks
    (:func:`quantrun.strategies.exact.band_order`; ``k`` is read as the decimal it is written
    as), and crosses follow ``ties``. Rules, indicators and precedence are those of version 1,
    which stays registered.
    """

    id = "bollinger_reversion"
    version = "2"
    description = (
        "Long after the close crosses below the lower Bollinger band (population std), short "
        "after it crosses above the upper one; flat when it crosses back over the middle SMA; "
        "band tests decided exactly on the decimal prices."
    )
    Params = BollingerReversionV2Params

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: BollingerReversionV2Params) -> Signals:
        ticks = price_ticks(bars["close"].to_numpy())
        bands = band_order(ticks.columns[0], params.period, params.k)
        target = hold_sides(
            long_entry=crossed_below_exact(bands.lower, params.ties),
            long_exit=crossed_above_exact(bands.middle, params.ties),
            short_entry=crossed_above_exact(bands.upper, params.ties),
            short_exit=crossed_below_exact(bands.middle, params.ties),
        )
        close = np.asarray(bars["close"].to_numpy(), dtype=np.float64)
        middle = ticks.sma(0, params.period)
        width = params.k * rolling_pstd(close, params.period)
        indicators = {"bb_middle": middle, "bb_upper": middle + width, "bb_lower": middle - width}
        return Signals(target, indicators)

"""rsi_reversion: trade the RSI leaving its oversold / overbought zones."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from quantrun.strategies.base import (
    Signals,
    Strategy,
    StrategyParams,
    TieRuleParams,
    crosses_above,
    crosses_below,
    hold_between,
)
from quantrun.strategies.exact import crossed_above as crossed_above_exact
from quantrun.strategies.exact import crossed_below as crossed_below_exact
from quantrun.strategies.exact import price_ticks, rsi_orders
from quantrun.strategies.registry import register


def wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI of ``close``, the TA-Lib way.

    With changes d[i] = close[i] - close[i-1], gain = max(d, 0) and loss = max(-d, 0), the
    average gain and loss are Wilder's RMA (an exponential average with alpha = 1/period):
    seeded at bar ``period`` with the simple mean of the first ``period`` changes (bars 1 ..
    period), then avg[i] = avg[i-1] + (x[i] - avg[i-1]) / period.
    RSI = 100 * avg_gain / (avg_gain + avg_loss), which is 100 - 100 / (1 + RS); it is 50 when
    both averages are 0 (no movement at all; TA-Lib outputs 0 there). NaN before bar ``period``.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
    change = np.diff(close)  # change[j] is d[j + 1]
    gain = np.maximum(change, 0.0)
    loss = np.maximum(-change, 0.0)
    averages = []
    for x in (gain, loss):
        # Series for bars period .. n-1: the seed, then the raw values it is smoothed with.
        seeded = np.concatenate(([x[:period].mean()], x[period:]))
        smoothed = pl.Series(seeded).ewm_mean(alpha=1.0 / period, adjust=False).to_numpy()
        averages.append(np.asarray(smoothed, dtype=np.float64))
    avg_gain, avg_loss = averages
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out[period:] = np.where(total > 0.0, 100.0 * avg_gain / total, 50.0)
    return out


class RsiReversionParams(StrategyParams):
    period: int = Field(14, ge=2, le=1000, description="Bars in Wilder's RSI.")
    lower: float = Field(
        30.0, gt=0, lt=100, description="Oversold level: long when the RSI rises through it."
    )
    upper: float = Field(
        70.0,
        gt=0,
        lt=100,
        description="Overbought level (> lower): short or flat when the RSI falls through it.",
    )

    @model_validator(mode="after")
    def _lower_below_upper(self) -> RsiReversionParams:
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        return self


@register
class RsiReversion(Strategy):
    """Mean reversion on Wilder's RSI (see :func:`wilder_rsi`).

    Long after the bar where the RSI crosses up through ``lower`` (rsi[i-1] <= lower and
    rsi[i] > lower: the oversold move is exhausted). Short (flat if shorting is not allowed)
    after the bar where it crosses down through ``upper`` (rsi[i-1] >= upper and
    rsi[i] < upper). The position is held until the opposite cross; before the first cross it
    is 0. No cross can happen before bar period + 1.
    """

    id = "rsi_reversion"
    version = "1"
    description = (
        "Long after Wilder's RSI crosses up through `lower`, short (or flat, if the risk "
        "config forbids shorting) after it crosses down through `upper`; held until the "
        "opposite cross."
    )
    Params = RsiReversionParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: RsiReversionParams) -> Signals:
        close = np.asarray(bars["close"].to_numpy(), dtype=np.float64)
        rsi = wilder_rsi(close, params.period)
        up = crosses_above(rsi, np.full(rsi.shape[0], params.lower))
        down = crosses_below(rsi, np.full(rsi.shape[0], params.upper))
        target = hold_between(enter=up, leave=down, short=down)
        return Signals(target, {"rsi": rsi})


class RsiReversionV2Params(TieRuleParams, RsiReversionParams):
    """Version 2's parameters: version 1's and ``ties``."""


@register
class RsiReversionV2(Strategy):
    """Version 2: the level tests no longer depend on the last bit of the RSI (decision D33).

    Whether the RSI is above, at or below a level is decided by
    :func:`quantrun.strategies.exact.rsi_orders` (one Wilder average of integer ticks with a
    proven rounding bound; a level written as a decimal is read as that decimal), and crosses
    follow ``ties``. Rules and the ``rsi`` indicator are those of version 1, which stays
    registered.
    """

    id = "rsi_reversion"
    version = "2"
    description = (
        "Long after Wilder's RSI crosses up through `lower`, short (or flat, if the risk "
        "config forbids shorting) after it crosses down through `upper`; held until the "
        "opposite cross; level tests independent of float rounding."
    )
    Params = RsiReversionV2Params

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: RsiReversionV2Params) -> Signals:
        close = np.asarray(bars["close"].to_numpy(), dtype=np.float64)
        ticks = price_ticks(close).columns[0]
        lower, upper = rsi_orders(ticks, params.period, [params.lower, params.upper])
        up = crossed_above_exact(lower, params.ties)
        down = crossed_below_exact(upper, params.ties)
        target = hold_between(enter=up, leave=down, short=down)
        return Signals(target, {"rsi": wilder_rsi(close, params.period)})

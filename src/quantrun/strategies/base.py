"""What a strategy is: an id, a version, a parameter model and a vectorised signal function.

A strategy sees closed bars only. ``signals`` returns, for every bar *i*, the position it wants
to hold **after bar i has closed** (-1 short, 0 flat, +1 long); the engine turns a change into
an order that fills at the open of bar *i + 1*. Indicator arrays (NaN while warming up) are
returned beside the target so each decision record can show the values behind it.

Exact signals (decision D33): :func:`price_ticks` reads the prices as the decimals they stand
for, :func:`sma_order`, :func:`band_order` and :func:`rsi_order` compare indicators built from
them without float rounding, and :func:`crossed_above` / :func:`crossed_below` turn such an
order into crosses under an explicit tie rule (``"strict"`` or ``"inclusive"``). They live in
:mod:`quantrun.strategies.exact` and are re-exported here for strategies of your own.
:func:`crosses_above` / :func:`crosses_below` are version-1 float helpers, kept for the runs
that used them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from quantrun.strategies.exact import (
    TIE_RULES,
    BandOrders,
    PriceTicks,
    TieRule,
    band_order,
    crossed_above,
    crossed_below,
    decimal_places,
    price_ticks,
    rolling_sum,
    rsi_order,
    rsi_orders,
    sma_order,
    value_order,
)

__all__ = [
    "TIE_RULES",
    "BandOrders",
    "NoParams",
    "PriceTicks",
    "Signals",
    "Strategy",
    "StrategyParams",
    "TieRule",
    "TieRuleParams",
    "band_order",
    "crossed_above",
    "crossed_below",
    "crosses_above",
    "crosses_below",
    "decimal_places",
    "hold_between",
    "hold_sides",
    "price_ticks",
    "rolling_sum",
    "rsi_order",
    "rsi_orders",
    "sma",
    "sma_order",
    "value_order",
]


class StrategyParams(BaseModel):
    """Base of every parameter model: immutable, unknown names rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NoParams(StrategyParams):
    """For strategies without parameters."""


class TieRuleParams(StrategyParams):
    """The ``ties`` parameter of a strategy that acts on crosses. List it first among the bases
    (``class MyParams(TieRuleParams, OtherParams)``) so that it comes last in the parameters."""

    ties: TieRule = Field(
        "strict",
        description="strict: passing through an exact tie is no cross (backtesting.py); "
        "inclusive: it is, on the bar that leaves the tie (vectorbt).",
    )


@dataclass(frozen=True)
class Signals:
    """``target`` is int8 in {-1, 0, +1}, one per bar; ``indicators`` are float64, one per bar."""

    target: np.ndarray
    indicators: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.target.shape[0]
        if self.target.dtype != np.int8:
            raise TypeError("target must be int8")
        for name, values in self.indicators.items():
            if values.shape != (n,) or values.dtype != np.float64:
                raise TypeError(f"indicator {name!r} must be float64 with one value per bar")


class Strategy:
    """Subclass, set the class attributes, implement :meth:`signals`, decorate with
    :func:`quantrun.strategies.registry.register`."""

    id: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[StrategyParams]] = NoParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: Any) -> Signals:
        """Targets for every bar of ``bars`` (columns ts, open, high, low, close, volume)."""
        raise NotImplementedError


def hold_between(
    enter: np.ndarray, leave: np.ndarray, short: np.ndarray | None = None
) -> np.ndarray:
    """Turn event masks into a held target, vectorised.

    Each event bar sets the state it names (``enter`` +1, ``short`` -1, ``leave`` 0) and the
    state is carried forward to the next event; bars before the first event hold 0. When masks
    fire together, ``enter`` wins over ``short``, and both over ``leave``.
    """
    state = np.zeros(enter.shape[0], dtype=np.int8)  # a leave event's state, 0, already
    if short is not None:
        state[short] = -1
    state[enter] = 1
    event = leave | enter if short is None else leave | short | enter
    # Carry each event's state forward: every bar reads the state of the last event at or
    # before it; bars before the first event read bar 0, which holds 0 unless it is one.
    last = np.maximum.accumulate(np.where(event, np.arange(event.shape[0]), 0))
    held: np.ndarray = state[last]
    return held


def crosses_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True on bar i when a[i-1] <= b[i-1] and a[i] > b[i] (NaN never crosses).

    The version-1 rule on floats: a tie in the prices' decimals may land on either side of it
    after rounding. New strategies use :func:`sma_order` and :func:`crossed_above`.
    """
    out = np.zeros(a.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[:-1] <= b[:-1]) & (a[1:] > b[1:])
    return out


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average over the last ``period`` closed bars; NaN until full."""
    out: np.ndarray = (
        pl.Series(values).rolling_mean(window_size=period, min_samples=period).to_numpy()
    )
    return out.astype(np.float64)


def crosses_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True on bar i when a[i-1] >= b[i-1] and a[i] < b[i] (NaN never crosses)."""
    return crosses_above(b, a)


def hold_sides(
    long_entry: np.ndarray,
    long_exit: np.ndarray,
    short_entry: np.ndarray,
    short_exit: np.ndarray,
) -> np.ndarray:
    """Held target from per-side entry and exit masks, vectorised.

    An entry sets the position (+1 or -1) and it is held until either the exit of *that* side
    (then 0) or an entry of the other side. An exit of the side not held does nothing. On one
    bar an entry wins over any exit, and ``long_entry`` wins over ``short_entry``, as in
    :func:`hold_between`. Bars before the first entry hold 0.
    """
    n = long_entry.shape[0]
    idx = np.arange(n)
    side = np.where(long_entry, 1, np.where(short_entry, -1, 0)).astype(np.int8)
    # Index of the latest entry / exit at or before each bar (-1: none yet).
    last_entry = np.maximum.accumulate(np.where(long_entry | short_entry, idx, -1))
    last_long_exit = np.maximum.accumulate(np.where(long_exit, idx, -1))
    last_short_exit = np.maximum.accumulate(np.where(short_exit, idx, -1))
    held = np.where(last_entry >= 0, side[np.maximum(last_entry, 0)], 0).astype(np.int8)
    closed = ((held == 1) & (last_long_exit > last_entry)) | (
        (held == -1) & (last_short_exit > last_entry)
    )
    out: np.ndarray = np.where(closed, 0, held).astype(np.int8)
    return out

"""What a strategy is: an id, a version, a parameter model and a vectorised signal function.

A strategy sees closed bars only. ``signals`` returns, for every bar *i*, the position it wants
to hold **after bar i has closed** (-1 short, 0 flat, +1 long); the engine turns a change into
an order that fills at the open of bar *i + 1*. Indicator arrays (NaN while warming up) are
returned beside the target so each decision record can show the values behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict


class StrategyParams(BaseModel):
    """Base of every parameter model: immutable, unknown names rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NoParams(StrategyParams):
    """For strategies without parameters."""


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
    state = np.full(enter.shape[0], np.nan)
    state[leave] = 0.0
    if short is not None:
        state[short] = -1.0
    state[enter] = 1.0
    filled = pl.Series(state).fill_nan(None).forward_fill().fill_null(0.0).to_numpy()
    return filled.astype(np.int8)


def crosses_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True on bar i when a[i-1] <= b[i-1] and a[i] > b[i] (NaN never crosses)."""
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

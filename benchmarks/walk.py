"""The benchmarks' shared synthetic data: one seeded 1-minute random walk."""

from __future__ import annotations

import numpy as np
import polars as pl

SEED = 20_240_101
START_US = 1_599_999_960_000_000  # 2020-09-13T12:26:00Z, on the minute grid


def random_walk(rows: int, seed: int = SEED) -> pl.DataFrame:
    """Canonical 1m bars (``ts`` epoch µs UTC): a seeded log random walk on a 4-decimal grid.

    Rounding is monotone and open/close are already on the grid, so
    low <= min(open, close) <= max(open, close) <= high holds for every bar.
    """
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, rows))), 4)
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.exp(np.abs(rng.normal(0.0, 5e-4, (2, rows))))
    high = np.round(np.maximum(open_, close) * wick[0], 4)
    low = np.round(np.minimum(open_, close) / wick[1], 4)
    volume = np.round(rng.exponential(25.0, rows), 4)
    ts = START_US + 60_000_000 * np.arange(rows, dtype=np.int64)
    frame = {"ts": ts, "open": open_, "high": high, "low": low, "close": close}
    return pl.DataFrame(frame | {"volume": volume})

"""The embedded demo dataset: deterministic synthetic 1-minute bars written as a CSV.

A seeded geometric random walk with intraday volatility, one three-hour outage (a gap the
quality report must find) and a handful of zero-volume minutes. Same seed, same bytes::

    write_demo_csv(Path("demo.csv"))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

DEMO_SYMBOL = "DEMOUSD"
DEMO_SEED = 20240101
DEMO_START_MICROS = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
DEMO_DAYS = 30
DEMO_OUTAGE = (10 * 1440 + 600, 10 * 1440 + 780)  # minutes [start, end): a 3-hour gap


def demo_bars(days: int = DEMO_DAYS, seed: int = DEMO_SEED) -> pl.DataFrame:
    """Canonical demo bars (ts epoch µs UTC), including the outage gap."""
    rng = np.random.default_rng(seed)
    minutes = days * 1440
    t = np.arange(minutes)
    # Volatility is higher in the "US session" hours, as in real crypto data.
    hour = (t // 60) % 24
    sigma = np.where((hour >= 13) & (hour < 21), 9e-4, 5e-4)
    drift = 2e-6 * np.sin(t / (1440 * 7) * 2 * np.pi)
    log_close = np.log(42_000.0) + np.cumsum(drift + sigma * rng.standard_normal(minutes))
    close = np.exp(log_close)
    open_ = np.r_[close[0] * (1 - 1e-4), close[:-1]]
    wick = np.abs(rng.standard_normal((2, minutes))) * sigma * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.gamma(2.0, 3.5, minutes) * (1.0 + ((hour >= 13) & (hour < 21)))
    volume[rng.choice(minutes, 12, replace=False)] = 0.0
    keep = (t < DEMO_OUTAGE[0]) | (t >= DEMO_OUTAGE[1])
    frame = pl.DataFrame(
        {
            "ts": DEMO_START_MICROS + t * 60_000_000,
            "open": np.round(open_, 2),
            "high": np.round(high, 2),
            "low": np.round(low, 2),
            "close": np.round(close, 2),
            "volume": np.round(volume, 4),
        }
    ).filter(pl.Series(keep))
    # Rounding can push open/close past a wick by a cent; widen the wick, never the body.
    return frame.with_columns(
        high=pl.max_horizontal("open", "high", "close"),
        low=pl.min_horizontal("open", "low", "close"),
    )


def write_demo_csv(path: Path, days: int = DEMO_DAYS, seed: int = DEMO_SEED) -> Path:
    """Write the demo bars as a generic CSV with ISO-8601 UTC timestamps."""
    frame = demo_bars(days, seed).select(
        pl.col("ts").cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("time"),
        "open",
        "high",
        "low",
        "close",
        "volume",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path, float_precision=None, line_terminator="\n")
    return path

"""Decoding the kernel's event and trade rows into decision records and a trade list."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from quantrun.engine.codes import ACTIONS, EXIT_OPEN, EXIT_REASONS, REASONS

RECORD_COLUMNS = [
    "seq",
    "bar",
    "ts",
    "action",
    "reason",
    "price",
    "quantity",
    "position_before",
    "position_after",
    "equity_before",
    "equity_after",
    "commission",
    "indicators",
]


def _labels(codes: np.ndarray, table: dict[int, str]) -> pl.Series:
    lookup = np.array([table.get(i, "unknown") for i in range(max(table) + 1)], dtype=object)
    return pl.Series(lookup[codes.astype(np.int64)], dtype=pl.String)


def decode_records(
    events: tuple[np.ndarray, ...], ts: np.ndarray, indicators: dict[str, np.ndarray]
) -> pl.DataFrame:
    """One row per event, in the order the kernel wrote them (which is time order)."""
    bar, action, reason, price, qty, pos_b, pos_a, eq_b, eq_a, fee = events
    frame = pl.DataFrame(
        {
            "seq": np.arange(1, bar.size + 1, dtype=np.int64),
            "bar": bar,
            "ts": ts[bar] if bar.size else np.empty(0, dtype=np.int64),
            "action": _labels(action, ACTIONS),
            "reason": _labels(reason, REASONS),
            "price": price,
            "quantity": qty,
            "position_before": pos_b,
            "position_after": pos_a,
            "equity_before": eq_b,
            "equity_after": eq_a,
            "commission": fee,
        }
    )
    values: dict[str, Any] = {
        name: pl.Series(series[bar] if bar.size else np.empty(0)).fill_nan(None)
        for name, series in sorted(indicators.items())
    }
    if values:
        frame = frame.with_columns(pl.struct(**values).alias("indicators"))
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Struct({})).alias("indicators"))
    return frame.select(RECORD_COLUMNS)


def decode_trades(
    trades: tuple[np.ndarray, ...], ts: np.ndarray, close: np.ndarray
) -> pl.DataFrame:
    """The trade list. A trade still open at the end is marked to the last close."""
    entry_bar, exit_bar, direction, qty, entry_price, exit_price, entry_fee, exit_fee, why = trades
    is_open = exit_bar < 0
    last = close[-1] if close.size else np.nan
    mark = np.where(is_open, last, exit_price)
    gross = direction * (mark - entry_price) * qty
    pnl = gross - entry_fee - exit_fee
    notional = entry_price * qty
    frame = pl.DataFrame(
        {
            "trade": np.arange(1, entry_bar.size + 1, dtype=np.int64),
            "status": np.where(is_open, "open", "closed"),
            "direction": np.where(direction > 0, "long", "short"),
            "entry_bar": entry_bar,
            "exit_bar": pl.Series(exit_bar).set(pl.Series(is_open), None)
            if entry_bar.size
            else pl.Series([], dtype=pl.Int64),
            "entry_ts": ts[entry_bar] if entry_bar.size else np.empty(0, dtype=np.int64),
            "exit_ts": pl.Series(
                np.where(is_open, 0, ts[np.maximum(exit_bar, 0)])
                if entry_bar.size
                else np.empty(0, dtype=np.int64)
            ).set(pl.Series(is_open), None),
            "quantity": qty,
            "entry_price": entry_price,
            "exit_price": pl.Series(mark),
            "pnl": pnl,
            "return": np.divide(pnl, notional, out=np.zeros_like(pnl), where=notional != 0),
            "commission": entry_fee + exit_fee,
            "exit_reason": _labels(np.where(is_open, EXIT_OPEN, why), EXIT_REASONS),
            "bars_held": np.where(is_open, close.size - 1, exit_bar) - entry_bar,
        },
        strict=False,
    )
    return frame

"""The floor: the least any tool must do to turn the CSV into a backtest result.

Run as a child of ``bench_suite.py`` in a fresh process::

    .venv/bin/python benchmarks/floor_loop.py CSV TIMEFRAME_MINUTES

It imports only numpy, numba and pyarrow, reads the file with a bare ``pyarrow.csv.read_csv``
and runs one cached numba loop (``cache=True``) with the same semantics and arithmetic as
quantrun's kernel for sma_crossover 10/30: the SMAs as running sums, a cross sets the target
(long after ``fast`` crosses above ``slow``, flat after it crosses below), an order fills at the
next bar's open, all in (``qty = cash / (open * (1 + c))``), commission ``c`` on both legs,
no stops. For a coarser timeframe the loop first folds the 1m rows into epoch-aligned buckets
(open first, close last) and drops a trailing bucket the data ends inside, as quantrun does.
It produces only the final equity and the number of entries, and prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

import numba
import numpy as np
import pyarrow.csv

FAST, SLOW = 10, 30
COMMISSION = 0.001
CASH = 10_000.0


@numba.njit(cache=True)
def fold(ts_ms: Any, open_: Any, close: Any, minutes: int) -> Any:
    """Epoch-aligned ``minutes`` buckets of 1m rows: first open, last close per bucket."""
    n = ts_ms.shape[0]
    width = minutes * 60_000
    out_open = np.empty(n)
    out_close = np.empty(n)
    m = -1
    current = -1
    for i in range(n):
        bucket = ts_ms[i] // width
        if bucket != current:
            m += 1
            current = bucket
            out_open[m] = open_[i]
        out_close[m] = close[i]
    count = m + 1
    # The data ends inside the last bucket unless its last minute is present.
    if count > 0 and ts_ms[n - 1] + 60_000 < (current + 1) * width:
        count -= 1
    return out_open[:count], out_close[:count]


@numba.njit(cache=True)
def fill(
    price: float, want: int, qty: float, cash: float, commission: float
) -> tuple[float, float, int]:
    """A pending order filled at ``price`` (the bar's open), as quantrun's kernel fills it:
    ``want`` 0 sells the whole position, 1 goes all in (``qty = cash / (price * (1 + c))``),
    commission on both legs. Returns the new ``(qty, cash, entries added)``."""
    if want == 0 and qty > 0.0:
        fee = qty * price * commission
        cash += qty * price - fee
        return 0.0, cash, 0
    if want == 1 and qty == 0.0:
        size = cash / (price * (1.0 + commission))
        fee = size * price * commission
        cash -= size * price + fee
        return size, cash, 1
    return qty, cash, 0


@numba.njit(cache=True)
def backtest(open_: Any, close: Any, fast: int, slow: int, commission: float, cash0: float) -> Any:
    n = open_.shape[0]
    cash = cash0
    qty = 0.0
    pending = False
    want = 0
    entries = 0
    target = 0
    sum_fast = 0.0
    sum_slow = 0.0
    prev_fast = np.nan
    prev_slow = np.nan
    equity = cash0
    for i in range(n):
        if pending:
            qty, cash, entered = fill(open_[i], want, qty, cash, commission)
            entries += entered
            pending = False
        c = close[i]
        equity = cash + qty * c
        sum_fast += c
        sum_slow += c
        if i >= fast:
            sum_fast -= close[i - fast]
        if i >= slow:
            sum_slow -= close[i - slow]
        if i >= slow - 1:
            f = sum_fast / fast
            s = sum_slow / slow
            if prev_fast == prev_fast:  # not NaN: the bar before had both averages
                if prev_fast <= prev_slow and f > s:
                    target = 1
                elif prev_slow <= prev_fast and s > f:
                    target = 0
            prev_fast = f
            prev_slow = s
        if target != (1 if qty > 0.0 else 0):
            pending = True
            want = target
    return equity, entries


def main(argv: list[str]) -> int:
    path, minutes = argv[1], int(argv[2])
    t0 = time.perf_counter()
    table = pyarrow.csv.read_csv(path)
    open_ = table.column("open").to_numpy()
    close = table.column("close").to_numpy()
    if minutes > 1:
        ts = table.column("timestamp").to_numpy()
        open_, close = fold(ts, open_, close, minutes)
    equity, entries = backtest(open_, close, FAST, SLOW, COMMISSION, CASH)
    seconds = time.perf_counter() - t0
    report = {
        "seconds": seconds,
        "rows": table.num_rows,
        "bars": int(open_.shape[0]),
        "trades": int(entries),
        "total_return": float(equity) / CASH - 1.0,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

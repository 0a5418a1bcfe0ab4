"""Parity check: quantrun against backtesting.py, trade for trade, on real and demo data.

Runs in the peer environment (backtesting.py is AGPL and never a quantrun dependency; it is
used here as a black box, its source unread)::

    make bench-env                       # .venv-bench: quantrun + benchmarks/requirements-peers.txt
    make parity                          # = .venv-bench/bin/python benchmarks/parity_backtesting.py
    .venv-bench/bin/python benchmarks/parity_backtesting.py --timeframes 1h --datasets demo

The grid: every month in ../shared/data/real (read and checked by quantrun's own ingest) plus
the demo dataset, each resampled to 5m, 15m and 1h; every built-in strategy that backtesting.py
can express with quantrun's semantics, long-only, under two risk settings:

- ``all_in``: the whole equity on each entry, no stop or target;
- ``stops``: half the equity, a 2 % stop-loss and a 4 % take-profit measured from the entry
  fill (backtesting.py: ``buy(size=0.5, sl=..., tp=...)`` with the levels computed from the
  fill price, which is the next bar's open; the drawdown halt has no backtesting.py
  counterpart, so no risk level with one is compared).

Both sides: next-open fills, 10 bps commission on every fill, no slippage, a last trade left
open (``finalize_trades=False``). Cash is 1e15 on both sides so that backtesting.py's whole-unit
sizing (it floors to an integer number of units) is within price/1e15 of quantrun's fractional
one (4e-11 of a trade at the demo's 42,000).

backtesting.py runs a Strategy whose signals are computed here, independently of quantrun's
code, with exact rational arithmetic on the prices' decimals (``fractions.Fraction`` from each
price's shortest repr; Wilder's RSI with growing integers), under backtesting.py's own cross
convention (``crossover``: strictly below, then strictly above). The Strategy acts on a change of
the target as quantrun's engine does (a stopped-out trade is not re-entered until the signal
changes). A case passes when both trade lists are identical (entry and exit time exact, entry
and exit price within 1e-12 relative) and the total returns agree within 1e-9 relative.

``--idiom`` adds, for sma_crossover, backtesting.py's documentation idiom: float SMAs
(``backtesting.test.SMA``) and ``crossover``; every bar where its crosses differ from the exact
ones is checked to be an exact tie (the D21 case), and the count is reported.

Named differences (reported, and pinned in tests/test_parity_pins.py):

- backtesting.py calls ``Strategy.next`` from the second bar on, so a target set on the first
  bar (``buy_and_hold``) is acted on one bar later there; the row checks exactly that offset.

Exit status 1 when a case fails. JSON: benchmarks/out/parity.json; a Markdown table:
benchmarks/out/parity.md (copied into benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from quantrun.data.demo import demo_bars
from quantrun.data.ingest import inspect
from quantrun.data.request import IngestRequest
from quantrun.data.resample import resample
from quantrun.engine.risk import Costs, RiskConfig
from quantrun.engine.simulate import simulate
from quantrun.settings import Settings

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"
REAL_DIR = HERE.parent.parent / "shared" / "data" / "real"
TIMEFRAMES = ("5m", "15m", "1h")
CASH = 1e15  # quantrun's largest initial_cash: backtesting.py's whole units are 1e-15 of it
COMMISSION = 0.001  # 10 bps, both tools, charged on every fill
PRICE_RTOL = 1e-12  # entry/exit prices (relative)
RETURN_RTOL = 1e-9  # total return (relative)

RISKS: dict[str, RiskConfig] = {
    "all_in": RiskConfig(
        position_fraction=1.0,
        stop_loss_pct=None,
        take_profit_pct=None,
        max_drawdown_halt_pct=None,
        allow_short=False,
    ),
    "stops": RiskConfig(
        position_fraction=0.5,
        stop_loss_pct=2.0,
        take_profit_pct=4.0,
        max_drawdown_halt_pct=None,
        allow_short=False,
    ),
}
COSTS = Costs(commission_bps=COMMISSION * 10_000, slippage_bps=0, initial_cash=CASH)


# --- the peers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Peers:
    """The peer modules, typed as Any: they live only in .venv-bench and ship no stubs."""

    pd: Any
    bt: Any
    lib: Any
    sma: Any


def load_peers() -> Peers:
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar
    try:
        pd = importlib.import_module("pandas")
        bt = importlib.import_module("backtesting")
        lib = importlib.import_module("backtesting.lib")
        test = importlib.import_module("backtesting.test")
    except ImportError as exc:
        raise SystemExit(
            f"backtesting.py is not importable here ({exc}).\n"
            "It is a peer, not a quantrun dependency: run `make bench-env`, then\n"
            "  .venv-bench/bin/python benchmarks/parity_backtesting.py"
        ) from None
    return Peers(pd=pd, bt=bt, lib=lib, sma=test.SMA)


# --- the bars ------------------------------------------------------------------------------


def real_bars(path: Path) -> pl.DataFrame:
    """A real 1m file through quantrun's own reader and checks (nothing is stored)."""
    with tempfile.TemporaryDirectory() as runs_root:
        inspection = inspect(IngestRequest(paths=[str(path)]), Settings(runs_root=Path(runs_root)))
    if inspection.bars is None:
        raise SystemExit(f"{path} failed quantrun's checks: {inspection.error}")
    return inspection.bars


def datasets(real_dir: Path, names: Sequence[str] | None) -> dict[str, pl.DataFrame]:
    """Every real month (symbol-month) plus ``demo``, as 1m bars."""
    found: dict[str, pl.DataFrame] = {}
    files = sorted(real_dir.glob("*-1m-*.csv")) if real_dir.is_dir() else []
    if not files:
        print(f"SKIP real data: no month in {real_dir} (the shared data is not on this machine)")
    for path in files:
        name = path.stem.replace("-1m-", "-")
        if names is None or name in names:
            found[name] = real_bars(path)
    if names is None or "demo" in names:
        found["demo"] = demo_bars()
    return found


# --- the peer's signals: exact, independent of quantrun's code ------------------------------

Target = list[int]


def exact(values: np.ndarray) -> list[Fraction]:
    """Each price as the decimal its shortest repr writes, as an exact fraction."""
    return [Fraction(Decimal(repr(float(v)))) for v in values]


def _sign(x: Fraction | int) -> int:
    return (x > 0) - (x < 0)


def rolling_means(xs: list[Fraction], window: int) -> list[Fraction | None]:
    out: list[Fraction | None] = [None] * len(xs)
    total = Fraction(0)
    for i, x in enumerate(xs):
        total += x
        if i >= window:
            total -= xs[i - window]
        if i >= window - 1:
            out[i] = total / window
    return out


def strict_crosses(order: list[int | None]) -> tuple[list[bool], list[bool]]:
    """backtesting.py's ``crossover`` rule on a sign series: up when -1 then +1, down mirrored."""
    up = [False] * len(order)
    down = [False] * len(order)
    for i in range(1, len(order)):
        a, b = order[i - 1], order[i]
        if a is not None and b is not None:
            up[i] = a == -1 and b == 1
            down[i] = a == 1 and b == -1
    return up, down


def hold_between(enter: list[bool], leave: list[bool], short: list[bool]) -> Target:
    state, out = 0, []
    for e, lv, s in zip(enter, leave, short, strict=True):
        state = 1 if e else -1 if s else 0 if lv else state
        out.append(state)
    return out


def hold_sides(
    long_entry: list[bool], long_exit: list[bool], short_entry: list[bool], short_exit: list[bool]
) -> Target:
    state, out = 0, []
    for le, lx, se, sx in zip(long_entry, long_exit, short_entry, short_exit, strict=True):
        if le:
            state = 1
        elif se:
            state = -1
        elif (state == 1 and lx) or (state == -1 and sx):
            state = 0
        out.append(state)
    return out


def peer_sma(bars: pl.DataFrame, p: dict[str, Any]) -> Target:
    close = exact(bars["close"].to_numpy())
    fast, slow = rolling_means(close, p["fast"]), rolling_means(close, p["slow"])
    order = [
        None if f is None or s is None else _sign(f - s) for f, s in zip(fast, slow, strict=True)
    ]
    up, down = strict_crosses(order)
    return hold_between(up, down, down)


def peer_bollinger(bars: pl.DataFrame, p: dict[str, Any]) -> Target:
    close = exact(bars["close"].to_numpy())
    w, k = p["period"], Fraction(str(p["k"]))
    mean = rolling_means(close, w)
    squares = rolling_means([c * c for c in close], w)
    upper: list[int | None] = [None] * len(close)
    middle: list[int | None] = [None] * len(close)
    lower: list[int | None] = [None] * len(close)
    for i, c in enumerate(close):
        m, q = mean[i], squares[i]
        if m is None or q is None:
            continue
        var = q - m * m  # population variance, exact
        d = c - m  # close - middle; close - band = d -/+ k * sqrt(var)
        middle[i] = _sign(d)
        gap = _sign(d * d - k * k * var)  # sign of |d| - k * sigma
        upper[i] = gap if d > 0 else (0 if d == 0 and var == 0 else -1)
        lower[i] = -gap if d < 0 else (0 if d == 0 and var == 0 else 1)
    up_u, _ = strict_crosses(upper)
    up_m, down_m = strict_crosses(middle)
    _, down_l = strict_crosses(lower)
    return hold_sides(down_l, up_m, up_u, down_m)


def peer_rsi(bars: pl.DataFrame, p: dict[str, Any]) -> Target:
    """Wilder's RSI (seeded with the mean of the first ``period`` changes) compared with the
    levels exactly: both averages are kept as integers over a common power of ``period``."""
    close = exact(bars["close"].to_numpy())
    period = p["period"]
    scale = max(c.denominator for c in close)
    ticks = [int(c * scale) for c in close]
    orders: dict[str, list[int | None]] = {}
    for name in ("lower", "upper"):
        level = Fraction(str(p[name]))
        a, b = 100 * level.denominator - level.numerator, level.numerator
        order: list[int | None] = [None] * len(close)
        gain_sum = loss_sum = 0
        moved = False
        num_g = num_l = 0  # avg = num / period ** (i - period + 1)
        power = 1  # period ** (i - period)
        for i in range(1, len(close)):
            d = ticks[i] - ticks[i - 1]
            g, lo = max(d, 0), max(-d, 0)
            moved = moved or d != 0
            if i <= period:
                gain_sum += g
                loss_sum += lo
                if i == period:
                    num_g, num_l = gain_sum, loss_sum
            else:
                num_g = (period - 1) * num_g + g * power * period
                num_l = (period - 1) * num_l + lo * power * period
                power *= period
            if i >= period:
                order[i] = _sign(a * num_g - b * num_l) if moved else _sign(50 - level)
        orders[name] = order
    up, _ = strict_crosses(orders["lower"])
    _, down = strict_crosses(orders["upper"])
    return hold_between(up, down, down)


def peer_donchian(bars: pl.DataFrame, p: dict[str, Any]) -> Target:
    high, low = bars["high"].to_list(), bars["low"].to_list()
    close = bars["close"].to_list()

    def channel(values: list[float], window: int, pick: Callable[..., float]) -> list[float | None]:
        return [None if i < window else pick(values[i - window : i]) for i in range(len(values))]

    upper_entry, lower_entry = channel(high, p["entry"], max), channel(low, p["entry"], min)
    upper_exit, lower_exit = channel(high, p["exit"], max), channel(low, p["exit"], min)

    def above(levels: list[float | None]) -> list[bool]:
        return [lv is not None and c > lv for c, lv in zip(close, levels, strict=True)]

    def below(levels: list[float | None]) -> list[bool]:
        return [lv is not None and c < lv for c, lv in zip(close, levels, strict=True)]

    return hold_sides(above(upper_entry), below(lower_exit), below(lower_entry), above(upper_exit))


def peer_buy_and_hold(bars: pl.DataFrame, p: dict[str, Any]) -> Target:
    return [1] * bars.height


@dataclass(frozen=True)
class StrategyCase:
    params: dict[str, Any]
    peer: Callable[[pl.DataFrame, dict[str, Any]], Target]
    #: The first bar on which backtesting.py acts lags quantrun's by this many bars.
    entry_lag: int = 0


STRATEGIES: dict[str, StrategyCase] = {
    "sma_crossover": StrategyCase({"fast": 10, "slow": 30}, peer_sma),
    "bollinger_reversion": StrategyCase({"period": 20, "k": 2.0}, peer_bollinger),
    "rsi_reversion": StrategyCase({"period": 14, "lower": 30.0, "upper": 70.0}, peer_rsi),
    "donchian_breakout": StrategyCase({"entry": 20, "exit": 10}, peer_donchian),
    "buy_and_hold": StrategyCase({}, peer_buy_and_hold, entry_lag=1),
}


# --- the two runs --------------------------------------------------------------------------


def run_quantrun(
    bars: pl.DataFrame,
    strategy: str = "sma_crossover",
    params: dict[str, Any] | None = None,
    risk: RiskConfig | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    case = STRATEGIES[strategy]
    result = simulate(
        bars,
        strategy,
        case.params if params is None else params,
        RISKS["all_in"] if risk is None else risk,
        COSTS,
        version=version,
    )
    t = result.trades
    return {
        "entry_bar": t["entry_bar"].to_numpy(),
        "exit_bar": t["exit_bar"].fill_null(-1).to_numpy(),
        "entry_ts": t["entry_ts"].to_numpy(),
        "exit_ts": t["exit_ts"].fill_null(-1).to_numpy(),
        "entry_price": t["entry_price"].to_numpy(),
        "exit_price": t["exit_price"].to_numpy(),  # an open trade: the last close (its mark)
        "quantity": t["quantity"].to_numpy(),
        "open": (t["status"] == "open").to_numpy(),
        "equity": result.equity,
        "final_equity": result.final_equity,
        "target": result.signals.target,
        "stop_exits": int(t["exit_reason"].is_in(["stop_loss", "take_profit"]).sum()),
    }


def _strategy_class(peers: Peers, target: Target, risk: RiskConfig, opens: np.ndarray) -> Any:
    """A backtesting.py Strategy that acts on changes of ``target`` as quantrun's engine does.
    Built with type(): the base class is Any. Stops are set from the fill price, which is the
    next bar's open (both tools fill market orders there)."""
    stop, take = risk.stop_loss_pct, risk.take_profit_pct
    size = risk.position_fraction if risk.position_fraction < 1 else None

    def init(self: Any) -> None:
        self.acted = 0

    def next_(self: Any) -> None:
        i = len(self.data) - 1
        wanted = target[i]
        if wanted == self.acted:
            return
        self.acted = wanted
        if wanted == 1 and not self.position and i + 1 < len(opens):
            fill = float(opens[i + 1])
            kwargs: dict[str, float] = {}
            if size is not None:
                kwargs["size"] = size
            if stop is not None:
                kwargs["sl"] = fill * (1.0 - 1.0 * stop / 100.0)  # quantrun's own expression
            if take is not None:
                kwargs["tp"] = fill * (1.0 + 1.0 * take / 100.0)
            self.buy(**kwargs)
        elif wanted != 1 and self.position:
            self.position.close()

    return type("Target", (peers.bt.Strategy,), {"init": init, "next": next_})


def _idiom_class(peers: Peers, fast: int, slow: int) -> Any:
    """SmaCross as in backtesting.py's documentation (long-only): float SMAs, ``crossover``."""
    crossover, sma = peers.lib.crossover, peers.sma

    def init(self: Any) -> None:
        self.sma_fast = self.I(sma, self.data.Close, fast)
        self.sma_slow = self.I(sma, self.data.Close, slow)
        self.up_bars = []
        self.down_bars = []

    def next_(self: Any) -> None:
        bar = len(self.data) - 1
        if crossover(self.sma_fast, self.sma_slow):
            self.up_bars.append(bar)
            if not self.position:
                self.buy()
        elif crossover(self.sma_slow, self.sma_fast):
            self.down_bars.append(bar)
            self.position.close()

    return type("SmaCross", (peers.bt.Strategy,), {"init": init, "next": next_})


def _us(peers: Peers, stamp: Any) -> int:
    """A pandas Timestamp (naive, UTC) as epoch microseconds."""
    return int(peers.pd.Timestamp(stamp).as_unit("ns").value) // 1000


def run_peer(peers: Peers, bars: pl.DataFrame, strategy_class: Any) -> dict[str, Any]:
    pd = peers.pd
    index = pd.DatetimeIndex(pd.to_datetime(bars["ts"].to_numpy(), unit="us"))
    columns = {c.capitalize(): bars[c].to_numpy() for c in ("open", "high", "low", "close")}
    data = pd.DataFrame(columns | {"Volume": bars["volume"].to_numpy()}, index=index)
    backtest = peers.bt.Backtest(
        data,
        strategy_class,
        cash=CASH,
        commission=COMMISSION,
        trade_on_close=False,  # market orders fill at the next bar's open
        exclusive_orders=False,  # the strategy closes explicitly; long-only, no reversals
        finalize_trades=False,  # like quantrun: a last open trade stays open
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = backtest.run()
    strategy = stats["_strategy"]
    closed = stats["_trades"]
    last_close = float(bars["close"][-1])
    rows: list[tuple[int, int, int, int, float, float, float, bool]] = [
        (
            int(r.EntryBar),
            int(r.ExitBar),
            _us(peers, r.EntryTime),
            _us(peers, r.ExitTime),
            float(r.EntryPrice),
            float(r.ExitPrice),
            float(r.Size),
            False,
        )
        for r in closed.itertuples()
    ]
    for trade in strategy.trades:  # still open (finalize_trades=False): marked to the close
        entry = (int(trade.entry_bar), -1, _us(peers, trade.entry_time), -1)
        rows.append((*entry, float(trade.entry_price), last_close, float(trade.size), True))
    rows.sort(key=lambda r: r[0])
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    return {
        "entry_bar": np.array(cols[0], dtype=np.int64),
        "exit_bar": np.array(cols[1], dtype=np.int64),
        "entry_ts": np.array(cols[2], dtype=np.int64),
        "exit_ts": np.array(cols[3], dtype=np.int64),
        "entry_price": np.array(cols[4], dtype=np.float64),
        "exit_price": np.array(cols[5], dtype=np.float64),
        "quantity": np.array(cols[6], dtype=np.float64),
        "open": np.array(cols[7], dtype=bool),
        "equity": stats["_equity_curve"]["Equity"].to_numpy(dtype=np.float64),
        "final_equity": float(stats["Equity Final [$]"]),
        "warnings": sorted({str(w.message).splitlines()[0] for w in caught}),
        "stats": stats,
        "strategy": strategy,
    }


# --- the comparison ------------------------------------------------------------------------


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.divide(np.abs(a - b), scale, out=np.zeros_like(scale), where=scale > 0)
    return float(rel.max())


def compare(
    q: dict[str, Any], b: dict[str, Any], close: np.ndarray | None = None, entry_lag: int = 0
) -> dict[str, Any]:
    """Trade lists (times exact, prices to PRICE_RTOL) and total return (to RETURN_RTOL).
    ``entry_lag``: bars by which backtesting.py's first action is expected to lag. ``close`` is
    unused (kept for bench_suite.py's call)."""
    n_q, n_b = len(q["entry_ts"]), len(b["entry_ts"])
    n = min(n_q, n_b)
    entry_bar_diff = (b["entry_bar"][:n] - q["entry_bar"][:n]).tolist()
    time_keys = ("exit_bar", "open") if entry_lag else ("entry_ts", "exit_ts", "open")
    mismatches = {k: int(np.count_nonzero(q[k][:n] != b[k][:n])) for k in time_keys}
    if entry_lag:
        mismatches["entry_bar_lag"] = sum(1 for d in entry_bar_diff if d != entry_lag)
    first_bad = next(
        (i for i in range(n) if any(q[k][i] != b[k][i] for k in ("entry_ts", "exit_ts"))), None
    )
    prices = {
        k: _max_rel(q[k][:n], b[k][:n]) for k in ("entry_price", "exit_price") if not entry_lag
    }
    ret_q = q["final_equity"] / CASH - 1.0
    ret_b = b["final_equity"] / CASH - 1.0
    ret_rel = abs(ret_q - ret_b) / max(abs(ret_q), abs(ret_b), 1e-300)
    trades_ok = (
        n_q == n_b
        and all(v == 0 for v in mismatches.values())
        and all(v <= PRICE_RTOL for v in prices.values())
    )
    out: dict[str, Any] = {
        "trades": [n_q, n_b],
        "matched_trades": n - (mismatches.get("entry_ts", 0) if n_q == n_b else n),
        "closed_trades": [int((~q["open"]).sum()), int((~b["open"]).sum())],
        "mismatches": mismatches,
        "first_time_mismatch_at_trade": None if first_bad is None else first_bad + 1,
        "max_price_rel_diff": max(prices.values(), default=None),
        "total_return": {"quantrun": ret_q, "backtesting": ret_b, "rel_diff": ret_rel},
        "equity_curve_max_rel_diff": _max_rel(q["equity"], b["equity"]),
        "trade_lists_agree": bool(trades_ok),
        "total_return_agrees": bool(ret_rel <= RETURN_RTOL) if not entry_lag else None,
        "agree": bool(trades_ok and (entry_lag or ret_rel <= RETURN_RTOL)),
    }
    # The shape bench_suite.py reads.
    out["fields"] = {k: {"mismatches": mismatches.get(k, 0)} for k in ("entry_ts", "exit_ts")} | {
        k: {"max_rel": prices.get(k, 0.0)} for k in ("entry_price", "exit_price")
    }
    final_rel = abs(q["final_equity"] - b["final_equity"]) / abs(q["final_equity"])
    out["final_equity"] = {
        "quantrun": q["final_equity"],
        "backtesting": b["final_equity"],
        "rel_diff": final_rel,
    }
    if "idiom_ties" in b:
        out["crosses"] = b["idiom_ties"]
    return out


def idiom_ties(bars: pl.DataFrame, b: dict[str, Any], fast: int, slow: int) -> dict[str, Any]:
    """Bars where the idiom's float crosses differ from the exact ones, and whether each is an
    exact tie of the two SMAs (on that bar or the one before)."""
    close = exact(bars["close"].to_numpy())
    f, s = rolling_means(close, fast), rolling_means(close, slow)
    order = [None if x is None or y is None else _sign(x - y) for x, y in zip(f, s, strict=True)]
    up, down = strict_crosses(order)
    exact_up = {i for i, v in enumerate(up) if v}
    exact_down = {i for i, v in enumerate(down) if v}
    strategy = b["strategy"]
    differing = sorted((exact_up ^ set(strategy.up_bars)) | (exact_down ^ set(strategy.down_bars)))
    at_ties = [i for i in differing if 0 in (order[i], order[i - 1])]
    return {"differing_cross_bars": differing, "at_exact_ties": at_ties}


# --- the entry points bench_suite.py uses (its parity group: sma_crossover, all in) -------

VARIANTS: dict[str, str] = {
    "exact": "backtesting.py acting on the exact peer signals (the gate)",
    "idiom": "backtesting.py's SmaCross idiom: float SMAs and crossover (differs only at ties)",
}


def run_backtesting(peers: Peers, bars: pl.DataFrame, variant: str) -> dict[str, Any]:
    """backtesting.py on ``bars``: sma_crossover 10/30, all in, as ``variant``."""
    params = STRATEGIES["sma_crossover"].params
    if variant == "exact":
        target = peer_sma(bars, params)
        return run_peer(
            peers, bars, _strategy_class(peers, target, RISKS["all_in"], bars["open"].to_numpy())
        )
    b = run_peer(peers, bars, _idiom_class(peers, params["fast"], params["slow"]))
    b["idiom_ties"] = idiom_ties(bars, b, params["fast"], params["slow"])
    return b


def verdict(variant: str, cmp: dict[str, Any], strict: bool) -> tuple[bool, str]:
    """(passes, why). ``exact`` must agree; ``idiom`` may differ only at exact SMA ties."""
    if cmp["agree"]:
        return True, "AGREE"
    crosses = cmp.get("crosses")
    if variant == "idiom" and not strict and crosses and crosses["differing_cross_bars"]:
        n = len(crosses["differing_cross_bars"])
        if crosses["differing_cross_bars"] == crosses["at_exact_ties"]:
            return True, f"DIFFERS ONLY AT {n} EXACT SMA TIE{'S' if n > 1 else ''} (accepted)"
        return False, "DISAGREE (signal differences not explained by exact ties)"
    return False, "DISAGREE"


# --- the grid ------------------------------------------------------------------------------


@dataclass
class Row:
    dataset: str
    timeframe: str
    strategy: str
    risk: str
    bars: int
    result: dict[str, Any]
    verdict: str
    passes: bool


def run_case(
    peers: Peers, bars: pl.DataFrame, strategy: str, risk_name: str
) -> tuple[dict[str, Any], str, bool]:
    case = STRATEGIES[strategy]
    risk = RISKS[risk_name]
    q = run_quantrun(bars, strategy, case.params, risk)
    target = case.peer(bars, case.params)
    same_signals = bool(np.array_equal(np.asarray(target, dtype=np.int8), q["target"]))
    peer_class = _strategy_class(peers, target, risk, bars["open"].to_numpy())
    b = run_peer(peers, bars, peer_class)
    cmp = compare(q, b, entry_lag=case.entry_lag)
    cmp["signals_equal"] = same_signals
    cmp["stop_or_target_exits"] = q["stop_exits"]
    cmp["backtesting_warnings"] = b["warnings"]
    if not same_signals:
        return cmp, "DISAGREE (signals differ from the exact peer computation)", False
    if case.entry_lag:
        ok = cmp["agree"]
        why = f"NAMED DIFFERENCE: entry {case.entry_lag} bar later in backtesting.py"
        return cmp, why if ok else "DISAGREE", ok
    return cmp, "AGREE" if cmp["agree"] else "DISAGREE", cmp["agree"]


def markdown(rows: list[Row], idiom: list[dict[str, Any]]) -> str:
    head = (
        "| dataset | tf | strategy | risk | bars | trades q / bt | stop/target exits "
        "| max price rel diff | total return quantrun | total return backtesting.py | rel diff "
        "| verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        res = r.result
        tr = res["total_return"]
        price = res["max_price_rel_diff"]
        lines.append(
            f"| {r.dataset} | {r.timeframe} | {r.strategy} | {r.risk} | {r.bars:,} "
            f"| {res['trades'][0]} / {res['trades'][1]} | {res['stop_or_target_exits']} "
            f"| {'n/a' if price is None else f'{price:.1e}'} "
            f"| {tr['quantrun']:+.10f} | {tr['backtesting']:+.10f} | {tr['rel_diff']:.1e} "
            f"| {r.verdict} |"
        )
    text = head + "\n".join(lines) + "\n"
    if idiom:
        text += (
            "\n| dataset | tf | trades: idiom / exact / quantrun v1 | idiom cross bars that "
            "differ from exact | of them at exact SMA ties | quantrun v1 trade list = exact |"
            "\n|---|---|---|---|---|---|\n"
        )
        for item in idiom:
            text += (
                f"| {item['dataset']} | {item['timeframe']} | {item['trades_idiom']} / "
                f"{item['trades_exact']} / {item['trades_v1']} "
                f"| {len(item['differing_cross_bars'])} | {len(item['at_exact_ties'])} "
                f"| {'yes' if item['v1_equals_exact'] else 'no'} |\n"
            )
    return text


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("quantrun", "backtesting", "pandas", "numpy", "polars"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"platform": platform.platform(), "python": platform.python_version()} | {
        "packages": versions
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--real", type=Path, default=REAL_DIR, help="folder of real 1m months")
    parser.add_argument("--datasets", nargs="*", default=None, help="e.g. demo DOTUSDT-2025-11")
    parser.add_argument("--timeframes", nargs="*", default=list(TIMEFRAMES))
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--risks", nargs="*", default=list(RISKS))
    parser.add_argument("--idiom", action="store_true", help="also the float SmaCross idiom")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "parity.json", help="JSON path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peers = load_peers()
    started = time.perf_counter()
    rows: list[Row] = []
    idiom: list[dict[str, Any]] = []
    for name, one_minute in datasets(args.real, args.datasets).items():
        for timeframe in args.timeframes:
            bars = resample(one_minute, timeframe).bars
            for strategy in args.strategies:
                for risk_name in args.risks:
                    if strategy == "buy_and_hold" and risk_name != "all_in":
                        continue  # its lagged entry moves every stop level: nothing to compare
                    result, why, passes = run_case(peers, bars, strategy, risk_name)
                    row = Row(
                        name, timeframe, strategy, risk_name, bars.height, result, why, passes
                    )
                    rows.append(row)
                    tr = result["total_return"]
                    print(
                        f"{name:18} {timeframe:>3} {strategy:20} {risk_name:6} "
                        f"trades {result['trades'][0]:4}/{result['trades'][1]:<4} "
                        f"return {tr['quantrun']:+.6f} rel {tr['rel_diff']:.1e}  {why}",
                        flush=True,
                    )
            if args.idiom:
                params = STRATEGIES["sma_crossover"].params
                b = run_peer(peers, bars, _idiom_class(peers, params["fast"], params["slow"]))
                q = run_quantrun(bars)
                v1 = run_quantrun(bars, version="1")
                ties = idiom_ties(bars, b, params["fast"], params["slow"])
                same_v1 = len(v1["entry_ts"]) == len(q["entry_ts"]) and all(
                    np.array_equal(v1[k], q[k]) for k in ("entry_ts", "exit_ts")
                )
                idiom.append(
                    {"dataset": name, "timeframe": timeframe}
                    | ties
                    | {
                        "trades_idiom": len(b["entry_ts"]),
                        "trades_exact": len(q["entry_ts"]),
                        "trades_v1": len(v1["entry_ts"]),
                        "v1_equals_exact": same_v1,
                    }
                )
    failed = [r for r in rows if not r.passes]
    idiom_bad = [i for i in idiom if i["differing_cross_bars"] != i["at_exact_ties"]]
    result = {
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "setup": {
            "cash": CASH,
            "commission": COMMISSION,
            "risks": {k: v.model_dump() for k, v in RISKS.items()},
            "strategies": {k: v.params for k, v in STRATEGIES.items()},
            "tolerances": {"price_rel": PRICE_RTOL, "total_return_rel": RETURN_RTOL},
        },
        "rows": [
            {k: v for k, v in vars(r).items() if k != "result"} | {"result": r.result} for r in rows
        ],
        "idiom": idiom,
        "passes": not failed and not idiom_bad,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rows, idiom))
    print(
        f"parity: {len(rows) - len(failed)}/{len(rows)} cases agree"
        + (f"; idiom differences not at exact ties: {len(idiom_bad)}" if idiom else "")
        + f"; {result['seconds']} s; wrote {args.out} and {args.out.with_suffix('.md')}"
    )
    return 0 if result["passes"] else 1


if __name__ == "__main__":
    sys.exit(main())

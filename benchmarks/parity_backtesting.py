"""Parity check: quantrun's engine against backtesting.py on the same bars and the same rules.

Runs in the peer environment (backtesting.py is not a quantrun dependency)::

    make bench-env                       # .venv-bench: quantrun + benchmarks/requirements-peers.txt
    .venv-bench/bin/python benchmarks/parity_backtesting.py [--rows N] [--real PATH] [--strict]

Two datasets: the real DOTUSDT 1m file from ../shared/data/real (read and checked by quantrun,
resampled to 15m; skipped with a message when absent) and a seeded 1m random walk. On each, the
same SMA 10/30 crossover runs long-only, all-in, 10 bps commission per fill, fills at the next
open, in quantrun (``quantrun.engine.simulate``) and in ``backtesting.lib.FractionalBacktest``,
whose SmaCross computes its SMAs two ways:

- ``same_input``: over the close prices quantrun sees. This isolates the engines (fills, sizing,
  fees, bookkeeping) and is the gate: its trade list must match exactly.
- ``scaled_input``: the FractionalBacktest idiom, ``self.I(SMA, self.data.Close, n)``, over the
  closes it has multiplied by ``fractional_unit``. Rounding there can break an exact tie of the
  two SMAs the other way; every cross bar that differs is checked against exact decimal
  arithmetic, and only differences at exact ties are accepted (``--strict``: none at all).

Exit status 1 when a gate fails. The JSON goes to benchmarks/out/parity.json; see
benchmarks/README.md for every remaining difference and why it is there.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from quantrun.data.ingest import IngestRequest, inspect
from quantrun.data.resample import resample
from quantrun.engine.risk import Costs, RiskConfig
from quantrun.engine.simulate import simulate
from quantrun.settings import Settings
from quantrun.strategies.base import crosses_above
from walk import SEED, random_walk

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"
REAL_FILE = HERE.parent.parent / "shared" / "data" / "real" / "DOTUSDT-1m-2025-11.csv"
FAST, SLOW = 10, 30
CASH = 10_000.0
COMMISSION = 0.001  # 10 bps, both tools, charged on every fill
FRACTIONAL_UNIT = 1e-8  # FractionalBacktest's default: trade whole 1e-8 units of the asset
PRICE_RTOL = 1e-9  # entry/exit prices must agree to this (relative)
RETURN_RTOL = 1e-6  # final equity: bounded by the 1e-8-unit sizing granularity (see README)
#: How backtesting.py's SmaCross gets its SMAs (see the module docstring).
VARIANTS: dict[str, str] = {
    "same_input": "SMA over the unscaled closes quantrun sees (the engine gate)",
    "scaled_input": "SMA over self.data.Close, i.e. close x fractional_unit (the idiom)",
}

RISK = RiskConfig(
    position_fraction=1.0,
    stop_loss_pct=None,
    take_profit_pct=None,
    max_drawdown_halt_pct=None,
    allow_short=False,
)
COSTS = Costs(commission_bps=COMMISSION * 10_000, slippage_bps=0, initial_cash=CASH)


@dataclass(frozen=True)
class Peers:
    """The peer modules, typed as Any: they live only in .venv-bench and ship no stubs."""

    pd: Any
    bt: Any
    lib: Any
    sma: Any


def load_peers() -> Peers:
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
    """The real file through quantrun's own reader and checks (nothing is stored), then 15m."""
    with tempfile.TemporaryDirectory() as runs_root:
        inspection = inspect(IngestRequest(paths=[str(path)]), Settings(runs_root=Path(runs_root)))
    if inspection.bars is None:
        raise SystemExit(f"{path} failed quantrun's checks: {inspection.error}")
    return resample(inspection.bars, "15m").bars


# --- the two runs --------------------------------------------------------------------------


def run_quantrun(bars: pl.DataFrame) -> dict[str, Any]:
    result = simulate(bars, "sma_crossover", {"fast": FAST, "slow": SLOW}, RISK, COSTS)
    t = result.trades
    fast = result.signals.indicators["sma_fast"]
    slow = result.signals.indicators["sma_slow"]
    return {
        "entry_bar": t["entry_bar"].to_numpy(),
        "exit_bar": t["exit_bar"].fill_null(-1).to_numpy(),
        "entry_ts": t["entry_ts"].to_numpy(),
        "exit_ts": t["exit_ts"].fill_null(-1).to_numpy(),
        "entry_price": t["entry_price"].to_numpy(),
        "exit_price": t["exit_price"].to_numpy(),  # an open trade: the last close (its mark)
        "quantity": t["quantity"].to_numpy(),
        "pnl": t["pnl"].to_numpy(),
        "commission": t["commission"].to_numpy(),
        "open": (t["status"] == "open").to_numpy(),
        "equity": result.equity,
        "final_equity": result.final_equity,
        "up_bars": np.flatnonzero(crosses_above(fast, slow)),
        "down_bars": np.flatnonzero(crosses_above(slow, fast)),
    }


def _sma_cross_class(peers: Peers, closes: np.ndarray | None) -> Any:
    """SmaCross as in backtesting.py's docs, long-only. Built with type(): the base is Any.

    ``closes`` None: the SMAs run over ``self.data.Close`` (FractionalBacktest's scaled prices);
    otherwise over these (the unscaled closes quantrun sees).
    """
    crossover = peers.lib.crossover
    sma = peers.sma

    def init(self: Any) -> None:
        source = self.data.Close if self.closes is None else self.closes
        self.sma_fast = self.I(sma, source, self.fast, name="sma_fast")
        self.sma_slow = self.I(sma, source, self.slow, name="sma_slow")
        self.up_bars = []
        self.down_bars = []

    def next_(self: Any) -> None:
        bar = len(self.data) - 1
        if crossover(self.sma_fast, self.sma_slow):
            self.up_bars.append(bar)
            if not self.position:
                self.buy()  # size: the default, 1 - epsilon of the available margin
        elif crossover(self.sma_slow, self.sma_fast):
            self.down_bars.append(bar)
            self.position.close()

    attrs = {"fast": FAST, "slow": SLOW, "closes": closes, "init": init, "next": next_}
    return type("SmaCross", (peers.bt.Strategy,), attrs)


def _us(peers: Peers, stamp: Any) -> int:
    """A pandas Timestamp (naive, UTC) as epoch microseconds."""
    return int(peers.pd.Timestamp(stamp).as_unit("ns").value) // 1000


def run_backtesting(peers: Peers, bars: pl.DataFrame, variant: str) -> dict[str, Any]:
    pd = peers.pd
    index = pd.DatetimeIndex(pd.to_datetime(bars["ts"].to_numpy(), unit="us"))
    close = bars["close"].to_numpy()
    data = pd.DataFrame(
        {
            "Open": bars["open"].to_numpy(),
            "High": bars["high"].to_numpy(),
            "Low": bars["low"].to_numpy(),
            "Close": close,
            "Volume": bars["volume"].to_numpy(),
        },
        index=index,
    )
    backtest = peers.lib.FractionalBacktest(
        data,
        _sma_cross_class(peers, close.copy() if variant == "same_input" else None),
        cash=CASH,
        commission=COMMISSION,
        trade_on_close=False,  # market orders fill at the next bar's open
        exclusive_orders=False,  # the strategy closes explicitly; long-only, so no reversals
        finalize_trades=False,  # like quantrun: a last open trade stays open (marked, no exit fee)
        fractional_unit=FRACTIONAL_UNIT,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = backtest.run()
    strategy = stats["_strategy"]
    closed = stats["_trades"]
    last_close = float(close[-1])
    entry_bar = [int(b) for b in closed["EntryBar"]]
    exit_bar = [int(b) for b in closed["ExitBar"]]
    entry_ts = [_us(peers, t) for t in closed["EntryTime"]]
    exit_ts = [_us(peers, t) for t in closed["ExitTime"]]
    entry_price = [float(p) for p in closed["EntryPrice"]]
    exit_price = [float(p) for p in closed["ExitPrice"]]
    quantity = [float(q) for q in closed["Size"]]
    pnl = [float(p) for p in closed["PnL"]]
    commission = [float(c) for c in closed["Commission"]]
    is_open = [False] * len(entry_bar)
    # Trades still open at the end are left open (finalize_trades=False), as quantrun does; they
    # are not in stats["_trades"]. Read them off the broker, undo FractionalBacktest's scaling
    # (prices x unit, sizes / unit), and mark them to the last close like quantrun's trade list.
    for trade in strategy.trades:
        qty = float(trade.size) * FRACTIONAL_UNIT
        price = float(trade.entry_price) / FRACTIONAL_UNIT
        fee = qty * price * COMMISSION
        entry_bar.append(int(trade.entry_bar))
        exit_bar.append(-1)
        entry_ts.append(_us(peers, trade.entry_time))
        exit_ts.append(-1)
        entry_price.append(price)
        exit_price.append(last_close)
        quantity.append(qty)
        pnl.append(qty * (last_close - price) - fee)
        commission.append(fee)
        is_open.append(True)
    return {
        "entry_bar": np.array(entry_bar, dtype=np.int64),
        "exit_bar": np.array(exit_bar, dtype=np.int64),
        "entry_ts": np.array(entry_ts, dtype=np.int64),
        "exit_ts": np.array(exit_ts, dtype=np.int64),
        "entry_price": np.array(entry_price),
        "exit_price": np.array(exit_price),
        "quantity": np.array(quantity),
        "pnl": np.array(pnl),
        "commission": np.array(commission),
        "open": np.array(is_open, dtype=bool),
        "equity": stats["_equity_curve"]["Equity"].to_numpy(dtype=np.float64),
        "final_equity": float(stats["Equity Final [$]"]),
        "up_bars": np.array(strategy.up_bars, dtype=np.int64),
        "down_bars": np.array(strategy.down_bars, dtype=np.int64),
        "warnings": sorted({str(w.message).splitlines()[0] for w in caught}),
    }


# --- the comparison ------------------------------------------------------------------------


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(a), np.abs(b))
    out: np.ndarray = np.divide(
        np.abs(a - b), scale, out=np.zeros_like(scale, dtype=np.float64), where=scale > 0
    )
    return out


def _float_diff(
    a: np.ndarray, b: np.ndarray, *, rel_to: np.ndarray | None = None
) -> dict[str, Any]:
    """Largest absolute and relative difference, and the (1-based) trade where each occurs."""
    if a.size == 0:
        return {"max_abs": 0.0, "max_rel": 0.0, "at_trade_abs": None, "at_trade_rel": None}
    absolute = np.abs(a - b)
    relative = absolute / np.abs(rel_to) if rel_to is not None else _rel(a, b)
    return {
        "max_abs": float(absolute.max()),
        "max_rel": float(relative.max()),
        "at_trade_abs": int(absolute.argmax()) + 1,
        "at_trade_rel": int(relative.argmax()) + 1,
    }


def _exact_diff(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    a, b = a.astype(np.int64), b.astype(np.int64)
    bad = np.flatnonzero(a != b)
    return {
        "mismatches": int(bad.size),
        "max_abs": float(np.abs(a - b).max()) if a.size else 0.0,
        "first_at_trade": int(bad[0]) + 1 if bad.size else None,
    }


def exact_sma_tie(close: np.ndarray, bar: int) -> dict[str, Any]:
    """Whether the fast and slow SMA are exactly equal at ``bar`` or ``bar - 1``, in decimal.

    Prices are decimals in the source (4 places in the walk, Binance ticks in the real file);
    ``repr`` gives that decimal back. A crossing decided by such a tie is float rounding
    noise: the exact means are equal, and each tool's rounding may order them either way.
    """
    ties = []
    with localcontext() as ctx:
        ctx.prec = 60
        for j in (bar - 1, bar):
            if j < SLOW - 1:
                continue
            window = [Decimal(repr(float(c))) for c in close[j - SLOW + 1 : j + 1]]
            if sum(window[-FAST:]) * SLOW == sum(window) * FAST:
                ties.append(j)
    return {"bar": bar, "exact_tie_at": ties}


def _cross_differences(q: dict[str, Any], b: dict[str, Any], close: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("up", "down"):
        key = f"{side}_bars"
        only_q = np.setdiff1d(q[key], b[key])
        only_b = np.setdiff1d(b[key], q[key])
        out[side] = {
            "crosses": [int(q[key].size), int(b[key].size)],
            "equal": bool(np.array_equal(q[key], b[key])),
            "only_quantrun": [exact_sma_tie(close, int(i)) for i in only_q],
            "only_backtesting": [exact_sma_tie(close, int(i)) for i in only_b],
        }
    differing = [
        d for side in out.values() for d in (*side["only_quantrun"], *side["only_backtesting"])
    ]
    out["differing_bars"] = len(differing)
    out["all_differences_at_exact_ties"] = all(d["exact_tie_at"] for d in differing)
    return out


def compare(q: dict[str, Any], b: dict[str, Any], close: np.ndarray) -> dict[str, Any]:
    """Trades are matched on (entry bar, exit bar); fields are compared over matched trades."""
    final_rel = float(_rel(np.array([q["final_equity"]]), np.array([b["final_equity"]]))[0])
    ret_q, ret_b = q["final_equity"] / CASH - 1.0, b["final_equity"] / CASH - 1.0
    keys_q = list(zip(q["entry_bar"].tolist(), q["exit_bar"].tolist(), strict=True))
    keys_b = list(zip(b["entry_bar"].tolist(), b["exit_bar"].tolist(), strict=True))
    where_b = {key: i for i, key in enumerate(keys_b)}
    pairs = [(i, where_b[key]) for i, key in enumerate(keys_q) if key in where_b]
    qi = np.array([p[0] for p in pairs], dtype=np.int64)
    bi = np.array([p[1] for p in pairs], dtype=np.int64)
    n_q, n_b = int(q["entry_bar"].size), int(b["entry_bar"].size)
    unmatched_q = sorted(set(range(n_q)) - set(qi.tolist()))
    unmatched_b = sorted(set(range(n_b)) - set(bi.tolist()))
    fields: dict[str, Any] = {
        name: _exact_diff(q[name][qi], b[name][bi]) for name in ("entry_ts", "exit_ts", "open")
    }
    for name in ("entry_price", "exit_price", "quantity", "commission"):
        fields[name] = _float_diff(q[name][qi], b[name][bi])
    # FractionalBacktest buys whole 1e-8 units, rounding down: quantrun minus backtesting.py,
    # in those units, should lie in [0, 1) (give or take the drift of cash between the two).
    units = (q["quantity"][qi] - b["quantity"][bi]) / FRACTIONAL_UNIT
    fields["quantity"]["unit_diff_range"] = (
        [float(units.min()), float(units.max())] if units.size else [0.0, 0.0]
    )
    # P&L can be ~0, so its relative difference is taken against the trade's entry notional.
    notional = q["quantity"][qi] * q["entry_price"][qi]
    fields["pnl"] = _float_diff(q["pnl"][qi], b["pnl"][bi], rel_to=notional)
    same_list = n_q == n_b == len(pairs) and bool(np.array_equal(qi, bi))
    exact_ok = all(fields[k]["mismatches"] == 0 for k in ("entry_ts", "exit_ts", "open"))
    prices_ok = all(fields[k]["max_rel"] <= PRICE_RTOL for k in ("entry_price", "exit_price"))
    out: dict[str, Any] = {
        "trades": [n_q, n_b],
        "matched_trades": len(pairs),
        "unmatched": {
            "quantrun": [_trade(q, i) for i in unmatched_q[:20]],
            "backtesting": [_trade(b, i) for i in unmatched_b[:20]],
        },
        "open_trades": [int(q["open"].sum()), int(b["open"].sum())],
        "crosses": _cross_differences(q, b, close),
        "fields": fields,
        "total_return": {"quantrun": ret_q, "backtesting": ret_b, "abs_diff": abs(ret_q - ret_b)},
        "final_equity": {
            "quantrun": q["final_equity"],
            "backtesting": b["final_equity"],
            "rel_diff": final_rel,
        },
        "trade_lists_agree": bool(same_list and exact_ok and prices_ok),
        "total_return_agrees": final_rel <= RETURN_RTOL,
    }
    eq = _rel(q["equity"], b["equity"])
    out["equity_curve"] = {"max_rel": float(eq.max()), "at_bar": int(eq.argmax())}
    out["agree"] = bool(out["trade_lists_agree"] and out["total_return_agrees"])
    return out


def _trade(side: dict[str, Any], i: int) -> dict[str, Any]:
    keys = ("entry_bar", "exit_bar", "entry_price", "exit_price", "quantity", "pnl")
    return {"trade": i + 1} | {key: side[key][i].item() for key in keys}


def verdict(variant: str, cmp: dict[str, Any], strict: bool) -> tuple[bool, str]:
    """(passes, why). same_input must agree; scaled_input may differ only at exact SMA ties."""
    if cmp["agree"]:
        return True, "AGREE"
    if variant == "scaled_input" and not strict:
        crosses = cmp["crosses"]
        if crosses["differing_bars"] and crosses["all_differences_at_exact_ties"]:
            n = crosses["differing_bars"]
            return True, f"DIFFERS ONLY AT {n} EXACT SMA TIE{'S' if n > 1 else ''} (accepted)"
        if crosses["differing_bars"]:
            return False, "DISAGREE (signal differences not explained by exact ties)"
    return False, "DISAGREE"


# --- output --------------------------------------------------------------------------------


def _g(value: float) -> str:
    return f"{value:.3g}"


def render(console: Console, title: str, cmp: dict[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("field")
    table.add_column("quantrun", justify="right")
    table.add_column("backtesting.py", justify="right")
    table.add_column("max abs diff", justify="right")
    table.add_column("max rel diff", justify="right")
    table.add_column("check", justify="right")
    n_q, n_b = cmp["trades"]
    table.add_row("trades", str(n_q), str(n_b), "", "", f"{cmp['matched_trades']} matched")
    table.add_row("open at end", *map(str, cmp["open_trades"]), "", "", "")
    for side in ("up", "down"):
        cross = cmp["crosses"][side]
        differing = [*cross["only_quantrun"], *cross["only_backtesting"]]
        ties = sum(1 for d in differing if d["exact_tie_at"])
        check = "same bars" if cross["equal"] else f"{len(differing)} differ, {ties} at exact ties"
        table.add_row(f"{side}-cross bars", *map(str, cross["crosses"]), "", "", check)
    for key, field in cmp["fields"].items():
        if "mismatches" in field:
            table.add_row(key, "", "", _g(field["max_abs"]), "", f"{field['mismatches']} differ")
        else:
            tol = f"<= {PRICE_RTOL:g}" if key in ("entry_price", "exit_price") else "reported"
            if key == "quantity":
                low, high = field["unit_diff_range"]
                tol = f"{low:.2f}..{high:.2f} units"
            where = f" (trade {field['at_trade_rel']})" if field["at_trade_rel"] else ""
            table.add_row(key, "", "", _g(field["max_abs"]), _g(field["max_rel"]) + where, tol)
    fe = cmp["final_equity"]
    table.add_row(
        "final equity",
        f"{fe['quantrun']:.6f}",
        f"{fe['backtesting']:.6f}",
        _g(abs(fe["quantrun"] - fe["backtesting"])),
        _g(fe["rel_diff"]),
        f"<= {RETURN_RTOL:g}",
    )
    tr = cmp["total_return"]
    table.add_row(
        "total return",
        f"{tr['quantrun']:+.10f}",
        f"{tr['backtesting']:+.10f}",
        _g(tr["abs_diff"]),
        "",
        "",
    )
    eq = cmp["equity_curve"]
    table.add_row("equity curve", "", "", "", f"{_g(eq['max_rel'])} (bar {eq['at_bar']})", "")
    console.print(table)
    fields = cmp["fields"]
    worst = max(("entry_price", "exit_price"), key=lambda k: fields[k]["max_rel"])
    console.print(
        f"largest differences: price ({worst}) {_g(fields[worst]['max_abs'])} abs / "
        f"{_g(fields[worst]['max_rel'])} rel; quantity {_g(fields['quantity']['max_rel'])} rel; "
        f"total return {_g(tr['abs_diff'])} abs; final equity {_g(fe['rel_diff'])} rel",
        highlight=False,
    )
    for side in ("up", "down"):
        cross = cmp["crosses"][side]
        for who in ("quantrun", "backtesting"):
            for d in cross[f"only_{who}"]:
                console.print(
                    f"  {side}-cross at bar {d['bar']} only in {who}; "
                    f"exact SMA tie at bar(s) {d['exact_tie_at'] or 'none'}",
                    highlight=False,
                )


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("quantrun", "backtesting", "pandas", "numpy", "polars", "bokeh"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"platform": platform.platform(), "python": platform.python_version()} | {
        "packages": versions
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="random-walk 1m bars")
    parser.add_argument("--real", type=Path, default=REAL_FILE, help="real Binance 1m CSV")
    parser.add_argument(
        "--strict", action="store_true", help="fail on any scaled_input difference, ties too"
    )
    parser.add_argument("--sample", type=int, default=5, help="matched trades shown in JSON")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "parity.json", help="JSON path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peers = load_peers()
    console = Console(width=max(Console().width, 120))
    datasets: list[tuple[str, dict[str, Any], pl.DataFrame | None]] = []
    real_meta: dict[str, Any] = {"file": str(args.real), "timeframe": "15m (resampled from 1m)"}
    if args.real.is_file():
        datasets.append(("real_DOTUSDT_15m", real_meta, real_bars(args.real)))
    else:
        print(f"SKIP real data: {args.real} is absent (the shared data is not on this machine)")
        datasets.append(("real_DOTUSDT_15m", real_meta | {"skipped": "file absent"}, None))
    walk = {"generator": "seeded log random walk, 4 decimals", "seed": SEED, "timeframe": "1m"}
    datasets.append(("random_walk_1m", walk, random_walk(args.rows)))

    results: dict[str, Any] = {}
    verdicts: list[str] = []
    ok = True
    for name, meta, bars in datasets:
        if bars is None:
            results[name] = meta
            continue
        close = bars["close"].to_numpy()
        q = run_quantrun(bars)
        entry: dict[str, Any] = meta | {"bars": bars.height, "variants": {}}
        for variant in VARIANTS:
            b = run_backtesting(peers, bars, variant)
            cmp = compare(q, b, close)
            passes, why = verdict(variant, cmp, args.strict)
            ok = ok and passes
            verdicts.append(f"{name} / {variant}: {why}")
            matched = min(args.sample, cmp["matched_trades"])
            entry["variants"][variant] = {
                "verdict": why,
                "passes": passes,
                "comparison": cmp,
                "backtesting_warnings": b["warnings"],
                "first_trades": [
                    {"quantrun": _trade(q, i), "backtesting": _trade(b, i)} for i in range(matched)
                ]
                if cmp["trade_lists_agree"]
                else [],
            }
            title = f"parity {name} / {variant}: {bars.height:,} bars, SMA {FAST}/{SLOW} - {why}"
            render(console, title, cmp)
        results[name] = entry
    result: dict[str, Any] = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "setup": {
            "strategy": {"id": "sma_crossover", "fast": FAST, "slow": SLOW, "long_only": True},
            "quantrun_risk": RISK.model_dump(),
            "quantrun_costs": COSTS.model_dump(),
            "backtesting": {
                "class": "backtesting.lib.FractionalBacktest",
                "fractional_unit": FRACTIONAL_UNIT,
                "cash": CASH,
                "commission": COMMISSION,
                "trade_on_close": False,
                "exclusive_orders": False,
                "finalize_trades": False,
                "size": "default (1 - sys.float_info.epsilon of the available margin)",
                "variants": VARIANTS,
            },
            "tolerances": {"price_rel": PRICE_RTOL, "final_equity_rel": RETURN_RTOL},
            "strict": args.strict,
        },
        "datasets": results,
        "verdicts": verdicts,
        "passes": ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for line in verdicts:
        print(line)
    print(f"parity: {'PASS' if ok else 'FAIL'}; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Metrics cross-check: every metric of quantrun.metrics beside backtesting.py's ``stats`` on the
same trades and quantstats on the same equity/returns series.

Runs in the peer environment (neither peer is a quantrun dependency; both are used as black
boxes)::

    make crosscheck     # = .venv-bench/bin/python benchmarks/metrics_crosscheck.py
    .venv-bench/bin/python benchmarks/metrics_crosscheck.py --dataset demo --timeframe 1h

One run: sma_crossover 10/30 (the current version), all in, long only, 10 bps per fill, cash
10,000, on one real month (default DOTUSDT 2025-11, 1h bars) or the demo. backtesting.py runs
the same trades (``FractionalBacktest``, fractional unit 1e-10, acting on quantrun's own
targets: the trade lists are checked to be identical first) and its ``stats`` are read;
quantstats gets quantrun's per-bar returns (and its trade returns / pnl / positions for the
trade-based ones) with ``periods`` = quantrun's annualisation factor.

For every metric and peer the table shows the peer's value, quantrun's value restated in the
peer's convention (the conversions of docs/metrics.md; the identity where the conventions
match) and their relative difference, which must be <= 1e-9. Exit status 1 otherwise.
Writes benchmarks/out/metrics_crosscheck.{json,md} (the table in docs/metrics.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from parity_backtesting import REAL_DIR, _strategy_class, datasets
from quantrun.data.resample import resample
from quantrun.data.timeframe import Timeframe
from quantrun.engine.risk import Costs, RiskConfig
from quantrun.engine.simulate import simulate
from quantrun.metrics import METRICS, compute_metrics

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"
CASH = 10_000.0
COMMISSION = 0.001
FRACTIONAL_UNIT = 1e-10
RTOL = 1e-9
DAY_US = 86_400_000_000
YEAR_US = 31_557_600_000_000  # 365.25 days
#: backtesting.py annualises daily figures with 365 days when the index has weekend bars.
BT_DAYS = 365
RISK = RiskConfig(
    position_fraction=1.0,
    stop_loss_pct=None,
    take_profit_pct=None,
    max_drawdown_halt_pct=None,
    allow_short=False,
)


@dataclass(frozen=True)
class Run:
    """quantrun's run and every series a conversion needs."""

    ts: np.ndarray
    equity: np.ndarray
    position: np.ndarray
    close: np.ndarray
    trades: pl.DataFrame
    timeframe_us: int
    metrics: dict[str, Any]

    @property
    def closed(self) -> pl.DataFrame:
        return self.trades.filter(pl.col("status") == "closed")

    @property
    def returns(self) -> np.ndarray:
        previous = np.concatenate(([CASH], self.equity[:-1]))
        out: np.ndarray = self.equity / previous - 1.0
        return out

    def value(self, metric: str) -> float | None:
        v = self.metrics[metric]["value"]
        return None if v is None else float(v)


# --- quantrun in backtesting.py's conventions (docs/metrics.md, "backtesting.py") ------------


def daily_returns(run: Run) -> np.ndarray:
    """Equity resampled to UTC calendar days (last bar of each day, stamped by its open time),
    then simple day-over-day returns: backtesting.py's sampling."""
    day = run.ts // DAY_US
    last_of_day = np.flatnonzero(np.diff(day, append=day[-1] + 1) != 0)
    daily = run.equity[last_of_day]
    out: np.ndarray = daily[1:] / daily[:-1] - 1.0
    return out


def bt_annual_return(run: Run) -> float:
    r = daily_returns(run)
    gmean = math.expm1(float(np.mean(np.log1p(r))))
    return (1.0 + gmean) ** BT_DAYS - 1.0


def bt_annual_volatility(run: Run) -> float:
    """The variance of a product of BT_DAYS independent daily growths with mean 1 + gmean."""
    r = daily_returns(run)
    gmean = math.expm1(float(np.mean(np.log1p(r))))
    var = float(np.var(r, ddof=1))
    return math.sqrt((var + (1.0 + gmean) ** 2) ** BT_DAYS - (1.0 + gmean) ** (2 * BT_DAYS))


def bt_sharpe(run: Run) -> float:
    return bt_annual_return(run) / bt_annual_volatility(run)


def bt_sortino(run: Run) -> float:
    r = daily_returns(run)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(BT_DAYS)
    return bt_annual_return(run) / downside


def bt_calmar(run: Run) -> float:
    return bt_annual_return(run) / abs(float(run.value("max_drawdown") or math.nan))


def bt_cagr(run: Run) -> float:
    """Growth over the span from the first to the LAST bar's open (quantrun: to its close)."""
    growth = float(run.equity[-1]) / CASH
    return float(growth ** (YEAR_US / float(run.ts[-1] - run.ts[0])) - 1.0)


def trade_returns(run: Run) -> np.ndarray:
    return np.asarray(run.closed["return"].to_numpy(), dtype=np.float64)


def bt_avg_trade(run: Run) -> float:
    """The geometric mean of trade returns."""
    return math.expm1(float(np.mean(np.log1p(trade_returns(run)))))


def bt_profit_factor(run: Run) -> float:
    """From trade returns, not pnl."""
    r = trade_returns(run)
    return float(r[r > 0].sum() / abs(r[r < 0].sum()))


def open_trades(run: Run) -> pl.DataFrame:
    return run.trades.filter(pl.col("status") == "open")


def bt_exposure(run: Run) -> float:
    """Bars during which a closed trade was open at any moment: from its entry bar to its exit
    bar inclusive (it exits at that bar's open). A trade still open at the end is left out
    (finalize_trades=False). quantrun counts the bars whose close finds a position."""
    closed = run.closed
    edges = np.zeros(run.position.size + 1, dtype=np.int64)
    np.add.at(edges, closed["entry_bar"].to_numpy(), 1)
    np.add.at(edges, closed["exit_bar"].to_numpy() + 1, -1)
    return float(np.count_nonzero(np.cumsum(edges)[:-1] > 0)) / run.position.size


def bt_commissions(run: Run) -> float:
    """Less the entry fee of a trade still open at the end (closed trades' fees only)."""
    return float(run.value("commissions_paid") or 0.0) - float(open_trades(run)["commission"].sum())


def qs_exposure(run: Run) -> float:
    """quantstats rounds the share of non-zero values UP to two decimals."""
    return math.ceil(float(run.value("exposure") or 0.0) * 100) / 100


def same(metric: str) -> Callable[[Run], float | None]:
    return lambda run: run.value(metric)


@dataclass(frozen=True)
class PeerValue:
    label: str  # the peer's name for it
    read: Callable[[Any], float]  # from the peer's results
    restate: Callable[[Run], float | None]  # quantrun's value in the peer's convention
    convention: str  # "same" or what the conversion does


def _bt(key: str, scale: float = 1.0) -> Callable[[Any], float]:
    return lambda stats: float(stats[key]) * scale


def _days(key: str) -> Callable[[Any], float]:
    return lambda stats: float(stats[key].total_seconds()) / 86_400


BT: dict[str, PeerValue] = {
    "total_return": PeerValue("Return [%]", _bt("Return [%]", 0.01), same("total_return"), "same"),
    "cagr": PeerValue(
        "CAGR [%]",
        _bt("CAGR [%]", 0.01),
        bt_cagr,
        "span to the last bar's open, not its close",
    ),
    "annual_return": PeerValue(
        "Return (Ann.) [%]",
        _bt("Return (Ann.) [%]", 0.01),
        bt_annual_return,
        "daily equity; (1 + geometric mean daily return)^365 - 1",
    ),
    "annual_volatility": PeerValue(
        "Volatility (Ann.) [%]",
        _bt("Volatility (Ann.) [%]", 0.01),
        bt_annual_volatility,
        "daily equity; sqrt((var + (1+g)^2)^365 - (1+g)^730), var ddof=1",
    ),
    "sharpe": PeerValue(
        "Sharpe Ratio", _bt("Sharpe Ratio"), bt_sharpe, "Return (Ann.) / Volatility (Ann.)"
    ),
    "sortino": PeerValue(
        "Sortino Ratio",
        _bt("Sortino Ratio"),
        bt_sortino,
        "Return (Ann.) / (daily downside deviation x sqrt(365))",
    ),
    "calmar": PeerValue(
        "Calmar Ratio", _bt("Calmar Ratio"), bt_calmar, "Return (Ann.) / |max drawdown|"
    ),
    "max_drawdown": PeerValue(
        "Max. Drawdown [%]", _bt("Max. Drawdown [%]", 0.01), same("max_drawdown"), "same"
    ),
    "max_drawdown_duration": PeerValue(
        "Max. Drawdown Duration",
        _days("Max. Drawdown Duration"),
        same("max_drawdown_duration"),
        "same",
    ),
    "trades": PeerValue("# Trades", _bt("# Trades"), same("trades"), "same"),
    "win_rate": PeerValue("Win Rate [%]", _bt("Win Rate [%]", 0.01), same("win_rate"), "same"),
    "profit_factor": PeerValue(
        "Profit Factor", _bt("Profit Factor"), bt_profit_factor, "from trade returns, not pnl"
    ),
    "best_trade": PeerValue(
        "Best Trade [%]", _bt("Best Trade [%]", 0.01), same("best_trade"), "same"
    ),
    "worst_trade": PeerValue(
        "Worst Trade [%]", _bt("Worst Trade [%]", 0.01), same("worst_trade"), "same"
    ),
    "avg_trade": PeerValue(
        "Expectancy [%]", _bt("Expectancy [%]", 0.01), same("avg_trade"), "same (its name)"
    ),
    "avg_trade/geometric": PeerValue(
        "Avg. Trade [%]", _bt("Avg. Trade [%]", 0.01), bt_avg_trade, "geometric mean"
    ),
    "exposure": PeerValue(
        "Exposure Time [%]",
        _bt("Exposure Time [%]", 0.01),
        bt_exposure,
        "closed trades, entry to exit bar inclusive",
    ),
    "sqn": PeerValue("SQN", _bt("SQN"), same("sqn"), "same"),
    "buy_and_hold_return": PeerValue(
        "Buy & Hold Return [%]",
        _bt("Buy & Hold Return [%]", 0.01),
        same("buy_and_hold_return"),
        "same",
    ),
    "commissions_paid": PeerValue(
        "Commissions [$]",
        _bt("Commissions [$]"),
        bt_commissions,
        "closed trades' fees only (finalize_trades=False)",
    ),
    "final_equity": PeerValue(
        "Equity Final [$]", _bt("Equity Final [$]"), same("final_equity"), "same"
    ),
}


@dataclass(frozen=True)
class QsInput:
    """What quantstats is given: quantrun's series as pandas objects."""

    qs: Any
    returns: Any  # per-bar returns, indexed by bar close time
    trade_returns: Any
    trade_pnl: Any
    position: Any
    factor: float


def _qs(call: Callable[[QsInput], Any]) -> Callable[[Any], float]:
    return lambda inp: float(call(inp))


QS: dict[str, PeerValue] = {
    "total_return": PeerValue(
        "comp", _qs(lambda i: i.qs.stats.comp(i.returns)), same("total_return"), "same"
    ),
    "cagr": PeerValue(
        "cagr(periods=factor)",
        _qs(lambda i: i.qs.stats.cagr(i.returns, periods=i.factor)),
        same("cagr"),
        "same (with periods = quantrun's factor)",
    ),
    "annual_volatility": PeerValue(
        "volatility(periods=factor)",
        _qs(lambda i: i.qs.stats.volatility(i.returns, periods=i.factor)),
        same("annual_volatility"),
        "same",
    ),
    "sharpe": PeerValue(
        "sharpe(periods=factor)",
        _qs(lambda i: i.qs.stats.sharpe(i.returns, periods=i.factor)),
        same("sharpe"),
        "same",
    ),
    "sortino": PeerValue(
        "sortino(periods=factor)",
        _qs(lambda i: i.qs.stats.sortino(i.returns, periods=i.factor)),
        same("sortino"),
        "same",
    ),
    "calmar": PeerValue(
        "calmar(periods=factor)",
        _qs(lambda i: i.qs.stats.calmar(i.returns, periods=i.factor)),
        same("calmar"),
        "same",
    ),
    "max_drawdown": PeerValue(
        "max_drawdown",
        _qs(lambda i: i.qs.stats.max_drawdown(i.returns)),
        same("max_drawdown"),
        "same",
    ),
    "win_rate": PeerValue(
        "win_rate(trade pnl)",
        _qs(lambda i: i.qs.stats.win_rate(i.trade_pnl, prepare_returns=False)),
        same("win_rate"),
        "same, given one value per closed trade",
    ),
    "profit_factor": PeerValue(
        "profit_factor(trade pnl)",
        _qs(lambda i: i.qs.stats.profit_factor(i.trade_pnl, prepare_returns=False)),
        same("profit_factor"),
        "same, given one value per closed trade",
    ),
    "best_trade": PeerValue(
        "best(trade returns)",
        _qs(lambda i: i.qs.stats.best(i.trade_returns, prepare_returns=False)),
        same("best_trade"),
        "same",
    ),
    "worst_trade": PeerValue(
        "worst(trade returns)",
        _qs(lambda i: i.qs.stats.worst(i.trade_returns, prepare_returns=False)),
        same("worst_trade"),
        "same",
    ),
    "exposure": PeerValue(
        "exposure(positions)",
        _qs(lambda i: i.qs.stats.exposure(i.position, prepare_returns=False)),
        qs_exposure,
        "rounded up to 2 decimals",
    ),
}


# --- the runs ------------------------------------------------------------------------------


def run_quantrun(
    bars: pl.DataFrame, timeframe: str, version: str | None = None
) -> tuple[Run, np.ndarray]:
    """sma_crossover 10/30 at ``version`` (None: the current one), with its metrics."""
    costs = Costs(commission_bps=COMMISSION * 10_000, slippage_bps=0.0, initial_cash=CASH)
    params = {"fast": 10, "slow": 30}
    result = simulate(bars, "sma_crossover", params, RISK, costs, version=version)
    tf_us = Timeframe.parse(timeframe).micros
    metrics = compute_metrics(
        ts=result.ts,
        equity=result.equity,
        position=result.position,
        close=bars["close"].to_numpy(),
        trades=result.trades,
        initial_cash=CASH,
        timeframe_micros=tf_us,
        commissions_paid=result.commissions_paid,
        ambiguous_bars=result.ambiguous_bars,
    )
    run = Run(
        ts=result.ts,
        equity=result.equity,
        position=result.position,
        close=bars["close"].to_numpy(),
        trades=result.trades,
        timeframe_us=tf_us,
        metrics=metrics,
    )
    return run, result.signals.target


def run_backtesting(bars: pl.DataFrame, target: np.ndarray) -> Any:
    os.environ.setdefault("TQDM_DISABLE", "1")
    pd = importlib.import_module("pandas")
    bt = importlib.import_module("backtesting")
    lib = importlib.import_module("backtesting.lib")
    peers = type("P", (), {"bt": bt})()
    strategy = _strategy_class(peers, [int(t) for t in target], RISK, bars["open"].to_numpy())
    index = pd.DatetimeIndex(pd.to_datetime(bars["ts"].to_numpy(), unit="us"))
    columns = {c.capitalize(): bars[c].to_numpy() for c in ("open", "high", "low", "close")}
    data = pd.DataFrame(columns | {"Volume": bars["volume"].to_numpy()}, index=index)
    backtest = lib.FractionalBacktest(
        data,
        strategy,
        cash=CASH,
        commission=COMMISSION,
        trade_on_close=False,
        exclusive_orders=False,
        finalize_trades=False,
        fractional_unit=FRACTIONAL_UNIT,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return backtest.run()


def check_same_trades(run: Run, stats: Any) -> dict[str, Any]:
    closed = run.closed
    peer = stats["_trades"]
    entry = [int(b) for b in peer["EntryBar"]]
    exit_ = [int(b) for b in peer["ExitBar"]]
    same_bars = entry == closed["entry_bar"].to_list() and exit_ == closed["exit_bar"].to_list()
    pnl_q = closed["pnl"].to_numpy()
    pnl_b = peer["PnL"].to_numpy(dtype=np.float64)
    return {
        "closed_trades": [closed.height, len(peer)],
        "same_entry_and_exit_bars": bool(same_bars),
        "max_pnl_rel_diff_to_notional": float(
            np.max(
                np.abs(pnl_q - pnl_b)
                / (closed["quantity"].to_numpy() * closed["entry_price"].to_numpy())
            )
        )
        if closed.height == len(peer) and closed.height
        else None,
    }


def quantstats_input(run: Run) -> QsInput:
    qs = importlib.import_module("quantstats")
    pd = importlib.import_module("pandas")
    close_time = pd.to_datetime(run.ts + run.timeframe_us, unit="us")
    closed = run.closed
    trade_index = pd.to_datetime(closed["exit_ts"].to_numpy(), unit="us")
    return QsInput(
        qs=qs,
        returns=pd.Series(run.returns, index=close_time),
        trade_returns=pd.Series(trade_returns(run), index=trade_index),
        trade_pnl=pd.Series(closed["pnl"].to_numpy(), index=trade_index),
        position=pd.Series(run.position, index=close_time),
        factor=float(run.metrics["sharpe"]["convention"]["annualisation_factor"]),
    )


def _rel(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return None
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def compare(run: Run, source: Any, table: dict[str, PeerValue]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, peer in table.items():
        value = peer.read(source)
        restated = peer.restate(run)
        rel = _rel(value, restated)
        out[key] = {
            "peer_label": peer.label,
            "peer": value,
            "quantrun_restated": restated,
            "rel_diff": rel,
            "convention": peer.convention,
            "ok": rel is not None and rel <= RTOL,
        }
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.10g}"


def markdown(run: Run, bt: dict[str, Any], qs: dict[str, Any], title: str) -> str:
    lines = [
        f"**{title}**",
        "",
        "| metric | quantrun | backtesting.py | quantrun in its convention | rel diff "
        "| quantstats | quantrun in its convention | rel diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in METRICS:
        for key in (spec.id, f"{spec.id}/geometric"):
            b = bt.get(key)
            q = qs.get(key) if key == spec.id else None
            if key != spec.id and b is None:
                continue
            name = f"`{spec.id}`" if key == spec.id else f"`{spec.id}` (geometric)"
            cells = [name, _fmt(run.value(spec.id)) if key == spec.id else ""]
            for side in (b, q):
                if side is None:
                    cells += ["—", "", ""]
                else:
                    cells += [
                        f"{_fmt(side['peer'])} ({side['peer_label']})",
                        f"{_fmt(side['quantrun_restated'])}"
                        + ("" if side["convention"].startswith("same") else " *"),
                        "—" if side["rel_diff"] is None else f"{side['rel_diff']:.1e}",
                    ]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "`*`: restated with the conversion in the peer's section below; unmarked values are the "
        "metric itself (the same convention)."
    )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--real", type=Path, default=REAL_DIR, help="folder of real 1m months")
    parser.add_argument("--dataset", default="DOTUSDT-2025-11", help="a month or 'demo'")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "metrics_crosscheck.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    found = datasets(args.real, [args.dataset])
    if args.dataset not in found:
        print(f"SKIP {args.dataset}: not found; cross-checking the demo instead")
        args.dataset = "demo"
        found = datasets(args.real, ["demo"])
    bars = resample(found[args.dataset], args.timeframe).bars
    run, target = run_quantrun(bars, args.timeframe)
    stats = run_backtesting(bars, target)
    trades = check_same_trades(run, stats)
    bt = compare(run, stats, BT)
    qs = compare(run, quantstats_input(run), QS)
    title = (
        f"{args.dataset}, {args.timeframe} bars ({bars.height:,}), sma_crossover 10/30 "
        f"v{simulate_version()}, all in, long only, 10 bps per fill, cash 10,000"
    )
    ok = trades["same_entry_and_exit_bars"] and all(v["ok"] for v in [*bt.values(), *qs.values()])
    failed = [f"bt:{k}" for k, v in bt.items() if not v["ok"]]
    failed += [f"qs:{k}" for k, v in qs.items() if not v["ok"]]
    result = {
        "title": title,
        "trades": trades,
        "quantrun": {k: v["value"] for k, v in run.metrics.items()},
        "backtesting": bt,
        "quantstats": qs,
        "versions": {
            p: metadata.version(p) for p in ("quantrun", "backtesting", "quantstats", "pandas")
        },
        "passes": ok,
        "failed": failed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    text = markdown(run, bt, qs, title)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    print(f"same trades: {trades}")
    print(f"metrics cross-check: {'PASS' if ok else 'FAIL ' + ', '.join(failed)}; wrote {args.out}")
    return 0 if ok else 1


def simulate_version() -> str:
    from quantrun.strategies.registry import get

    return get("sma_crossover").version


if __name__ == "__main__":
    sys.exit(main())

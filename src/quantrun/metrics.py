"""The metric table: every performance number a run reports, with its formula and convention.

``METRICS`` is the one table the engine's artifacts, the CLI, the UI, ``docs/metrics.md`` and the
tests read. :func:`compute_metrics` turns one simulated equity path and its trade list into
``{metric_id: {"value", "label", "unit", "convention"}}`` in table order.

Conventions (recorded in every metric's ``convention`` so a number can be compared with another
tool's):

- **Sampling** — one simple return per bar, from equity marked at the bar's close; the first
  bar's return is measured from the initial cash.
- **Annualisation** — the observed bar frequency: ``bars / span_years`` with
  ``span = last bar open + timeframe - first bar open`` and a year of 365.25 days. It fits 24/7
  crypto, exchange sessions and data with gaps alike, without guessing a calendar.
- **Risk-free rate** — an annual fraction, turned into a per-bar rate by compounding:
  ``(1 + rf) ** (1 / bars_per_year) - 1``.
- **Trades** — trade metrics count closed trades only; an open trade still shows in exposure,
  commissions and final equity.
- **Undefined** — a metric that cannot be computed (no trades, zero spread, one bar, ...) is
  ``None`` with ``convention["undefined_reason"]``; never NaN or inf, so the result can be
  written as canonical JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from quantrun.errors import ErrorCode, error

Unit = Literal["fraction", "ratio", "currency", "days", "count"]
Scope = Literal["bars", "closed_trades", "run"]

DAY_MICROS = 86_400_000_000
YEAR_DAYS = 365.25
YEAR_MICROS = 31_557_600_000_000  # 365.25 days in microseconds
# A spread at or below this fraction of the largest magnitude is float noise, not dispersion.
NUMERICAL_ZERO = 1e-12

ANNUALISATION_BASIS = (
    "observed bar frequency: bars_per_year = number_of_bars / span_years, "
    "span = last bar open + timeframe - first bar open, year = 365.25 days"
)
SAMPLING = (
    "per bar, equity marked at bar close; the first bar's return is measured from the initial cash"
)
CLOSED_TRADES_ONLY = "closed trades only"


@dataclass(frozen=True)
class MetricSpec:
    """One metric: a stable id, how people read it, and exactly how it is computed."""

    id: str
    label: str
    unit: Unit
    formula: str
    convention_note: str
    scope: Scope = "bars"


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "total_return",
        "Total return",
        "fraction",
        "final_equity / initial_cash - 1",
        "Includes an open trade marked to the last close.",
    ),
    MetricSpec(
        "cagr",
        "CAGR",
        "fraction",
        "(final_equity / initial_cash) ^ (1 / span_years) - 1, "
        "span_years = (ts[-1] + timeframe - ts[0]) / (365.25 days)",
        "Geometric (compounded) annual growth over the observed span; a span much shorter than "
        "a year extrapolates aggressively.",
    ),
    MetricSpec(
        "annual_return",
        "Annual return (arithmetic)",
        "fraction",
        "mean(r) * bars_per_year, r[i] = equity[i] / equity[i-1] - 1, equity[-1] = initial_cash",
        "Arithmetic mean of per-bar simple returns, scaled linearly; not compounded (see cagr).",
    ),
    MetricSpec(
        "annual_volatility",
        "Annual volatility",
        "fraction",
        "std(r, ddof=1) * sqrt(bars_per_year)",
        "Sample standard deviation of per-bar simple returns; needs at least two bars.",
    ),
    MetricSpec(
        "sharpe",
        "Sharpe ratio",
        "ratio",
        "mean(r - rf_bar) / std(r - rf_bar, ddof=1) * sqrt(bars_per_year), "
        "rf_bar = (1 + risk_free_rate) ^ (1 / bars_per_year) - 1",
        "Per-bar excess returns annualised by sqrt(bars_per_year); undefined when the spread of "
        "returns is zero.",
    ),
    MetricSpec(
        "sortino",
        "Sortino ratio",
        "ratio",
        "mean(r - rf_bar) / downside_deviation * sqrt(bars_per_year), "
        "downside_deviation = sqrt(mean(min(r - rf_bar, 0) ^ 2)) over all bars",
        "The downside deviation averages over ALL bars (bars above the risk-free rate count as "
        "0), not only the losing ones; target return = rf_bar.",
    ),
    MetricSpec(
        "calmar",
        "Calmar ratio",
        "ratio",
        "cagr / |max_drawdown|",
        "Uses the whole run (not a trailing 36 months); undefined without a drawdown.",
    ),
    MetricSpec(
        "max_drawdown",
        "Max drawdown",
        "fraction",
        "min over bars of (equity[i] / peak[i] - 1), peak[i] = max(initial_cash, equity[0..i])",
        "A negative fraction (0 when equity never fell below its running peak); the initial "
        "cash is the first peak.",
    ),
    MetricSpec(
        "max_drawdown_duration",
        "Max drawdown duration",
        "days",
        "max over drawdowns of (time equity first gets back to the peak, or the last bar if it "
        "never does) - (time of the peak), in days",
        "Times are bar times: bar i's equity is stamped at its close (ts[i] + timeframe) and the "
        "initial cash at ts[0], so between two bars it is the difference of their open times. "
        "Recovery means equity >= the earlier peak. 0 when there was no drawdown.",
    ),
    MetricSpec(
        "trades",
        "Closed trades",
        "count",
        "N = number of trades with status closed",
        "A trade still open at the end is not counted.",
        "closed_trades",
    ),
    MetricSpec(
        "win_rate",
        "Win rate",
        "fraction",
        "count(pnl > 0) / N",
        "A trade with pnl exactly 0 is not a win; pnl is net of commission.",
        "closed_trades",
    ),
    MetricSpec(
        "profit_factor",
        "Profit factor",
        "ratio",
        "sum(pnl where pnl > 0) / |sum(pnl where pnl < 0)|",
        "From net pnl in currency; undefined when no trade lost money.",
        "closed_trades",
    ),
    MetricSpec(
        "expectancy",
        "Expectancy",
        "currency",
        "mean(pnl) = sum(pnl) / N",
        "Average net pnl per closed trade, in account currency.",
        "closed_trades",
    ),
    MetricSpec(
        "best_trade",
        "Best trade",
        "fraction",
        "max(return), return = net pnl / entry notional",
        "Per-trade return net of commission.",
        "closed_trades",
    ),
    MetricSpec(
        "worst_trade",
        "Worst trade",
        "fraction",
        "min(return), return = net pnl / entry notional",
        "Per-trade return net of commission.",
        "closed_trades",
    ),
    MetricSpec(
        "avg_trade",
        "Average trade",
        "fraction",
        "mean(return) = sum(return) / N",
        "Arithmetic mean of per-trade returns (not geometric).",
        "closed_trades",
    ),
    MetricSpec(
        "exposure",
        "Exposure",
        "fraction",
        "count(position[i] != 0) / number_of_bars",
        "Position as held at each bar's close; bars of a still-open trade count.",
    ),
    MetricSpec(
        "sqn",
        "System quality number",
        "ratio",
        "sqrt(N) * mean(pnl) / std(pnl, ddof=1)",
        "Van Tharp's SQN on net pnl in currency; needs at least two closed trades.",
        "closed_trades",
    ),
    MetricSpec(
        "buy_and_hold_return",
        "Buy & hold return",
        "fraction",
        "close[-1] / close[0] - 1",
        "From the FIRST bar's close (not its open) to the last close, without costs; the same "
        "convention as backtesting.py.",
    ),
    MetricSpec(
        "commissions_paid",
        "Commissions paid",
        "currency",
        "sum of every commission charged",
        "Includes the entry fee of a trade still open at the end; slippage is not a commission.",
        "run",
    ),
    MetricSpec(
        "final_equity",
        "Final equity",
        "currency",
        "equity[-1]",
        "Cash plus any open position marked at the last close.",
        "run",
    ),
    MetricSpec(
        "ambiguous_bars",
        "Ambiguous bars",
        "count",
        "number of bars where stop and target both fell inside the bar",
        "The stop was assumed to fill first on each of these bars.",
        "run",
    ),
)

Value = float | int | None
_Outcome = tuple[Value, str | None]


def metric_ids() -> list[str]:
    """The metric ids in table order, e.g. ``["total_return", "cagr", ...]``."""
    return [spec.id for spec in METRICS]


def compute_metrics(
    *,
    ts: np.ndarray,
    equity: np.ndarray,
    position: np.ndarray,
    close: np.ndarray,
    trades: pl.DataFrame,
    initial_cash: float,
    timeframe_micros: int,
    commissions_paid: float,
    ambiguous_bars: int,
    risk_free_rate: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """Every metric of ``METRICS`` for one run, in table order.

    ``ts`` holds each bar's open time (int64 epoch µs, UTC, ascending); ``equity``, ``position``
    and ``close`` are as of each bar's close. ``trades`` has one row per trade with at least
    ``status`` ("closed"/"open"), ``pnl`` and ``return``. Each entry is
    ``{"value": float | int | None, "label", "unit", "convention": {...}}``; a ``None`` value
    carries ``convention["undefined_reason"]``::

        result = compute_metrics(ts=ts, equity=equity, ..., risk_free_rate=0.02)
        result["sharpe"]["value"], result["sharpe"]["convention"]["annualisation_factor"]
    """
    ts_arr, equity_arr, position_arr, close_arr = _checked_series(ts, equity, position, close)
    if not (math.isfinite(initial_cash) and initial_cash > 0):
        raise error(ErrorCode.INTERNAL, f"initial cash must be above zero, got {initial_cash!r}")
    if timeframe_micros <= 0:
        raise error(ErrorCode.INTERNAL, f"timeframe must be positive, got {timeframe_micros} µs")
    if not (math.isfinite(risk_free_rate) and risk_free_rate > -1.0):
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"risk-free rate must be a finite annual fraction above -1, got {risk_free_rate!r}",
        )
    if not math.isfinite(commissions_paid):
        raise error(ErrorCode.INTERNAL, "commissions paid is not a finite number")
    pnl, returns, open_trades = _closed_trades(trades)

    bars = int(ts_arr.size)
    timeframe_micros = int(timeframe_micros)  # Python ints: bars * YEAR_MICROS overflows int64
    span_micros = int(ts_arr[-1]) + timeframe_micros - int(ts_arr[0]) if bars else 0
    factor = bars * YEAR_MICROS / span_micros if bars else None
    span_years = span_micros / YEAR_MICROS
    rf_bar = (1.0 + risk_free_rate) ** (1.0 / factor) - 1.0 if factor else None
    common: dict[str, Any] = {
        "annualisation_factor": factor,
        "annualisation_basis": ANNUALISATION_BASIS,
        "bars": bars,
        "span_days": span_micros / DAY_MICROS,
        "sampling": SAMPLING,
        "risk_free_rate": float(risk_free_rate),
        "risk_free_rate_per_bar": rf_bar,
    }

    outcomes: dict[str, _Outcome] = {}
    outcomes.update(_return_metrics(equity_arr, float(initial_cash), span_years, factor, rf_bar))
    outcomes.update(_drawdown_metrics(ts_arr, equity_arr, float(initial_cash), timeframe_micros))
    outcomes["calmar"] = _calmar(outcomes["cagr"], outcomes["max_drawdown"][0])
    outcomes.update(_trade_metrics(pnl, returns))
    outcomes["exposure"] = (
        (float(np.count_nonzero(position_arr)) / bars, None) if bars else (None, "no bars")
    )
    outcomes["buy_and_hold_return"] = _buy_and_hold(close_arr)
    outcomes["commissions_paid"] = (float(commissions_paid), None)
    outcomes["final_equity"] = (float(equity_arr[-1]), None) if bars else (None, "no bars")
    outcomes["ambiguous_bars"] = (int(ambiguous_bars), None)

    result: dict[str, dict[str, Any]] = {}
    for spec in METRICS:
        value, reason = outcomes[spec.id]
        convention = dict(common)
        convention["note"] = spec.convention_note
        if spec.scope == "closed_trades":
            convention["trades_counted"] = CLOSED_TRADES_ONLY
            convention["open_trades_excluded"] = open_trades
        if value is None:
            convention["undefined_reason"] = reason
        result[spec.id] = {
            "value": value,
            "label": spec.label,
            "unit": spec.unit,
            "convention": convention,
        }
    return result


def _checked_series(
    ts: np.ndarray, equity: np.ndarray, position: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ts_arr = np.asarray(ts, dtype=np.int64)
    arrays = [np.asarray(a, dtype=np.float64) for a in (equity, position, close)]
    lengths = {ts_arr.size, *(a.size for a in arrays)}
    if len(lengths) != 1 or any(a.ndim != 1 for a in (ts_arr, *arrays)):
        raise error(ErrorCode.INTERNAL, "metric inputs must be 1-D arrays of one length")
    if ts_arr.size > 1 and not bool(np.all(np.diff(ts_arr) > 0)):
        raise error(ErrorCode.INTERNAL, "bar times must be strictly ascending")
    if not all(bool(np.all(np.isfinite(a))) for a in arrays):
        raise error(ErrorCode.INTERNAL, "equity, position and close must be finite")
    return ts_arr, arrays[0], arrays[1], arrays[2]


def _closed_trades(trades: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """(pnl, return) of closed trades, and how many open trades were left out."""
    if trades.height == 0:
        return np.empty(0), np.empty(0), 0
    missing = {"status", "pnl", "return"} - set(trades.columns)
    if missing:
        raise error(ErrorCode.INTERNAL, f"trade list lacks columns {sorted(missing)}")
    is_closed = trades["status"] == "closed"
    closed = trades.filter(is_closed)
    open_trades = trades.height - closed.height
    pnl = closed["pnl"].cast(pl.Float64)
    returns = closed["return"].cast(pl.Float64)
    if pnl.null_count() or returns.null_count():
        raise error(ErrorCode.INTERNAL, "a closed trade has no pnl or return")
    pnl_arr, returns_arr = pnl.to_numpy(), returns.to_numpy()
    if not (bool(np.all(np.isfinite(pnl_arr))) and bool(np.all(np.isfinite(returns_arr)))):
        raise error(ErrorCode.INTERNAL, "a closed trade has a non-finite pnl or return")
    return pnl_arr, returns_arr, open_trades


def _is_numerically_zero(spread: float, values: np.ndarray) -> bool:
    return spread <= NUMERICAL_ZERO * float(np.max(np.abs(values)))


def _return_metrics(
    equity: np.ndarray,
    initial_cash: float,
    span_years: float,
    factor: float | None,
    rf_bar: float | None,
) -> dict[str, _Outcome]:
    ids = ("total_return", "cagr", "annual_return", "annual_volatility", "sharpe", "sortino")
    if factor is None or rf_bar is None:
        return dict.fromkeys(ids, (None, "no bars"))
    out: dict[str, _Outcome] = {}
    growth = float(equity[-1]) / initial_cash
    out["total_return"] = (growth - 1.0, None)
    out["cagr"] = _cagr(growth, span_years)

    previous = np.concatenate(([initial_cash], equity[:-1]))
    if bool(np.any(previous <= 0)):
        reason = "equity reached zero or below, so per-bar returns are undefined"
        out.update(dict.fromkeys(ids[2:], (None, reason)))
        return out
    r = equity / previous - 1.0
    mean = float(np.mean(r))
    out["annual_return"] = (mean * factor, None)
    if r.size < 2:
        reason = "fewer than two bars: the sample standard deviation needs two returns"
        out.update(dict.fromkeys(ids[3:], (None, reason)))
        return out
    std = float(np.std(r, ddof=1))
    out["annual_volatility"] = (std * math.sqrt(factor), None)

    if rf_bar == 0.0:  # the excess returns are the returns, bit for bit (r - 0.0 == r)
        excess, mean_excess, std_excess = r, mean, std
    else:
        excess = r - rf_bar
        mean_excess = float(np.mean(excess))
        std_excess = float(np.std(excess, ddof=1))
    if _is_numerically_zero(std_excess, excess):
        out["sharpe"] = (None, "per-bar returns have zero standard deviation")
    else:
        out["sharpe"] = (mean_excess / std_excess * math.sqrt(factor), None)
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    if _is_numerically_zero(downside, excess):
        out["sortino"] = (None, "no bar returned less than the risk-free rate (zero downside)")
    else:
        out["sortino"] = (mean_excess / downside * math.sqrt(factor), None)
    return out


def _cagr(growth: float, span_years: float) -> _Outcome:
    if growth < 0:
        return None, "final equity is negative, so there is no compound growth rate"
    try:
        value = growth ** (1.0 / span_years) - 1.0
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        return None, "the compound rate overflows: the span is too short to annualise"
    return value, None


def _calmar(cagr: _Outcome, max_drawdown: Value) -> _Outcome:
    value, reason = cagr
    if value is None:
        return None, f"cagr is undefined: {reason}"
    if max_drawdown is None:
        return None, "no bars"
    if max_drawdown == 0:
        return None, "no drawdown: max_drawdown is 0"
    return float(value) / abs(float(max_drawdown)), None


def _drawdown_metrics(
    ts: np.ndarray, equity: np.ndarray, initial_cash: float, timeframe_micros: int
) -> dict[str, _Outcome]:
    if ts.size == 0:
        return {"max_drawdown": (None, "no bars"), "max_drawdown_duration": (None, "no bars")}
    # Marks: the initial cash at the first bar's open, then each bar's equity at its close.
    marks = np.concatenate(([initial_cash], equity))
    times = np.concatenate((ts[:1], ts + np.int64(timeframe_micros)))
    peak = np.maximum.accumulate(marks)
    max_drawdown = float(np.min(marks / peak - 1.0))

    at_peak = np.flatnonzero(marks >= peak)
    underwater_between = np.diff(at_peak) > 1
    spells = times[at_peak[1:][underwater_between]] - times[at_peak[:-1][underwater_between]]
    longest = int(spells.max()) if spells.size else 0
    if at_peak[-1] != marks.size - 1:  # never recovered: the spell runs to the last bar
        longest = max(longest, int(times[-1] - times[at_peak[-1]]))
    return {
        "max_drawdown": (max_drawdown, None),
        "max_drawdown_duration": (longest / DAY_MICROS, None),
    }


def _trade_metrics(pnl: np.ndarray, returns: np.ndarray) -> dict[str, _Outcome]:
    n = int(pnl.size)
    out: dict[str, _Outcome] = {"trades": (n, None)}
    ids = ("win_rate", "profit_factor", "expectancy", "best_trade", "worst_trade", "avg_trade")
    if n == 0:
        out.update(dict.fromkeys(ids, (None, "no closed trades")))
        out["sqn"] = (None, "no closed trades")
        return out
    out["win_rate"] = (int(np.count_nonzero(pnl > 0)) / n, None)
    gross_profit = float(np.sum(pnl[pnl > 0]))
    gross_loss = float(np.sum(pnl[pnl < 0]))
    if gross_loss == 0:
        out["profit_factor"] = (None, "no losing closed trade: gross loss is 0")
    else:
        out["profit_factor"] = (gross_profit / abs(gross_loss), None)
    out["expectancy"] = (float(np.mean(pnl)), None)
    out["best_trade"] = (float(np.max(returns)), None)
    out["worst_trade"] = (float(np.min(returns)), None)
    out["avg_trade"] = (float(np.mean(returns)), None)
    if n < 2:
        out["sqn"] = (None, "fewer than two closed trades: std(pnl, ddof=1) needs two")
        return out
    std = float(np.std(pnl, ddof=1))
    if _is_numerically_zero(std, pnl):
        out["sqn"] = (None, "every closed trade has the same pnl: zero standard deviation")
    else:
        out["sqn"] = (math.sqrt(n) * float(np.mean(pnl)) / std, None)
    return out


def _buy_and_hold(close: np.ndarray) -> _Outcome:
    if close.size == 0:
        return None, "no bars"
    first = float(close[0])
    if first <= 0:
        return None, "the first close is not above zero"
    return float(close[-1]) / first - 1.0, None

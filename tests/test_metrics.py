"""Metrics: golden numbers worked out by hand, the undefined cases, and the table's integrity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from quantrun.canonical import canonical_bytes
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.metrics import METRICS, compute_metrics, metric_ids

DAY = 86_400_000_000
MINUTE = 60_000_000
T0 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in epoch µs
TRADE_METRICS = (
    "win_rate",
    "profit_factor",
    "expectancy",
    "best_trade",
    "worst_trade",
    "avg_trade",
    "sqn",
)


def approx(value: float | Fraction) -> Any:
    return pytest.approx(float(value), rel=1e-12, abs=0.0)


def trade_frame(
    pnl: Sequence[float], returns: Sequence[float], status: Sequence[str] | None = None
) -> pl.DataFrame:
    n = len(pnl)
    status = list(status) if status is not None else ["closed"] * n
    return pl.DataFrame(
        {
            "status": status,
            "pnl": list(pnl),
            "return": list(returns),
            "commission": [0.5] * n,
            "entry_ts": [T0 + i * DAY for i in range(n)],
            "exit_ts": [None if s == "open" else T0 + (i + 1) * DAY for i, s in enumerate(status)],
        },
        schema={
            "status": pl.String,
            "pnl": pl.Float64,
            "return": pl.Float64,
            "commission": pl.Float64,
            "entry_ts": pl.Int64,
            "exit_ts": pl.Int64,
        },
    )


NO_TRADES = trade_frame([], [])


def run(
    equity: Sequence[float],
    *,
    step: int = DAY,
    ts: Sequence[int] | None = None,
    position: Sequence[float] | None = None,
    close: Sequence[float] | None = None,
    trades: pl.DataFrame = NO_TRADES,
    initial_cash: float = 100.0,
    commissions_paid: float = 0.0,
    ambiguous_bars: int = 0,
    risk_free_rate: float = 0.0,
) -> dict[str, dict[str, Any]]:
    n = len(equity)
    return compute_metrics(
        ts=np.array(ts if ts is not None else [T0 + i * step for i in range(n)], dtype=np.int64),
        equity=np.array(equity, dtype=np.float64),
        position=np.array(position if position is not None else [0.0] * n, dtype=np.float64),
        close=np.array(close if close is not None else [50.0] * n, dtype=np.float64),
        trades=trades,
        initial_cash=initial_cash,
        timeframe_micros=step,
        commissions_paid=commissions_paid,
        ambiguous_bars=ambiguous_bars,
        risk_free_rate=risk_free_rate,
    )


def values(result: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: v["value"] for k, v in result.items()}


# --- the golden example -------------------------------------------------------------------------
# Five daily bars from 2024-01-01, initial cash 100. Equity at each close: 100, 110, 99, 108.9,
# 118.8. Three closed trades with net pnl 10, -11, 19.8 (sum 18.8 = 118.8 - 100) and returns
# 0.1, -0.1, 0.2. Closes 50 -> 60. Fees 1.5 in all, one ambiguous bar.
GOLDEN_EQUITY = [100.0, 110.0, 99.0, 108.9, 118.8]
GOLDEN_TRADES = trade_frame([10.0, -11.0, 19.8], [0.1, -0.1, 0.2])


def golden(risk_free_rate: float = 0.0) -> dict[str, dict[str, Any]]:
    return run(
        GOLDEN_EQUITY,
        position=[0.0, 2.0, 2.0, 0.0, 1.5],
        close=[50.0, 55.0, 49.5, 54.45, 60.0],
        trades=GOLDEN_TRADES,
        commissions_paid=1.5,
        ambiguous_bars=1,
        risk_free_rate=risk_free_rate,
    )


# Annualisation: 5 bars over a span of 5 days (last open + 1 day - first open) = 5 / 365.25 years,
# so bars_per_year = 5 / (5 / 365.25) = 365.25.
FACTOR = 365.25
SPAN_YEARS = Fraction(5) / Fraction("365.25")
# Per-bar returns, the first from the initial cash: 100/100-1, 110/100-1, 99/110-1, 108.9/99-1,
# 118.8/108.9-1 = 0, 1/10, -1/10, 1/10, 1/11.
R = [Fraction(0), Fraction(1, 10), Fraction(-1, 10), Fraction(1, 10), Fraction(1, 11)]
MEAN_R = sum(R) / 5  # (1/10 + 1/11) / 5 = 21/550
# Sample variance: (sum r^2 - 5 mean^2) / 4 = (463/12100 - 441/60500) / 4 = 937/121000
VAR_R = (sum(x * x for x in R) - 5 * MEAN_R**2) / 4
STD_R = math.sqrt(VAR_R)
# Downside deviation over ALL five bars (rf = 0): only -1/10 is below 0 -> sqrt((1/100) / 5)
DOWNSIDE = math.sqrt(Fraction(1, 100) / 5)
CAGR = 1.188 ** (1 / float(SPAN_YEARS)) - 1  # 1.188^73.05 - 1
# Trades: pnl 10, -11, 99/5 -> mean 94/15, sample variance (15326/25 - 3*(94/15)^2)/2 = 18571/75
PNL = [Fraction(10), Fraction(-11), Fraction(99, 5)]
MEAN_PNL = sum(PNL) / 3
VAR_PNL = (sum(x * x for x in PNL) - 3 * MEAN_PNL**2) / 2


def test_golden_hand_computed_values() -> None:
    got = values(golden())
    assert Fraction(21, 550) == MEAN_R
    assert Fraction(937, 121000) == VAR_R
    assert Fraction(18571, 75) == VAR_PNL
    assert got["total_return"] == approx(Fraction("0.188"))  # 118.8 / 100 - 1
    assert got["cagr"] == approx(CAGR)
    assert got["annual_return"] == approx(MEAN_R * Fraction("365.25"))
    assert got["annual_volatility"] == approx(STD_R * math.sqrt(FACTOR))
    assert got["sharpe"] == approx(float(MEAN_R) / STD_R * math.sqrt(FACTOR))
    assert got["sortino"] == approx(float(MEAN_R) / DOWNSIDE * math.sqrt(FACTOR))
    assert got["max_drawdown"] == approx(Fraction(-1, 10))  # 99 / 110 - 1
    assert got["calmar"] == approx(CAGR / 0.1)
    # Peak 110 at bar 1 (2024-01-02), first back at/above it at bar 4 (2024-01-05): 3 days.
    assert got["max_drawdown_duration"] == 3.0
    assert got["trades"] == 3
    assert got["win_rate"] == approx(Fraction(2, 3))
    assert got["profit_factor"] == approx((10 + 19.8) / 11)  # 29.8 / |-11|
    assert got["expectancy"] == approx(Fraction(94, 15))  # 18.8 / 3
    assert got["best_trade"] == approx(Fraction(1, 5))
    assert got["worst_trade"] == approx(Fraction(-1, 10))
    assert got["avg_trade"] == approx(Fraction(1, 15))  # (0.1 - 0.1 + 0.2) / 3
    assert got["exposure"] == approx(Fraction(3, 5))  # non-zero position at closes 1, 2, 4
    assert got["sqn"] == approx(math.sqrt(3) * float(MEAN_PNL) / math.sqrt(VAR_PNL))
    assert got["buy_and_hold_return"] == approx(Fraction(1, 5))  # 60 / 50 - 1
    assert got["commissions_paid"] == 1.5
    assert got["final_equity"] == 118.8
    assert got["ambiguous_bars"] == 1
    assert isinstance(got["trades"], int) and isinstance(got["ambiguous_bars"], int)


def test_golden_rounded_values_read_as_expected() -> None:
    # The same numbers to a few digits, as a person would check them on the run page.
    got = values(golden())
    assert round(got["sharpe"], 4) == 8.2923
    assert round(got["sortino"], 4) == 16.3169
    assert round(got["annual_volatility"], 4) == 1.6818
    assert round(got["sqn"], 4) == 0.6898


def test_golden_with_a_risk_free_rate() -> None:
    got = values(golden(risk_free_rate=0.05))
    rf_bar = 1.05 ** (1 / FACTOR) - 1  # (1 + rf)^(1 / bars_per_year) - 1
    mean_excess = float(MEAN_R) - rf_bar
    # Excess returns -rf_bar, 0.1-rf_bar, -0.1-rf_bar, 0.1-rf_bar, 1/11-rf_bar: two below 0.
    downside = math.sqrt((rf_bar**2 + (0.1 + rf_bar) ** 2) / 5)
    assert got["sharpe"] == approx(mean_excess / STD_R * math.sqrt(FACTOR))
    assert got["sortino"] == approx(mean_excess / downside * math.sqrt(FACTOR))
    # rf changes nothing else
    assert got["annual_return"] == approx(MEAN_R * Fraction("365.25"))
    assert got["cagr"] == approx(CAGR)


def test_golden_conventions_are_recorded() -> None:
    result = golden(risk_free_rate=0.05)
    for metric_id, entry in result.items():
        convention = entry["convention"]
        assert convention["annualisation_factor"] == approx(FACTOR), metric_id
        assert convention["annualisation_basis"].startswith("observed bar frequency")
        assert convention["sampling"].startswith("per bar, equity marked at bar close")
        assert convention["risk_free_rate"] == 0.05
        assert convention["risk_free_rate_per_bar"] == approx(1.05 ** (1 / FACTOR) - 1)
        assert convention["bars"] == 5
        assert convention["span_days"] == 5.0
        assert "undefined_reason" not in convention
    for metric_id in ("trades", *TRADE_METRICS):
        assert result[metric_id]["convention"]["trades_counted"] == "closed trades only"
        assert result[metric_id]["convention"]["open_trades_excluded"] == 0
    assert "trades_counted" not in result["exposure"]["convention"]
    assert result["sharpe"]["label"] == "Sharpe ratio"
    assert result["sharpe"]["unit"] == "ratio"
    assert result["max_drawdown_duration"]["unit"] == "days"
    assert set(result["sharpe"]) == {"value", "label", "unit", "convention"}


# --- annualisation ------------------------------------------------------------------------------


def test_factor_is_the_observed_bar_frequency() -> None:
    # 24 contiguous hourly bars: 24 bars / 1 day -> 24 * 365.25 = 8766 bars per year.
    hourly = run([100.0] * 24, step=3_600_000_000)
    assert hourly["sharpe"]["convention"]["annualisation_factor"] == 8766.0
    # Weekday daily bars Mon 2024-01-01 .. Fri, then Mon 2024-01-08: 6 bars over a span of
    # 8 days (Jan 1 open to Jan 9 open) -> 6 * 365.25 / 8 = 273.9375.
    opens = [T0 + d * DAY for d in (0, 1, 2, 3, 4, 7)]
    weekdays = run([100.0] * 6, ts=opens)
    assert weekdays["sharpe"]["convention"]["annualisation_factor"] == 273.9375
    assert weekdays["sharpe"]["convention"]["span_days"] == 8.0


# --- edge cases ---------------------------------------------------------------------------------


def test_no_trades_gives_none_with_a_reason() -> None:
    result = run([100.0, 101.0, 102.0])
    assert result["trades"]["value"] == 0
    for metric_id in TRADE_METRICS:
        assert result[metric_id]["value"] is None, metric_id
        assert result[metric_id]["convention"]["undefined_reason"] == "no closed trades"
    assert result["total_return"]["value"] == approx(Fraction(2, 100))


def test_flat_equity_has_zero_volatility_and_no_sharpe() -> None:
    got = run([100.0, 100.0, 100.0, 100.0])
    v = values(got)
    assert v["annual_volatility"] == 0.0
    assert v["annual_return"] == 0.0
    assert v["total_return"] == 0.0
    assert v["cagr"] == 0.0
    assert v["max_drawdown"] == 0.0
    assert v["max_drawdown_duration"] == 0.0
    assert v["exposure"] == 0.0
    assert v["sharpe"] is None
    assert "zero standard deviation" in got["sharpe"]["convention"]["undefined_reason"]
    assert v["sortino"] is None
    assert "zero downside" in got["sortino"]["convention"]["undefined_reason"]
    assert v["calmar"] is None
    assert got["calmar"]["convention"]["undefined_reason"] == "no drawdown: max_drawdown is 0"


def test_flat_equity_with_a_risk_free_rate_has_a_negative_sortino() -> None:
    # Every excess return is -rf_bar: the spread is 0 (no Sharpe), the downside is rf_bar.
    got = values(run([100.0, 100.0, 100.0, 100.0], risk_free_rate=0.05))
    assert got["sharpe"] is None
    assert got["sortino"] == approx(-math.sqrt(FACTOR))


def test_single_bar() -> None:
    got = run([101.0], close=[50.0], position=[1.0])
    v = values(got)
    # One daily bar: span 1 day -> 365.25 bars per year, span_years = 1 / 365.25.
    assert got["cagr"]["convention"]["annualisation_factor"] == FACTOR
    assert v["total_return"] == approx(Fraction(1, 100))
    assert v["cagr"] == approx(1.01**FACTOR - 1)
    assert v["annual_return"] == approx(Fraction(1, 100) * Fraction("365.25"))
    for metric_id in ("annual_volatility", "sharpe", "sortino"):
        assert v[metric_id] is None
        assert "fewer than two bars" in got[metric_id]["convention"]["undefined_reason"]
    assert v["max_drawdown"] == 0.0
    assert v["exposure"] == 1.0
    assert v["buy_and_hold_return"] == 0.0
    assert v["final_equity"] == 101.0


def test_cagr_that_overflows_is_none() -> None:
    # One 1-minute bar up 1%: 1.01 ^ 525960 overflows a float.
    got = run([101.0], step=MINUTE)
    assert got["cagr"]["value"] is None
    assert "overflows" in got["cagr"]["convention"]["undefined_reason"]
    assert got["calmar"]["value"] is None
    canonical_bytes(got)


def test_all_winning_trades_have_no_profit_factor() -> None:
    got = run([100.0, 105.0, 112.0], trades=trade_frame([5.0, 7.0], [0.05, 0.07]))
    v = values(got)
    assert v["profit_factor"] is None
    assert "no losing" in got["profit_factor"]["convention"]["undefined_reason"]
    assert v["win_rate"] == 1.0
    assert v["expectancy"] == 6.0
    # sqrt(2) * mean 6 / std(5, 7; ddof=1) = sqrt(2) * 6 / sqrt(2) = 6
    assert v["sqn"] == approx(6)


def test_one_trade_has_no_sqn() -> None:
    got = run([100.0, 90.0], trades=trade_frame([-10.0], [-0.1]))
    assert got["sqn"]["value"] is None
    assert "fewer than two" in got["sqn"]["convention"]["undefined_reason"]
    assert got["profit_factor"]["value"] == 0.0  # 0 / |-10|
    assert got["win_rate"]["value"] == 0.0


def test_open_trade_is_excluded_from_trade_metrics_but_not_from_exposure() -> None:
    trades = trade_frame([4.0, -2.0, 50.0], [0.04, -0.02, 0.5], ["closed", "closed", "open"])
    got = run(
        [104.0, 102.0, 120.0, 152.0],
        position=[0.0, 0.0, 3.0, 3.0],  # the open trade holds the last two closes
        trades=trades,
        commissions_paid=2.5,  # includes the open trade's entry fee
    )
    v = values(got)
    assert v["trades"] == 2
    assert v["expectancy"] == 1.0  # (4 - 2) / 2; the open trade's 50 is left out
    assert v["best_trade"] == 0.04
    assert v["profit_factor"] == 2.0  # 4 / |-2|
    assert v["exposure"] == 0.5  # 2 of 4 bars
    assert v["final_equity"] == 152.0
    assert v["commissions_paid"] == 2.5
    assert got["expectancy"]["convention"]["open_trades_excluded"] == 1


def test_drawdown_never_recovered_runs_to_the_last_bar() -> None:
    # The initial cash (stamped at the first open, 2024-01-01) is the peak; equity never gets
    # back to 100, so the spell runs to the last bar's close (2024-01-04): 3 days.
    got = values(run([90.0, 95.0, 99.0]))
    assert got["max_drawdown"] == approx(Fraction(-1, 10))  # 90 / 100 - 1
    assert got["max_drawdown_duration"] == 3.0


def test_drawdown_duration_takes_the_longest_spell() -> None:
    # Spells: 100 -> 99 -> 101 (peak initial cash, recovered at bar 1 close: 2 days);
    # 101 -> 95 -> 96 -> 97 -> 102 (peak at bar 1, recovered at bar 5: 4 days); then new highs.
    got = values(run([99.0, 101.0, 95.0, 96.0, 97.0, 102.0, 103.0]))
    assert got["max_drawdown_duration"] == 4.0
    assert got["max_drawdown"] == approx(Fraction(95, 101) - 1)


def test_equity_at_zero_makes_returns_undefined() -> None:
    got = run([50.0, 0.0, 0.0])
    v = values(got)
    assert v["total_return"] == -1.0
    assert v["cagr"] == -1.0
    assert v["max_drawdown"] == -1.0
    for metric_id in ("annual_return", "annual_volatility", "sharpe", "sortino"):
        assert v[metric_id] is None
        assert "zero or below" in got[metric_id]["convention"]["undefined_reason"]
    canonical_bytes(got)


def test_no_bars() -> None:
    got = run([])
    assert got["trades"]["value"] == 0
    for metric_id in ("total_return", "sharpe", "max_drawdown", "exposure", "final_equity"):
        assert got[metric_id]["value"] is None
        assert got[metric_id]["convention"]["undefined_reason"] == "no bars"
    assert got["sharpe"]["convention"]["annualisation_factor"] is None
    canonical_bytes(got)


def test_inconsistent_inputs_are_refused() -> None:
    with pytest.raises(QuantrunError) as caught:
        compute_metrics(
            ts=np.array([T0, T0 + DAY], dtype=np.int64),
            equity=np.array([100.0]),
            position=np.array([0.0]),
            close=np.array([50.0]),
            trades=NO_TRADES,
            initial_cash=100.0,
            timeframe_micros=DAY,
            commissions_paid=0.0,
            ambiguous_bars=0,
        )
    assert caught.value.code == ErrorCode.INTERNAL
    with pytest.raises(QuantrunError) as caught:
        run([100.0, 101.0], risk_free_rate=-1.0)
    assert caught.value.code == ErrorCode.USAGE_INVALID_OPTION
    with pytest.raises(QuantrunError):
        run([100.0, float("nan")])


# --- the table ----------------------------------------------------------------------------------


def test_table_ids_are_unique_and_every_entry_is_complete() -> None:
    ids = metric_ids()
    assert len(ids) == len(set(ids)) == len(METRICS)
    for spec in METRICS:
        assert spec.id.isidentifier() and spec.id == spec.id.lower()
        assert spec.formula.strip() and spec.label.strip() and spec.convention_note.strip()
        assert spec.unit in {"fraction", "ratio", "currency", "days", "count"}


def test_result_keys_follow_the_table_order() -> None:
    assert list(golden()) == metric_ids()
    assert list(run([])) == metric_ids()


@pytest.mark.parametrize(
    "result",
    [golden(), golden(0.05), run([100.0] * 3), run([101.0]), run([])],
    ids=["golden", "golden-rf", "flat", "single", "empty"],
)
def test_canonical_json_accepts_the_whole_result(result: dict[str, dict[str, Any]]) -> None:
    text = canonical_bytes(result).decode()
    assert "NaN" not in text and "Infinity" not in text


def test_docs_give_every_metric_with_its_exact_formula() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    for spec in METRICS:
        assert f"`{spec.id}`" in text, spec.id
        assert f"`{spec.formula}`" in text, spec.id

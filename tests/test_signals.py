"""Exact signals (D33): every cross, band touch and level test gives the answer exact arithmetic
on the prices' decimals gives, whatever the float rounding; old versions still run."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantrun.engine.risk import Costs, RiskConfig
from quantrun.engine.simulate import simulate
from quantrun.strategies import registry
from quantrun.strategies.base import (
    band_order,
    crossed_above,
    crossed_below,
    decimal_places,
    price_ticks,
    rolling_sum,
    rsi_order,
    sma_order,
)
from quantrun.strategies.builtin.sma_crossover import SmaCrossover

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
ALL_IN = RiskConfig(
    position_fraction=1.0,
    stop_loss_pct=None,
    take_profit_pct=None,
    max_drawdown_halt_pct=None,
    allow_short=False,
)


def frame(close: list[float] | np.ndarray) -> pl.DataFrame:
    values = np.asarray(close, dtype=np.float64)
    n = values.shape[0]
    return pl.DataFrame(
        {
            "ts": np.arange(n, dtype=np.int64) * 60_000_000,
            "open": values,
            "high": values,
            "low": values,
            "close": values,
            "volume": np.ones(n),
        }
    )


def decimal_walk(n: int, seed: int, places: int = 2, spread: int = 6) -> np.ndarray:
    """Prices on a coarse decimal grid (integer ticks in a narrow band), so exact ties between
    moving averages are frequent."""
    rng = np.random.default_rng(seed)
    ticks = 1000 + np.cumsum(rng.integers(-1, 2, n))
    ticks = np.clip(ticks, 1000 - spread, 1000 + spread)
    return np.array([float(Decimal(int(t)).scaleb(-places)) for t in ticks])


def scaled(values: np.ndarray, power: int) -> np.ndarray:
    """The same decimals quoted in another unit (x 10**power), built in decimal, not float."""
    return np.array([float(Decimal(repr(float(v))).scaleb(power)) for v in values])


# --- exact references (plain Python rationals) ---------------------------------------------


def exact(values: np.ndarray) -> list[Fraction]:
    return [Fraction(Decimal(repr(float(v)))) for v in values]


def ref_sma_order(values: np.ndarray, wa: int, wb: int) -> list[float]:
    xs = exact(values)
    out = []
    for i in range(len(xs)):
        if i < max(wa, wb) - 1:
            out.append(np.nan)
            continue
        a = sum(xs[i - wa + 1 : i + 1], Fraction(0)) / wa
        b = sum(xs[i - wb + 1 : i + 1], Fraction(0)) / wb
        out.append(float((a > b) - (a < b)))
    return out


def ref_band_order(values: np.ndarray, period: int, k: float) -> list[tuple[float, ...]]:
    xs, kk = exact(values), Fraction(str(k))
    out: list[tuple[float, ...]] = []
    for i in range(len(xs)):
        if i < period - 1:
            out.append((np.nan, np.nan, np.nan))
            continue
        window = xs[i - period + 1 : i + 1]
        mean = sum(window, Fraction(0)) / period
        var = sum(((x - mean) ** 2 for x in window), Fraction(0)) / period
        d = xs[i] - mean

        out.append((_against(d, var, kk, 1), _against(d, var, kk, 0), _against(d, var, kk, -1)))
    return out


def _against(d: Fraction, var: Fraction, k: Fraction, band: int) -> float:
    """Sign of ``d - band * k * sqrt(var)`` (d = close - mean), exactly."""
    if band == 0 or d == 0:
        if d == 0 and band != 0:
            return 0.0 if var == 0 else float(-band)
        return float((d > 0) - (d < 0))
    if (d > 0) != (band > 0):
        return 1.0 if d > 0 else -1.0
    gap = d * d - k * k * var
    sign = (gap > 0) - (gap < 0)
    return float(sign if d > 0 else -sign)


def ref_rsi_order(values: np.ndarray, period: int, level: float) -> list[float]:
    xs = exact(values)
    lv = Fraction(str(level))
    out = [np.nan] * len(xs)
    gains: list[Fraction] = []
    losses: list[Fraction] = []
    avg_g = avg_l = Fraction(0)
    moved = False
    for i in range(1, len(xs)):
        d = xs[i] - xs[i - 1]
        moved = moved or d != 0
        g, lo = max(d, Fraction(0)), max(-d, Fraction(0))
        if i <= period:
            gains.append(g)
            losses.append(lo)
            if i == period:
                avg_g, avg_l = sum(gains, Fraction(0)) / period, sum(losses, Fraction(0)) / period
        else:
            avg_g += (g - avg_g) / period
            avg_l += (lo - avg_l) / period
        if i >= period:
            rsi = 100 * avg_g / (avg_g + avg_l) if moved else Fraction(50)
            out[i] = float((rsi > lv) - (rsi < lv))
    return out


# --- decimal places and ticks ---------------------------------------------------------------


def test_decimal_places_reads_the_decimal_each_double_stands_for() -> None:
    assert decimal_places(np.array([9.4475, 2.88, 100.0])) == 4
    assert decimal_places(np.array([1.0, 20.0])) == 0
    assert decimal_places(np.array([0.1, 0.2, 0.3])) == 1
    assert decimal_places(np.array([1e-12])) == 12
    assert decimal_places(np.array([1 / 3])) is None  # not a decimal of <= 12 places
    assert decimal_places(np.array([1e-13])) is None
    assert decimal_places(np.array([np.nan])) is None


def test_ticks_are_reduced_so_units_do_not_matter() -> None:
    ticks = price_ticks(np.array([9.4475, 2.88]))
    assert ticks.places == 4
    assert (ticks.numerator, ticks.denominator) == (25, 10_000)  # gcd(94475, 28800) = 25
    assert ticks.columns[0].tolist() == [3779, 1152]
    assert price_ticks(np.array([94.475, 28.8])).columns[0].tolist() == [3779, 1152]
    assert price_ticks(np.array([94475.0, 28800.0])).columns[0].tolist() == [3779, 1152]


def test_non_decimal_prices_are_exact_on_the_binary_grid() -> None:
    values = np.array([1 / 3, 2 / 3, 0.5])
    ticks = price_ticks(values)
    assert ticks.places is None
    for tick, value in zip(ticks.columns[0], values, strict=True):
        assert Fraction(int(tick) * ticks.numerator, ticks.denominator) == Fraction(value)


# --- the D21 tie ------------------------------------------------------------------------------

# DOTUSDT 15m closes, 2025-11-30 09:00 UTC onwards (bars 2820..2854 of the month): at index 31
# (bar 2851) SMA(10) and SMA(30) are both exactly 2.2681 in decimal.
DOT_CLOSES = [
    2.266, 2.264, 2.266, 2.27, 2.264, 2.268, 2.265, 2.264, 2.263, 2.26, 2.258, 2.255, 2.26,
    2.258, 2.267, 2.269, 2.268, 2.284, 2.283, 2.285, 2.28, 2.275, 2.265, 2.267, 2.256, 2.262,
    2.259, 2.26, 2.27, 2.279, 2.28, 2.283, 2.271, 2.269, 2.279,
]  # fmt: skip


def test_the_dot_tie_is_a_tie_and_strict_sees_no_cross() -> None:
    closes = np.array(DOT_CLOSES)
    ticks = price_ticks(closes)
    order = sma_order(ticks.columns[0], 10, ticks.columns[0], 30)
    assert order[29:].tolist() == [1.0, -1.0, 0.0, 1.0, 1.0, 1.0]
    assert ticks.sma(0, 10)[31] == ticks.sma(0, 30)[31] == 2.2681  # equal means, equal floats
    # strict: -1, 0, +1 is no cross; inclusive: passing through the tie is one, on bar 32.
    assert np.flatnonzero(crossed_above(order)).tolist() == []
    assert np.flatnonzero(crossed_above(order, "inclusive")).tolist() == [32]
    assert np.flatnonzero(crossed_below(order)).tolist() == [30]
    # Version 1 (float SMAs, a[i-1] <= b[i-1]) counts the touch as a cross on bar 32.
    v1 = SmaCrossover.signals(frame(closes), SmaCrossover.Params(fast=10, slow=30))
    v2 = registry.get("sma_crossover").signals(
        frame(closes), registry.parse_params("sma_crossover", {})
    )
    assert v1.target[29:].tolist() == [0, -1, -1, 1, 1, 1]
    assert v2.target[29:].tolist() == [0, -1, -1, -1, -1, -1]


def test_float_sums_in_two_orders_disagree_at_ties_and_the_exact_order_does_not() -> None:
    """Why D21 happened: the sign of a float SMA difference at an exact tie depends on the
    order of the additions; the exact order does not depend on any."""
    closes = decimal_walk(3000, seed=7)
    ticks = price_ticks(closes)
    order = sma_order(ticks.columns[0], 10, ticks.columns[0], 30)
    ties = np.flatnonzero(order == 0)
    assert ties.size > 20
    running = pl.Series(closes).rolling_mean(10).to_numpy() - pl.Series(closes).rolling_mean(30)
    windows = np.lib.stride_tricks.sliding_window_view
    direct = np.full(closes.size, np.nan)
    direct[29:] = windows(closes, 10)[20:].mean(axis=1) - windows(closes, 30).mean(axis=1)
    running_signs = np.sign(np.asarray(running)[ties])
    direct_signs = np.sign(direct[ties])
    assert np.count_nonzero(running_signs) + np.count_nonzero(direct_signs) > 0
    assert order.tolist() == pytest.approx(ref_sma_order(closes, 10, 30), nan_ok=True)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data not present at {SHARED}")
def test_dot_15m_month_v2_decides_the_tie_exactly_and_v1_stays_as_recorded() -> None:
    from quantrun.data.ingest import inspect
    from quantrun.data.request import IngestRequest
    from quantrun.data.resample import resample
    from quantrun.settings import Settings

    path = SHARED / "DOTUSDT-1m-2025-11.csv"
    inspection = inspect(IngestRequest(paths=[str(path)]), Settings(runs_root=Path("/nonexistent")))
    assert inspection.bars is not None
    bars = resample(inspection.bars, "15m").bars
    close = price_ticks(bars["close"].to_numpy()).columns[0]
    assert np.flatnonzero(sma_order(close, 10, close, 30) == 0).tolist() == [2851]
    costs = Costs(commission_bps=10.0, slippage_bps=0.0, initial_cash=10_000.0)
    v1 = simulate(bars, "sma_crossover", {"fast": 10, "slow": 30}, ALL_IN, costs, version="1")
    v2 = simulate(bars, "sma_crossover", {"fast": 10, "slow": 30}, ALL_IN, costs)
    # 57 trades is what backtesting.py makes on the exact signals (benchmarks/RESULTS.md).
    assert (v1.trades.height, v2.trades.height) == (58, 57)
    assert v1.final_equity == pytest.approx(7605.539251019288, rel=1e-12)
    assert v2.final_equity == pytest.approx(7681.3279311042215, rel=1e-12)


# --- property tests: exact answers, whatever the units or the rounding ---------------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    places=st.integers(0, 8),
    windows=st.tuples(st.integers(1, 12), st.integers(2, 40)),
)
def test_sma_order_equals_exact_rational_arithmetic(
    seed: int, places: int, windows: tuple[int, int]
) -> None:
    closes = decimal_walk(150, seed, places)
    ticks = price_ticks(closes).columns[0]
    fast, slow = windows
    order = sma_order(ticks, fast, ticks, slow)
    assert order.tolist() == pytest.approx(ref_sma_order(closes, fast, slow), nan_ok=True)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    period=st.integers(2, 25),
    k=st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 0.1, 3.3]),
)
def test_band_order_equals_exact_rational_arithmetic(seed: int, period: int, k: float) -> None:
    closes = decimal_walk(120, seed, places=3, spread=4)
    bands = band_order(price_ticks(closes).columns[0], period, k)
    got = list(zip(bands.upper.tolist(), bands.middle.tolist(), bands.lower.tolist(), strict=True))
    for mine, ref in zip(got, ref_band_order(closes, period, k), strict=True):
        assert mine == pytest.approx(ref, nan_ok=True)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    period=st.integers(2, 20),
    level=st.sampled_from([30.0, 50.0, 70.0, 25.5, 66.6]),
)
def test_rsi_order_equals_exact_rational_arithmetic(seed: int, period: int, level: float) -> None:
    closes = decimal_walk(160, seed, places=2, spread=3)
    order = rsi_order(price_ticks(closes).columns[0], period, level)
    assert order.tolist() == pytest.approx(ref_rsi_order(closes, period, level), nan_ok=True)


def test_rsi_order_keeps_a_structural_tie_that_floats_would_wobble() -> None:
    # period 2: +1, -1 gives equal average gain and loss, RSI exactly 50; the unchanged closes
    # after it keep it exactly 50 (both averages shrink by the same factor).
    closes = np.array([1.0, 1.01, 1.0] + [1.0] * 40)
    order = rsi_order(price_ticks(closes).columns[0], 2, 50.0)
    assert np.isnan(order[:2]).all()
    assert order[2:].tolist() == [0.0] * 41
    assert rsi_order(price_ticks(np.ones(10)).columns[0], 3, 50.0)[3:].tolist() == [0.0] * 7
    assert rsi_order(price_ticks(np.ones(10)).columns[0], 3, 30.0)[3:].tolist() == [1.0] * 7


EXACT_CASES = [
    ("sma_crossover", {"fast": 3, "slow": 8}),
    ("sma_crossover", {"fast": 3, "slow": 8, "ties": "inclusive"}),
    ("bollinger_reversion", {"period": 6, "k": 1.0}),
    ("bollinger_reversion", {"period": 6, "k": 1.5, "ties": "inclusive"}),
    ("rsi_reversion", {"period": 3, "lower": 40, "upper": 60}),
    ("rsi_reversion", {"period": 5, "lower": 30, "upper": 70, "ties": "inclusive"}),
    ("donchian_breakout", {"entry": 5, "exit": 3}),
]


def signals_of(strategy_id: str, raw: dict[str, Any], closes: np.ndarray) -> np.ndarray:
    strategy = registry.get(strategy_id)
    target: np.ndarray = strategy.signals(
        frame(closes), registry.parse_params(strategy_id, raw)
    ).target
    return target


@pytest.mark.parametrize(("strategy_id", "raw"), EXACT_CASES)
@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), power=st.integers(-6, 6).filter(lambda p: p != 0))
def test_scaling_prices_by_a_power_of_ten_never_changes_a_signal(
    strategy_id: str, raw: dict[str, Any], seed: int, power: int
) -> None:
    closes = decimal_walk(300, seed, places=2, spread=5)
    base = signals_of(strategy_id, raw, closes)
    np.testing.assert_array_equal(signals_of(strategy_id, raw, scaled(closes, power)), base)


@pytest.mark.parametrize(("strategy_id", "raw"), EXACT_CASES)
def test_the_coarse_walk_exercises_every_rule_and_has_ties(
    strategy_id: str, raw: dict[str, Any]
) -> None:
    """The property tests above would prove nothing on data where no rule fires."""
    closes = decimal_walk(300, seed=11, places=2, spread=5)
    assert np.count_nonzero(np.diff(signals_of(strategy_id, raw, closes))) >= 4
    ticks = price_ticks(closes).columns[0]
    assert np.count_nonzero(sma_order(ticks, 3, ticks, 8) == 0) >= 10


@pytest.mark.parametrize(("strategy_id", "raw"), EXACT_CASES)
def test_a_later_price_with_more_decimals_changes_no_earlier_signal(
    strategy_id: str, raw: dict[str, Any]
) -> None:
    """The tick grid is read from the whole frame; a finer price later must not leak back."""
    closes = decimal_walk(300, seed=11, places=2, spread=5)
    finer = closes.copy()
    finer[250:] = np.round(finer[250:] + 0.0005, 4)  # 4 places from bar 250 on
    strategy = registry.get(strategy_id)
    params = registry.parse_params(strategy_id, raw)
    full = strategy.signals(frame(finer), params)
    part = strategy.signals(frame(finer[:250]), params)
    np.testing.assert_array_equal(part.target, full.target[:250])
    for name, values in part.indicators.items():
        np.testing.assert_array_equal(values, full.indicators[name][:250], err_msg=name)


# --- wide integers: no overflow, still exact ------------------------------------------------


def test_huge_ticks_and_windows_fall_back_to_python_integers_exactly() -> None:
    rng = np.random.default_rng(3)
    # 12 places between 1 and 999: ticks near 1e15; window sums times windows pass 2**62.
    raw = rng.integers(10**12, 999 * 10**12, 400)
    closes = np.array([float(Decimal(int(t)).scaleb(-12)) for t in raw])
    ticks = price_ticks(closes)
    assert ticks.places == 12
    assert ticks.columns[0].dtype == np.int64
    assert int(np.abs(rolling_sum(ticks.columns[0], 300)).max()) * 300 > 2**62
    order = sma_order(ticks.columns[0], 37, ticks.columns[0], 300)
    assert order.tolist() == pytest.approx(ref_sma_order(closes, 37, 300), nan_ok=True)
    bands = band_order(ticks.columns[0], 50, 2.1)
    ref = ref_band_order(closes, 50, 2.1)
    assert bands.lower.tolist() == pytest.approx([r[2] for r in ref], nan_ok=True)


def test_non_decimal_prices_are_compared_exactly_too() -> None:
    rng = np.random.default_rng(5)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    ticks = price_ticks(closes)
    assert ticks.places is None
    order = sma_order(ticks.columns[0], 5, ticks.columns[0], 20)
    reference = []
    xs = [Fraction(float(c)) for c in closes]
    for i in range(len(xs)):
        if i < 19:
            reference.append(np.nan)
            continue
        diff = sum(xs[i - 4 : i + 1], Fraction(0)) / 5 - sum(xs[i - 19 : i + 1], Fraction(0)) / 20
        reference.append(float((diff > 0) - (diff < 0)))
    assert order.tolist() == pytest.approx(reference, nan_ok=True)


# --- tie rules and versions -----------------------------------------------------------------


def test_tie_rules() -> None:
    order = np.array([np.nan, -1, 0, 1, 1, 0, 1, -1, 0, 0, -1, 1])
    assert np.flatnonzero(crossed_above(order)).tolist() == [11]
    assert np.flatnonzero(crossed_above(order, "inclusive")).tolist() == [3, 11]
    assert np.flatnonzero(crossed_below(order)).tolist() == [7]
    assert np.flatnonzero(crossed_below(order, "inclusive")).tolist() == [7]
    with pytest.raises(ValueError, match="ties must be one of"):
        crossed_above(order, "loose")  # type: ignore[arg-type]


def test_simulate_pins_a_version_and_defaults_to_the_current_one() -> None:
    bars = frame(DOT_CLOSES)
    costs = Costs(commission_bps=10.0, slippage_bps=0.0, initial_cash=10_000.0)
    current = simulate(bars, "sma_crossover", {"fast": 10, "slow": 30}, ALL_IN, costs)
    pinned = simulate(bars, "sma_crossover", {"fast": 10, "slow": 30}, ALL_IN, costs, version="1")
    assert current.params.model_dump() == {"fast": 10, "slow": 30, "ties": "strict"}
    assert pinned.params.model_dump() == {"fast": 10, "slow": 30}
    assert current.signals.target[29:].tolist() == [0, -1, -1, -1, -1, -1]
    assert pinned.signals.target[29:].tolist() == [0, -1, -1, 1, 1, 1]
    assert (current.trades.height, pinned.trades.height) == (0, 1)


# --- old runs keep their meaning -------------------------------------------------------------


def test_the_golden_v1_run_still_reruns_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped golden run was made with sma_crossover v1; v2 is current now, and
    `runs verify --rerun` re-runs the recorded version, byte for byte."""
    from golden import CSV_NAME, FIXTURE_ROOT
    from quantrun.api import open_run, verify_run
    from quantrun.data.demo import write_demo_csv
    from quantrun.settings import Settings
    from test_golden import GOLDEN_ID

    settings = Settings(runs_root=tmp_path / "root", artifacts_root=FIXTURE_ROOT)
    assert open_run(GOLDEN_ID, settings).manifest.identity.strategy.version == "1"
    assert registry.get("sma_crossover").version == "2"
    write_demo_csv(tmp_path / CSV_NAME, days=3)
    monkeypatch.chdir(tmp_path)
    report = verify_run(GOLDEN_ID, settings, rerun=True)
    assert report.ok, report.to_dict()
    assert report.rerun_checked


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), period=st.integers(2, 20), level=st.sampled_from([30.0, 50.0]))
def test_rsi_order_does_not_depend_on_how_the_average_is_rounded(
    seed: int, period: int, level: float
) -> None:
    """The same Wilder average evaluated another way (``avg += (x - avg) / period`` in a
    Python loop, not polars' ``(1 - a) * avg + a * x``) rounds differently; no order changes."""
    import quantrun.strategies.exact as exact_module

    def other_rounding(values: np.ndarray, p: int) -> np.ndarray:
        out = [float(np.sum(values[:p]) / p)]
        for x in values[p:]:
            out.append(out[-1] + (float(x) - out[-1]) / p)
        return np.array(out)

    closes = decimal_walk(160, seed, places=2, spread=3)
    ticks = price_ticks(closes).columns[0]
    polars_way = rsi_order(ticks, period, level)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exact_module, "_seeded_rma", other_rounding)
        loop_way = rsi_order(ticks, period, level)
    np.testing.assert_array_equal(loop_way, polars_way)

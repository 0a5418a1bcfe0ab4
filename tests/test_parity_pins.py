"""Pins for every place where quantrun and a peer (backtesting.py, vectorbt, quantstats) differ
in convention: the peers' answers were recorded with benchmarks/parity_backtesting.py and
benchmarks/metrics_crosscheck.py in .venv-bench; these tests need no peer installed and fail
when quantrun's side of a documented conversion drifts."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

import metrics_crosscheck as mc
from quantrun.data.demo import demo_bars
from quantrun.data.resample import resample
from quantrun.engine.risk import Costs, RiskConfig
from quantrun.engine.simulate import simulate
from quantrun.strategies import registry
from quantrun.strategies.base import NoParams, Signals, Strategy, crossed_above

# --- the cross rule -------------------------------------------------------------------------

# a vs a constant level 2, and where each peer saw a cross up (recorded black-box calls):
# backtesting.lib.crossover(a[: i + 1], b[: i + 1]) and a.vbt.crossed_above(b) (vectorbt 1.2.0).
CROSS_CASES: list[tuple[list[float], list[int], list[int]]] = [
    # (a, bars where backtesting.py crosses, bars where vectorbt crosses)
    ([1, 2, 3, 3, 3, 3], [], [2]),  # through a tie
    ([3, 2, 3, 3, 3, 3], [], []),  # touch and turn back
    ([1, 2, 2, 3, 3, 3], [], [3]),  # a longer tie
    ([1, 3, 3, 3, 3, 3], [1], [1]),  # a clean cross
    ([3, 2, 1, 2, 3, 3], [], [4]),  # down through the tie, then up through it
]


@pytest.mark.parametrize(("a", "backtesting", "vectorbt"), CROSS_CASES)
def test_strict_is_backtesting_py_and_inclusive_is_vectorbt(
    a: list[float], backtesting: list[int], vectorbt: list[int]
) -> None:
    order = np.sign(np.array(a, dtype=np.float64) - 2.0)
    assert np.flatnonzero(crossed_above(order, "strict")).tolist() == backtesting
    assert np.flatnonzero(crossed_above(order, "inclusive")).tolist() == vectorbt


# --- the first decision bar -----------------------------------------------------------------

ALL_IN = RiskConfig(
    position_fraction=1.0,
    stop_loss_pct=None,
    take_profit_pct=None,
    max_drawdown_halt_pct=None,
    allow_short=False,
)
PARITY_COSTS = Costs(commission_bps=10.0, slippage_bps=0.0, initial_cash=1e15)
#: backtesting.py's total return for buy_and_hold on the demo at 5m (benchmarks/RESULTS.md).
BACKTESTING_DEMO_5M_BUY_AND_HOLD = 0.1093275593


class _HoldFromSecondBar(Strategy):
    id = "test_hold_from_second_bar"
    version = "1"
    description = "buy_and_hold as backtesting.py sees it: it first decides on bar 1."

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: Any) -> Signals:
        target = np.ones(bars.height, dtype=np.int8)
        target[:1] = 0
        return Signals(target)


def test_backtesting_py_acts_one_bar_later_on_a_first_bar_signal() -> None:
    """backtesting.py calls Strategy.next from the second bar on (recorded: next() ran on bars
    1..4 of 5), so a target set on bar 0 fills at bar 2's open there, at bar 1's in quantrun;
    the same strategy started one bar later reproduces backtesting.py's number."""
    bars = resample(demo_bars(), "5m").bars
    ours = simulate(bars, "buy_and_hold", NoParams(), ALL_IN, PARITY_COSTS)
    assert ours.trades["entry_bar"].to_list() == [1]
    registry.register(_HoldFromSecondBar)
    try:
        lagged = simulate(bars, _HoldFromSecondBar.id, NoParams(), ALL_IN, PARITY_COSTS)
    finally:
        registry.unregister(_HoldFromSecondBar.id)
    assert lagged.trades["entry_bar"].to_list() == [2]
    total = lagged.final_equity / 1e15 - 1.0
    assert total == pytest.approx(BACKTESTING_DEMO_5M_BUY_AND_HOLD, abs=1e-10)


# --- metric conventions ---------------------------------------------------------------------

# The peers' values on the demo, 1h, sma_crossover 10/30 v2, all in, 10 bps, cash 10,000
# (`metrics_crosscheck.py --dataset demo`): backtesting.py 0.6.6 stats, quantstats 0.0.86.
BACKTESTING_DEMO_1H: dict[str, float] = {
    "total_return": -0.0522180305985592,
    "cagr": -0.4799670224688687,
    "annual_return": -0.490847785016622,
    "annual_volatility": 0.1976887944957444,
    "sharpe": -2.48293175275136,
    "sortino": -1.8269270667472073,
    "calmar": -4.539575249919517,
    "max_drawdown": -0.10812636821590837,
    "max_drawdown_duration": 22.166666666666668,
    "trades": 11.0,
    "win_rate": 0.3636363636363637,
    "profit_factor": 0.5350242621209508,
    "best_trade": 0.027910814361112507,
    "worst_trade": -0.023554194658490863,
    "avg_trade": -0.004730959132695932,
    "avg_trade/geometric": -0.004868661329590296,
    "exposure": 0.4714086471408648,
    "sqn": -0.9093142398701438,
    "buy_and_hold_return": 0.11034517394128467,
    "commissions_paid": 218.94405318593684,
    "final_equity": 9477.819694014408,
}
QUANTSTATS_DEMO_1H: dict[str, float] = {
    "total_return": -0.05221803061980923,
    "cagr": -0.47949454373009626,
    "annual_volatility": 0.3251585782317368,
    "sharpe": -1.845646348738825,
    "sortino": -2.5935344088853127,
    "calmar": -4.434575502227649,
    "max_drawdown": -0.10812636823732702,
    "win_rate": 0.36363636363636365,
    "profit_factor": 0.5315531497637482,
    "best_trade": 0.027910814361112646,
    "worst_trade": -0.023554194658490936,
    "exposure": 0.46,
}


@pytest.fixture(scope="module")
def demo_run() -> mc.Run:
    bars = resample(demo_bars(), "1h").bars
    run, _ = mc.run_quantrun(bars, "1h", version="2")
    return run


def test_every_metric_has_a_peer_row_or_none_exists(demo_run: mc.Run) -> None:
    compared = {k.split("/")[0] for k in (*mc.BT, *mc.QS)}
    assert set(demo_run.metrics) - compared == {"expectancy", "ambiguous_bars"}
    assert set(mc.BT) == set(BACKTESTING_DEMO_1H)
    assert set(mc.QS) == set(QUANTSTATS_DEMO_1H)


@pytest.mark.parametrize("key", sorted(BACKTESTING_DEMO_1H))
def test_quantrun_restated_in_backtesting_py_conventions(demo_run: mc.Run, key: str) -> None:
    restated = mc.BT[key].restate(demo_run)
    assert restated == pytest.approx(BACKTESTING_DEMO_1H[key], rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("key", sorted(QUANTSTATS_DEMO_1H))
def test_quantrun_restated_in_quantstats_conventions(demo_run: mc.Run, key: str) -> None:
    restated = mc.QS[key].restate(demo_run)
    assert restated == pytest.approx(QUANTSTATS_DEMO_1H[key], rel=1e-9, abs=1e-15)


def test_the_conversions_are_not_identities_where_the_docs_say_they_differ(
    demo_run: mc.Run,
) -> None:
    """A conversion that changed nothing would make the pins above prove nothing."""
    for table in (mc.BT, mc.QS):
        for key, peer in table.items():
            metric = key.split("/")[0]
            own = demo_run.value(metric)
            restated = peer.restate(demo_run)
            assert own is not None
            assert restated is not None
            if peer.convention.startswith("same"):
                assert restated == own, key
            elif key == "commissions_paid":  # differs only by a trade still open at the end
                assert demo_run.trades["status"].to_list().count("open") == 0
                assert restated == own
            else:
                assert abs(restated - own) > 1e-6 * max(abs(own), 1e-12), key


def test_a_trade_open_at_the_end_is_left_out_of_backtesting_py_commissions_and_exposure() -> None:
    """Demo at 15m ends with a trade open: with finalize_trades=False backtesting.py counts only
    closed trades' fees and bars (its values recorded by metrics_crosscheck.py)."""
    run, _ = mc.run_quantrun(resample(demo_bars(), "15m").bars, "15m", version="2")
    assert run.trades["status"].to_list()[-1] == "open"
    own = run.value("commissions_paid")
    assert own == pytest.approx(978.5375209916189, rel=1e-9)
    assert mc.bt_commissions(run) == pytest.approx(969.0139047774608, rel=1e-9)
    assert mc.bt_exposure(run) == pytest.approx(0.4916317991631799, rel=1e-9)

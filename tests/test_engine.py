"""The engine on tiny hand-made bars: every number checked by hand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl
import pytest
from pydantic import Field

from quantrun.engine.risk import RISK_LEVELS, Costs, RiskConfig, risk_from_level
from quantrun.engine.simulate import simulate
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.strategies.base import Signals, Strategy, StrategyParams
from quantrun.strategies.registry import register, unregister

DAY = 86_400_000_000


class ScriptParams(StrategyParams):
    targets: list[int] = Field(default_factory=list)


class Scripted(Strategy):
    """Plays back a fixed list of targets; for engine tests only."""

    id = "_scripted"
    version = "test"
    description = "test strategy"
    Params = ScriptParams

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: ScriptParams) -> Signals:
        target = np.array(params.targets, dtype=np.int8)
        return Signals(target, {"script": target.astype(np.float64)})


@pytest.fixture(autouse=True)
def scripted() -> Iterator[None]:
    register(Scripted)
    yield
    unregister(Scripted.id)


def bars(
    opens: Sequence[float] | np.ndarray,
    closes: Sequence[float] | np.ndarray,
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
) -> pl.DataFrame:
    o = np.array(opens, dtype=float)
    c = np.array(closes, dtype=float)
    h = np.array(highs, dtype=float) if highs is not None else np.maximum(o, c) + 0.5
    lo = np.array(lows, dtype=float) if lows is not None else np.minimum(o, c) - 0.5
    return pl.DataFrame(
        {
            "ts": np.arange(o.size, dtype=np.int64) * DAY,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": np.ones(o.size),
        }
    )


def risk(**overrides: object) -> RiskConfig:
    base: dict[str, object] = {
        "position_fraction": 1.0,
        "stop_loss_pct": None,
        "take_profit_pct": None,
        "max_drawdown_halt_pct": None,
        "allow_short": False,
    }
    return RiskConfig.model_validate(base | overrides)


def costs(commission_bps: float = 0.0, slippage_bps: float = 0.0, cash: float = 1000.0) -> Costs:
    return Costs(commission_bps=commission_bps, slippage_bps=slippage_bps, initial_cash=cash)


def actions(result_records: pl.DataFrame) -> list[tuple[int, str, str]]:
    return list(
        zip(
            result_records["bar"].to_list(),
            result_records["action"].to_list(),
            result_records["reason"].to_list(),
            strict=True,
        )
    )


def test_fills_at_next_open_with_commission_on_both_legs() -> None:
    b = bars([100, 101, 102, 103, 104], [100.5, 101.5, 102.5, 103.5, 104.5])
    r = simulate(b, "_scripted", {"targets": [1, 1, 0, 0, 0]}, risk(), costs(commission_bps=10))
    size = 1000 / (101 * 1.001)  # all-in: price plus commission uses all the cash
    entry_fee = size * 101 * 0.001
    exit_fee = size * 103 * 0.001
    final = size * 103 - exit_fee
    assert r.equity.tolist() == pytest.approx(
        [1000, size * 101.5, size * 102.5, final, final], rel=1e-12
    )
    assert r.position.tolist() == pytest.approx([0, size, size, 0, 0], rel=1e-12)
    trade = r.trades.row(0, named=True)
    assert (trade["entry_bar"], trade["exit_bar"], trade["exit_reason"]) == (1, 3, "signal")
    assert (trade["entry_price"], trade["exit_price"]) == (101.0, 103.0)
    assert trade["pnl"] == pytest.approx(final - 1000, rel=1e-12)
    assert trade["pnl"] == pytest.approx(size * 2 - entry_fee - exit_fee, rel=1e-12)
    assert trade["commission"] == pytest.approx(entry_fee + exit_fee, rel=1e-12)
    assert r.commissions_paid == pytest.approx(entry_fee + exit_fee, rel=1e-12)
    assert actions(r.records) == [
        (0, "signal", "target_long"),
        (0, "order", "enter_long"),
        (1, "fill", "entry"),
        (2, "signal", "target_flat"),
        (2, "order", "exit"),
        (3, "fill", "exit"),
    ]
    fill = r.records.row(2, named=True)
    assert fill["quantity"] == pytest.approx(size, rel=1e-12)
    assert (fill["position_before"], fill["equity_before"]) == (0.0, 1000.0)
    assert fill["equity_after"] == pytest.approx(1000 - entry_fee, rel=1e-12)
    assert r.records["indicators"].struct.field("script").to_list()[:2] == [1.0, 1.0]


def test_slippage_moves_every_fill_against_the_trader() -> None:
    b = bars([100, 100, 100, 100], [100, 100, 100, 100])
    r = simulate(b, "_scripted", {"targets": [1, 0, 0, 0]}, risk(), costs(slippage_bps=50))
    t = r.trades.row(0, named=True)
    assert (t["entry_price"], t["exit_price"]) == (pytest.approx(100.5), pytest.approx(99.5))
    size = 1000 / 100.5
    assert r.final_equity == pytest.approx(size * 99.5, rel=1e-12)


def test_stop_loss_at_level_and_no_reentry_until_the_signal_changes() -> None:
    b = bars([100, 100, 99, 98, 97], [100, 99, 98, 97, 96], lows=[99, 99, 94, 96, 95])
    r = simulate(b, "_scripted", {"targets": [1, 1, 1, 1, 1]}, risk(stop_loss_pct=5), costs())
    t = r.trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (2, 95.0, "stop_loss")
    assert r.trades.height == 1
    assert (2, "stop_loss", "level_touched") in actions(r.records)
    assert r.final_equity == pytest.approx(1000 / 100 * 95, rel=1e-12)


def test_gap_through_the_stop_fills_at_the_open() -> None:
    b = bars([100, 100, 90, 91], [100, 99, 91, 92])
    r = simulate(b, "_scripted", {"targets": [1, 1, 1, 1]}, risk(stop_loss_pct=5), costs())
    t = r.trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"]) == (2, 90.0)
    assert (2, "stop_loss", "gap_through_level") in actions(r.records)


def test_stop_and_target_in_one_bar_assume_the_stop_and_count_the_bar() -> None:
    b = bars(
        [100, 100, 100, 100],
        [100, 100, 100, 100],
        highs=[100, 101, 106, 100],
        lows=[100, 99, 94, 100],
    )
    r = simulate(
        b, "_scripted", {"targets": [1, 1, 1, 1]}, risk(stop_loss_pct=5, take_profit_pct=5), costs()
    )
    t = r.trades.row(0, named=True)
    assert (t["exit_price"], t["exit_reason"]) == (95.0, "stop_loss")
    assert r.ambiguous_bars == 1
    assert (2, "stop_loss", "stop_and_target_in_bar_stop_assumed") in actions(r.records)


def test_take_profit_at_level() -> None:
    b = bars([100, 100, 102, 103], [100, 101, 103, 104], highs=[100, 102, 111, 104])
    r = simulate(b, "_scripted", {"targets": [1, 1, 1, 1]}, risk(take_profit_pct=10), costs())
    t = r.trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (
        2,
        pytest.approx(110.0),
        "take_profit",
    )


def test_short_when_allowed_mirrors_the_long() -> None:
    b = bars([100, 100, 95, 90], [100, 98, 92, 90])
    r = simulate(b, "_scripted", {"targets": [-1, -1, 0, 0]}, risk(allow_short=True), costs())
    size = 1000 / 100
    t = r.trades.row(0, named=True)
    # Signal at bar 0 -> short at bar 1's open (100); flat signal at bar 2 -> cover at bar 3 (90).
    assert (t["direction"], t["entry_price"], t["exit_price"]) == ("short", 100.0, 90.0)
    assert t["pnl"] == pytest.approx(size * 10, rel=1e-12)
    assert r.position[1] == pytest.approx(-size)
    assert r.equity[1] == pytest.approx(1000 + size * (100 - 98), rel=1e-12)
    assert r.final_equity == pytest.approx(1100, rel=1e-12)


def test_short_not_allowed_is_blocked_when_flat_and_clipped_to_an_exit_when_long() -> None:
    b = bars([100] * 6, [100] * 6)
    r = simulate(b, "_scripted", {"targets": [-1, 0, 1, -1, -1, -1]}, risk(), costs())
    assert actions(r.records) == [
        (0, "signal", "target_short"),
        (0, "block", "short_not_allowed"),
        (1, "signal", "target_flat"),
        (2, "signal", "target_long"),
        (2, "order", "enter_long"),
        (3, "fill", "entry"),
        (3, "signal", "target_short"),
        (3, "clip", "short_not_allowed"),
        (3, "order", "exit"),
        (4, "fill", "exit"),
    ]
    assert r.trades["direction"].to_list() == ["long"]


def test_reversal_fills_exit_then_entry_at_one_open() -> None:
    b = bars([100, 100, 110, 110], [100, 105, 110, 110])
    r = simulate(b, "_scripted", {"targets": [1, -1, -1, -1]}, risk(allow_short=True), costs())
    assert actions(r.records)[3:7] == [
        (1, "signal", "target_short"),
        (1, "order", "reverse"),
        (2, "fill", "exit"),
        (2, "fill", "entry"),
    ]
    assert r.trades["direction"].to_list() == ["long", "short"]
    assert r.position[2] == pytest.approx(-(1000 / 100 * 110) / 110)


def test_drawdown_halt_flattens_and_blocks_the_rest_of_the_run() -> None:
    b = bars([100, 100, 85, 84, 90, 95], [100, 85, 84, 88, 92, 96])
    r = simulate(
        b,
        "_scripted",
        {"targets": [1, 1, 1, 0, 1, 1]},
        risk(max_drawdown_halt_pct=10),
        costs(),
    )
    assert r.halt_bar == 1  # equity 850 at bar 1's close is 15 % below the 1000 peak
    assert actions(r.records)[3:] == [
        (1, "halt", "max_drawdown_halt"),
        (1, "order", "max_drawdown_halt"),
        (2, "fill", "exit"),
        (3, "signal", "target_flat"),
        (4, "signal", "target_long"),
        (4, "block", "halted"),
    ]
    t = r.trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (2, 85.0, "max_drawdown_halt")
    assert r.trades.height == 1
    assert r.final_equity == pytest.approx(850, rel=1e-12)


def test_order_on_the_last_bar_expires() -> None:
    b = bars([100, 100, 100], [100, 100, 100])
    r = simulate(b, "_scripted", {"targets": [0, 0, 1]}, risk(), costs())
    assert actions(r.records) == [
        (2, "signal", "target_long"),
        (2, "order", "enter_long"),
        (2, "expire", "end_of_data"),
    ]
    assert r.trades.height == 0


def test_open_trade_at_the_end_is_marked_to_the_last_close() -> None:
    b = bars([100, 100, 104], [100, 102, 106])
    r = simulate(b, "_scripted", {"targets": [1, 1, 1]}, risk(), costs())
    t = r.trades.row(0, named=True)
    assert (t["status"], t["exit_bar"], t["exit_ts"], t["exit_reason"]) == (
        "open",
        None,
        None,
        "open",
    )
    assert t["pnl"] == pytest.approx(10 * 6, rel=1e-12)


def test_position_fraction_sizes_from_equity() -> None:
    b = bars([100, 100, 100], [100, 100, 100])
    r = simulate(b, "_scripted", {"targets": [1, 1, 1]}, risk(position_fraction=0.25), costs())
    assert r.position[1] == pytest.approx(2.5)


def test_same_inputs_bit_identical_outputs() -> None:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    b = bars(np.r_[100, close[:-1]], close)
    kwargs = {"fast": 5, "slow": 20}
    one = simulate(b, "sma_crossover", kwargs, risk_from_level("aggressive"), costs(10, 5))
    two = simulate(b, "sma_crossover", kwargs, risk_from_level("aggressive"), costs(10, 5))
    assert one.equity.tobytes() == two.equity.tobytes()
    assert one.records.equals(two.records) and one.trades.equals(two.trades)
    assert one.trades.height > 10


def test_risk_presets_are_ordered_by_appetite() -> None:
    fractions = [
        RISK_LEVELS[n].position_fraction for n in ("conservative", "moderate", "aggressive")
    ]
    assert fractions == sorted(fractions)
    with pytest.raises(QuantrunError) as caught:
        risk_from_level("yolo")
    assert caught.value.code == ErrorCode.RISK_LEVEL_UNKNOWN


def test_invalid_risk_and_costs_have_codes() -> None:
    from quantrun.engine.risk import costs_from, risk_from_mapping

    with pytest.raises(QuantrunError) as caught:
        risk_from_mapping(
            {
                "position_fraction": 2,
                "stop_loss_pct": None,
                "take_profit_pct": None,
                "max_drawdown_halt_pct": None,
                "allow_short": False,
            }
        )
    assert caught.value.code == ErrorCode.RISK_CONFIG_INVALID
    assert "position_fraction" in caught.value.detail
    with pytest.raises(QuantrunError) as caught:
        costs_from(commission_bps=-1)
    assert caught.value.code == ErrorCode.COSTS_INVALID

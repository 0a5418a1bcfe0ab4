"""Strategies: the registry, hand-computed signals for every built-in, and the look-ahead guard."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantrun.errors import ErrorCode, QuantrunError
from quantrun.strategies import registry
from quantrun.strategies.base import (
    NoParams,
    Signals,
    Strategy,
    StrategyParams,
    crosses_below,
    hold_between,
    hold_sides,
)
from quantrun.strategies.builtin.bollinger_reversion import (
    BollingerReversion,
    BollingerReversionV2,
)
from quantrun.strategies.builtin.buy_and_hold import BuyAndHold
from quantrun.strategies.builtin.donchian_breakout import DonchianBreakout
from quantrun.strategies.builtin.rsi_reversion import RsiReversion, RsiReversionV2
from quantrun.strategies.builtin.sma_crossover import (
    SmaCrossover,
    SmaCrossoverParams,
    SmaCrossoverV2,
    SmaCrossoverV2Params,
)

BUILTIN_IDS = [
    "bollinger_reversion",
    "buy_and_hold",
    "donchian_breakout",
    "rsi_reversion",
    "sma_crossover",
]

NAN = math.nan


def frame(
    close: list[float],
    high: list[float] | None = None,
    low: list[float] | None = None,
) -> pl.DataFrame:
    """Bars with the given closes (open = close, high/low = close unless given)."""
    n = len(close)
    return pl.DataFrame(
        {
            "ts": pl.Series(np.arange(n, dtype=np.int64) * 60_000_000, dtype=pl.Int64),
            "open": pl.Series(close, dtype=pl.Float64),
            "high": pl.Series(high if high is not None else close, dtype=pl.Float64),
            "low": pl.Series(low if low is not None else close, dtype=pl.Float64),
            "close": pl.Series(close, dtype=pl.Float64),
            "volume": pl.Series([1.0] * n, dtype=pl.Float64),
        }
    )


def random_walk(n: int = 600, seed: int = 20240101) -> pl.DataFrame:
    """A deterministic geometric random walk with consistent OHLC."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.003, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.003, n)))
    return pl.DataFrame(
        {
            "ts": pl.Series(np.arange(n, dtype=np.int64) * 60_000_000, dtype=pl.Int64),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1.0, 10.0, n),
        }
    )


def targets(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int8)


def assert_indicator(actual: np.ndarray, expected: list[float]) -> None:
    assert actual.dtype == np.float64
    np.testing.assert_allclose(actual, np.array(expected), rtol=1e-12, atol=1e-12)


def params_error(strategy_id: str, raw: dict[str, Any]) -> QuantrunError:
    with pytest.raises(QuantrunError) as info:
        registry.parse_params(strategy_id, raw)
    return info.value


# --- registry ----------------------------------------------------------------------------------


#: Every registered version of each built-in, oldest first (the last one is current).
VERSIONS: dict[str, list[type[Strategy]]] = {
    "bollinger_reversion": [BollingerReversion, BollingerReversionV2],
    "buy_and_hold": [BuyAndHold],
    "donchian_breakout": [DonchianBreakout],
    "rsi_reversion": [RsiReversion, RsiReversionV2],
    "sma_crossover": [SmaCrossover, SmaCrossoverV2],
}


def test_all_builtins_are_registered_in_id_order() -> None:
    assert [s.id for s in registry.all_strategies()] == BUILTIN_IDS
    for strategy_id, classes in VERSIONS.items():
        assert registry.versions_of(strategy_id) == [c.version for c in classes]
        assert registry.get(strategy_id) is classes[-1]  # the newest is current
        for cls in classes:  # and every older one stays runnable, so old runs re-run
            assert registry.get(strategy_id, cls.version) is cls
            assert cls.id == strategy_id


def test_an_unknown_version_is_refused_and_names_the_known_ones() -> None:
    with pytest.raises(QuantrunError) as info:
        registry.get("sma_crossover", "9")
    assert info.value.code is ErrorCode.STRATEGY_UNKNOWN
    assert "no version '9'" in str(info.value)
    assert "known: 1, 2" in str(info.value)


def test_catalogue_describes_versions_and_every_parameter() -> None:
    entries = {entry["id"]: entry for entry in registry.catalogue()}
    assert sorted(entries) == BUILTIN_IDS
    for entry in entries.values():
        assert entry["version"] == entry["versions"][-1]
        assert entry["versions"] == [c.version for c in VERSIONS[entry["id"]]]
        assert entry["description"]
        assert "\n" not in entry["description"]
        for param in entry["params"]:
            assert param["description"], (entry["id"], param["name"])
    assert entries["buy_and_hold"]["params"] == []

    def summary(strategy_id: str) -> list[tuple[Any, ...]]:
        return [
            (p["name"], p["type"], p["default"], p["minimum"], p["maximum"])
            for p in entries[strategy_id]["params"]
        ]

    ties = ("ties", "string", "strict", None, None)
    assert summary("sma_crossover") == [
        ("fast", "integer", 10, 1, 10_000),
        ("slow", "integer", 30, 2, 100_000),
        ties,
    ]
    assert summary("rsi_reversion") == [
        ("period", "integer", 14, 2, 1000),
        ("lower", "number", 30.0, 0, 100),
        ("upper", "number", 70.0, 0, 100),
        ties,
    ]
    assert summary("donchian_breakout") == [
        ("entry", "integer", 20, 2, 10_000),
        ("exit", "integer", 10, 1, 10_000),
    ]
    assert summary("bollinger_reversion") == [
        ("period", "integer", 20, 2, 10_000),
        ("k", "number", 2.0, 0, 10),
        ties,
    ]
    for strategy_id in ("sma_crossover", "rsi_reversion", "bollinger_reversion"):
        (param,) = [p for p in entries[strategy_id]["params"] if p["name"] == "ties"]
        assert param["choices"] == ["strict", "inclusive"]
    assert all(p["choices"] is None for p in entries["sma_crossover"]["params"][:2])
    v1 = registry.describe(registry.get("sma_crossover", "1"))
    assert [p["name"] for p in v1["params"]] == ["fast", "slow"]
    assert (v1["version"], v1["versions"]) == ("1", ["1", "2"])


def test_second_class_with_an_existing_id_is_refused_and_names_both() -> None:
    class Impostor(Strategy):
        id = "sma_crossover"
        version = "1"
        description = "Claims a built-in id."

        @classmethod
        def signals(cls, bars: pl.DataFrame, params: Any) -> Signals:
            return Signals(np.zeros(bars.height, dtype=np.int8))

    with pytest.raises(registry.DuplicateStrategyError) as info:
        registry.register(Impostor)
    message = str(info.value)
    assert "'sma_crossover'" in message
    assert "quantrun.strategies.builtin.sma_crossover.SmaCrossover" in message
    assert f"{__name__}.Impostor" in message
    assert registry.get("sma_crossover", "1") is SmaCrossover
    assert registry.get("sma_crossover") is SmaCrossoverV2


def test_throwaway_registration_is_idempotent_per_class_and_unregisters() -> None:
    class First(Strategy):
        id = "test_throwaway_strategy"
        version = "1"
        description = "Throwaway."

        @classmethod
        def signals(cls, bars: pl.DataFrame, params: Any) -> Signals:
            return Signals(np.zeros(bars.height, dtype=np.int8))

    class Second(First):
        pass

    try:
        assert registry.register(First) is First
        assert registry.register(First) is First  # the same class again is fine
        with pytest.raises(registry.DuplicateStrategyError, match=r"\.First and .*\.Second"):
            registry.register(Second)
        assert registry.get("test_throwaway_strategy") is First
    finally:
        registry.unregister("test_throwaway_strategy")
    assert "test_throwaway_strategy" not in [s.id for s in registry.all_strategies()]


def test_parse_params_coerces_cli_strings() -> None:
    parsed = registry.parse_params("sma_crossover", {"fast": "5", "slow": "20"}, version="1")
    assert parsed == SmaCrossoverParams(fast=5, slow=20)
    assert isinstance(parsed, SmaCrossoverParams)
    assert type(parsed.fast) is int
    assert parsed.fast == 5
    assert parsed.slow == 20
    current = registry.parse_params("sma_crossover", {"fast": "5", "slow": "20"})
    assert current == SmaCrossoverV2Params(fast=5, slow=20, ties="strict")
    inclusive = registry.parse_params("sma_crossover", {"ties": "inclusive"})
    assert inclusive.model_dump() == {"fast": 10, "slow": 30, "ties": "inclusive"}
    rsi = registry.parse_params("rsi_reversion", {"period": "7", "lower": "25.5"}, version="1")
    assert rsi.model_dump() == {"period": 7, "lower": 25.5, "upper": 70.0}
    rsi2 = registry.parse_params("rsi_reversion", {"period": "7", "lower": "25.5"})
    assert rsi2.model_dump() == {"period": 7, "lower": 25.5, "upper": 70.0, "ties": "strict"}
    assert registry.parse_params("buy_and_hold", {}) == NoParams()


def test_params_are_frozen() -> None:
    parsed = registry.parse_params("donchian_breakout", {})
    with pytest.raises(ValueError, match="frozen"):
        parsed.entry = 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("strategy_id", "raw", "fragment"),
    [
        ("sma_crossover", {"fast": 5, "slow": 20, "speed": 1}, "speed"),
        ("sma_crossover", {"fast": 0}, "fast"),
        ("sma_crossover", {"fast": "five"}, "fast"),
        ("sma_crossover", {"fast": 20, "slow": 20}, "fast (20) must be below slow (20)"),
        ("sma_crossover", {"fast": 30, "slow": 20}, "must be below"),
        ("buy_and_hold", {"period": 3}, "period"),
        ("rsi_reversion", {"period": 1}, "period"),
        ("rsi_reversion", {"period": 1001}, "period"),
        ("rsi_reversion", {"lower": 0}, "lower"),
        ("rsi_reversion", {"upper": 100}, "upper"),
        ("rsi_reversion", {"lower": 70, "upper": 70}, "lower (70.0) must be below upper (70.0)"),
        ("rsi_reversion", {"lower": 80, "upper": 20}, "must be below"),
        ("donchian_breakout", {"entry": 1, "exit": 1}, "entry"),
        ("donchian_breakout", {"exit": 0}, "exit"),
        ("donchian_breakout", {"entry": 10, "exit": 11}, "exit (11) must not exceed entry (10)"),
        ("donchian_breakout", {"entry": 10_001}, "entry"),
        ("bollinger_reversion", {"period": 1}, "period"),
        ("bollinger_reversion", {"k": 0}, "k"),
        ("bollinger_reversion", {"k": -1}, "k"),
        ("bollinger_reversion", {"k": 10.5}, "k"),
        ("bollinger_reversion", {"k": "nan"}, "k"),
        ("bollinger_reversion", {"period": 2.5}, "period"),
        ("sma_crossover", {"ties": "loose"}, "ties"),
        ("rsi_reversion", {"ties": ""}, "ties"),
        ("bollinger_reversion", {"ties": None}, "ties"),
    ],
)
def test_invalid_params_raise_strategy_params_invalid(
    strategy_id: str, raw: dict[str, Any], fragment: str
) -> None:
    err = params_error(strategy_id, raw)
    assert err.code is ErrorCode.STRATEGY_PARAMS_INVALID
    assert str(err).startswith(f"{strategy_id}: ")
    assert fragment in str(err)


def test_boundary_params_are_accepted() -> None:
    assert registry.parse_params("donchian_breakout", {"entry": 5, "exit": 5}).model_dump() == {
        "entry": 5,
        "exit": 5,
    }
    assert registry.parse_params("bollinger_reversion", {"k": 10}).model_dump() == {
        "period": 20,
        "k": 10.0,
        "ties": "strict",
    }
    assert registry.parse_params("rsi_reversion", {"period": 2, "lower": 0.5, "upper": 99.5})


def test_unknown_strategy_id() -> None:
    for call in (lambda: registry.get("nope"), lambda: registry.parse_params("nope", {})):
        with pytest.raises(QuantrunError) as info:
            call()
        assert info.value.code is ErrorCode.STRATEGY_UNKNOWN
        assert "'nope'" in str(info.value)
        assert "sma_crossover" in str(info.value)


# --- shared helpers ----------------------------------------------------------------------------


def test_crosses_below() -> None:
    a = np.array([3.0, 2.0, 2.0, 1.0, NAN, 0.0, 2.0, 1.0])
    b = np.full(8, 2.0)
    # bar 1 touches (not below), bar 3 goes below from an equal bar; NaN never crosses.
    assert crosses_below(a, b).tolist() == [False, False, False, True, False, False, False, True]


def test_hold_sides_exits_only_the_side_held_and_entries_win() -> None:
    n = 12
    long_entry = np.zeros(n, dtype=bool)
    long_exit = np.zeros(n, dtype=bool)
    short_entry = np.zeros(n, dtype=bool)
    short_exit = np.zeros(n, dtype=bool)
    short_exit[0] = True  # nothing held: ignored
    long_entry[1] = True
    short_exit[2] = True  # the other side's exit: ignored
    long_exit[3] = True  # flat
    long_exit[4] = True  # already flat
    short_entry[5] = True
    short_exit[5] = True  # same bar as the entry: the entry wins
    long_entry[7] = True
    short_exit[7] = True  # a long entry flips a short straight to long
    long_entry[9] = True
    short_entry[9] = True  # both entries: long wins
    long_exit[9] = True
    long_exit[11] = True
    got = hold_sides(long_entry, long_exit, short_entry, short_exit)
    assert got.dtype == np.int8
    assert got.tolist() == [0, 1, 1, 0, 0, -1, -1, 1, 1, 1, 1, 0]
    empty = np.zeros(0, dtype=bool)
    assert hold_sides(empty, empty, empty, empty).shape == (0,)


# --- hand-computed signals ---------------------------------------------------------------------


def test_buy_and_hold_is_long_on_every_bar() -> None:
    signals = BuyAndHold.signals(frame([10.0, 9.0, 11.0, 12.0]), NoParams())
    assert signals.target.tolist() == [1, 1, 1, 1]
    assert signals.target.dtype == np.int8
    assert signals.indicators == {}


def test_sma_crossover_by_hand() -> None:
    close = [5.0, 4.0, 3.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0]
    signals = SmaCrossover.signals(frame(close), SmaCrossoverParams(fast=2, slow=3))
    # fast - slow from bar 2: -0.5, -0.5, -1/6, +0.5, +0.5, +1/6, -0.5, -0.5
    # -> up-cross on bar 5, down-cross on bar 8.
    assert_indicator(
        signals.indicators["sma_fast"], [NAN, 4.5, 3.5, 2.5, 2.5, 3.5, 4.5, 4.5, 3.5, 2.5]
    )
    assert_indicator(
        signals.indicators["sma_slow"],
        [NAN, NAN, 4.0, 3.0, 8 / 3, 3.0, 4.0, 13 / 3, 4.0, 3.0],
    )
    np.testing.assert_array_equal(signals.target, targets([0, 0, 0, 0, 0, 1, 1, 1, -1, -1]))


def wilder_by_hand(close: list[float], period: int) -> list[float]:
    """The textbook recursion, one bar at a time (a reference, not the implementation)."""
    changes = [b - a for a, b in itertools.pairwise(close)]
    gains = [max(d, 0.0) for d in changes]
    losses = [max(-d, 0.0) for d in changes]
    out = [NAN] * len(close)
    avg_gain = sum(gains[:period]) / period
    avg_loss = sum(losses[:period]) / period
    for bar in range(period, len(close)):
        if bar > period:
            avg_gain = (avg_gain * (period - 1) + gains[bar - 1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[bar - 1]) / period
        if avg_loss == 0:
            out[bar] = 50.0 if avg_gain == 0 else 100.0
        else:
            out[bar] = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


def test_rsi_reversion_by_hand() -> None:
    close = [10.0, 11, 12, 13, 12, 11, 10, 9, 10, 11, 12, 13, 12, 11]
    params = RsiReversion.Params.model_validate({"period": 3, "lower": 30, "upper": 70})
    signals = RsiReversion.signals(frame(close), params)
    rsi = signals.indicators["rsi"]
    # Every change is +-1, so avg_gain + avg_loss stays 1 and RSI = 100 * avg_gain, with
    # avg_gain seeded at bar 3 as (1 + 1 + 1) / 3 = 1 and then avg = (2 * avg + gain) / 3.
    expected = [
        NAN,
        NAN,
        NAN,
        100.0,
        100 * 2 / 3,  # 66.7: crossed down through 70 -> short
        100 * 4 / 9,
        100 * 8 / 27,  # 29.6
        100 * 16 / 81,  # 19.8
        100 * 113 / 243,  # 46.5: crossed up through 30 -> long
        100 * 469 / 729,
        100 * 1667 / 2187,
        100 * 5521 / 6561,  # 84.1
        100 * 11042 / 19683,  # 56.1: crossed down through 70 -> short
        100 * 22084 / 59049,
    ]
    assert_indicator(rsi, expected)
    assert_indicator(rsi, wilder_by_hand(close, 3))
    np.testing.assert_array_equal(
        signals.target, targets([0, 0, 0, 0, -1, -1, -1, -1, 1, 1, 1, 1, -1, -1])
    )


def test_rsi_matches_the_textbook_recursion_on_a_long_walk() -> None:
    close = random_walk(600)["close"].to_list()
    for period in (2, 14, 50):
        params = RsiReversion.Params.model_validate({"period": period})
        rsi = RsiReversion.signals(frame(close), params).indicators["rsi"]
        np.testing.assert_allclose(rsi, wilder_by_hand(close, period), rtol=1e-9)
        assert np.isnan(rsi[:period]).all()
        assert not np.isnan(rsi[period:]).any()


def test_rsi_edge_cases() -> None:
    params = RsiReversion.Params.model_validate({"period": 3})
    flat = RsiReversion.signals(frame([5.0] * 6), params)
    assert_indicator(flat.indicators["rsi"], [NAN, NAN, NAN, 50.0, 50.0, 50.0])
    assert flat.target.tolist() == [0] * 6
    rising = RsiReversion.signals(frame([1.0, 2, 3, 4, 5]), params)
    assert_indicator(rising.indicators["rsi"], [NAN, NAN, NAN, 100.0, 100.0])
    short = RsiReversion.signals(frame([1.0, 2, 3]), params)
    assert np.isnan(short.indicators["rsi"]).all()
    assert short.target.tolist() == [0, 0, 0]


def test_donchian_breakout_by_hand() -> None:
    high = [11.0, 12, 11, 13, 13, 12, 11, 10, 10, 12, 12, 13, 14]
    low = [9.0, 10, 9, 11, 11, 10, 8, 8, 9, 9, 10, 11, 12]
    close = [10.0, 11, 10, 12.5, 12, 10.5, 8.5, 9, 9.5, 10.5, 11, 12.5, 13.5]
    params = DonchianBreakout.Params.model_validate({"entry": 3, "exit": 2})
    signals = DonchianBreakout.signals(frame(close, high, low), params)
    ind = signals.indicators
    assert_indicator(ind["upper_entry"], [NAN, NAN, NAN, 12, 13, 13, 13, 13, 12, 11, 12, 12, 13])
    assert_indicator(ind["lower_entry"], [NAN, NAN, NAN, 9, 9, 9, 10, 8, 8, 8, 8, 9, 9])
    assert_indicator(ind["upper_exit"], [NAN, NAN, 12, 12, 13, 13, 13, 12, 11, 10, 12, 12, 13])
    assert_indicator(ind["lower_exit"], [NAN, NAN, 9, 9, 9, 11, 10, 8, 8, 8, 9, 9, 10])
    # bar 3: 12.5 > 12 long; bar 5: 10.5 < 11 flat; bar 6: 8.5 < 10 short;
    # bar 9: 10.5 > 10 flat (but not > 11, no long); bar 11: 12.5 > 12 long.
    np.testing.assert_array_equal(
        signals.target, targets([0, 0, 0, 1, 1, 0, -1, -1, -1, 0, 0, 1, 1])
    )


def test_donchian_breakout_excludes_the_current_bar() -> None:
    # A close equal to the previous highest high is no breakout; the current bar's own high
    # (always >= its close) never blocks one.
    high = [10.0, 10, 10, 10, 12]
    close = [9.0, 9, 9, 10, 11]
    params = DonchianBreakout.Params.model_validate({"entry": 3, "exit": 1})
    signals = DonchianBreakout.signals(frame(close, high, [8.0] * 5), params)
    assert signals.target.tolist() == [0, 0, 0, 0, 1]


def test_bollinger_reversion_by_hand() -> None:
    close = [10.0, 11, 12, 11, 10, 8, 10, 11, 12, 14, 11, 10]
    params = BollingerReversion.Params.model_validate({"period": 3, "k": 1})
    signals = BollingerReversion.signals(frame(close), params)
    ind = signals.indicators
    # Population variances of the 3-bar windows, in ninths: [10,11,12] 6/9, [11,12,11] 2/9,
    # [11,10,8] 14/9, [10,8,10] 8/9, [14,11,10] 26/9 ...
    middle = [NAN, NAN, 11, 34 / 3, 11, 29 / 3, 28 / 3, 29 / 3, 11, 37 / 3, 37 / 3, 35 / 3]
    sigma = [NAN, NAN, 6, 2, 6, 14, 8, 14, 6, 14, 14, 26]
    sigma = [math.sqrt(v / 9) for v in sigma]
    assert_indicator(ind["bb_middle"], middle)
    assert_indicator(ind["bb_upper"], [m + s for m, s in zip(middle, sigma, strict=True)])
    assert_indicator(ind["bb_lower"], [m - s for m, s in zip(middle, sigma, strict=True)])
    assert ind["bb_lower"][4] == pytest.approx(11 - math.sqrt(2 / 3), rel=1e-12)
    assert ind["bb_upper"][7] == pytest.approx(29 / 3 + math.sqrt(14 / 9), rel=1e-12)
    # bar 4: 10 < 10.18 from 11 >= 10.86, long; bar 6: 10 > 9.33 from 8 <= 9.67, flat;
    # bar 7: 11 > 10.91 from 10 <= 10.28, short; bars 8-9 stay above the band (no new cross);
    # bar 10: 11 crosses below the middle (exit short) and the lower band 11.09 -> long.
    np.testing.assert_array_equal(signals.target, targets([0, 0, 0, 0, 1, 1, 0, -1, -1, -1, 1, 1]))


def test_bollinger_bands_use_population_std_and_scale_with_k() -> None:
    close = random_walk(200)["close"].to_numpy()
    for period, k in ((2, 0.5), (20, 2.0), (37, 3.25)):
        params = BollingerReversion.Params.model_validate({"period": period, "k": k})
        ind = BollingerReversion.signals(frame(close.tolist()), params).indicators
        windows = np.lib.stride_tricks.sliding_window_view(close, period)
        expected_middle = windows.mean(axis=1)
        expected_sigma = windows.std(axis=1, ddof=0)
        np.testing.assert_allclose(ind["bb_middle"][period - 1 :], expected_middle, rtol=1e-12)
        np.testing.assert_allclose(
            ind["bb_upper"][period - 1 :], expected_middle + k * expected_sigma, rtol=1e-9
        )
        np.testing.assert_allclose(
            ind["bb_lower"][period - 1 :], expected_middle - k * expected_sigma, rtol=1e-9
        )
        for name in ("bb_middle", "bb_upper", "bb_lower"):
            assert np.isnan(ind[name][: period - 1]).all()


# --- contract for every registered strategy ---------------------------------------------------

# Defaults plus one other valid parameter set for each strategy.
PARAM_SETS: dict[str, list[dict[str, Any]]] = {
    "buy_and_hold": [{}],
    "sma_crossover": [{}, {"fast": 3, "slow": 7}],
    "rsi_reversion": [{}, {"period": 5, "lower": 20, "upper": 80}],
    "donchian_breakout": [{}, {"entry": 55, "exit": 20}],
    "bollinger_reversion": [{}, {"period": 10, "k": 1.5}],
}
# Every registered version runs the contract: old versions stay runnable for old runs.
CASES = [
    pytest.param(f"{strategy_id}@{cls.version}", raw, id=f"{strategy_id}-v{cls.version}-{i}")
    for strategy_id, sets in PARAM_SETS.items()
    for cls in VERSIONS[strategy_id]
    for i, raw in enumerate(sets)
]
WALK = random_walk(600)


def test_every_registered_strategy_has_param_sets() -> None:
    assert sorted(PARAM_SETS) == BUILTIN_IDS


def run(case: str, raw: dict[str, Any], bars: pl.DataFrame) -> Signals:
    """``case`` is ``id@version``."""
    strategy_id, version = case.split("@")
    params = registry.parse_params(strategy_id, raw, version)
    return registry.get(strategy_id, version).signals(bars, params)


def assert_same_prefix(full: Signals, part: Signals, k: int) -> None:
    np.testing.assert_array_equal(part.target, full.target[:k])
    assert part.indicators.keys() == full.indicators.keys()
    for name, values in part.indicators.items():
        np.testing.assert_array_equal(values, full.indicators[name][:k], err_msg=name)


@pytest.mark.parametrize(("strategy_id", "raw"), CASES)
def test_signals_shape_dtype_and_values(strategy_id: str, raw: dict[str, Any]) -> None:
    signals = run(strategy_id, raw, WALK)
    assert signals.target.dtype == np.int8
    assert signals.target.shape == (WALK.height,)
    assert set(np.unique(signals.target).tolist()) <= {-1, 0, 1}
    for values in signals.indicators.values():
        assert values.dtype == np.float64
        assert values.shape == (WALK.height,)
        assert not np.isnan(values[-1])
    if not strategy_id.startswith("buy_and_hold"):
        # The walk must exercise the rule, or the look-ahead guard below proves nothing.
        assert np.count_nonzero(np.diff(signals.target)) >= 3
        assert {-1, 1} <= set(signals.target.tolist())


@pytest.mark.parametrize(("strategy_id", "raw"), CASES)
def test_empty_and_tiny_frames(strategy_id: str, raw: dict[str, Any]) -> None:
    for k in (0, 1, 2):
        signals = run(strategy_id, raw, WALK[:k])
        assert signals.target.shape == (k,)
        for values in signals.indicators.values():
            assert values.shape == (k,)


@pytest.mark.parametrize(("strategy_id", "raw"), CASES)
@pytest.mark.parametrize("k", [1, 50, 137, 301, 599, 600])
def test_no_look_ahead_at_fixed_cuts(strategy_id: str, raw: dict[str, Any], k: int) -> None:
    full = run(strategy_id, raw, WALK)
    assert_same_prefix(full, run(strategy_id, raw, WALK[:k]), k)


@pytest.mark.parametrize(("strategy_id", "raw"), CASES)
@settings(max_examples=50, deadline=None, derandomize=True)
@given(k=st.integers(min_value=1, max_value=WALK.height))
def test_no_look_ahead_property(strategy_id: str, raw: dict[str, Any], k: int) -> None:
    full = run(strategy_id, raw, WALK)
    assert_same_prefix(full, run(strategy_id, raw, WALK[:k]), k)


def test_params_model_is_a_strategy_params() -> None:
    for strategy in registry.all_strategies():
        assert issubclass(strategy.Params, StrategyParams)
        assert strategy.Params.model_config.get("frozen") is True
        assert strategy.Params.model_config.get("extra") == "forbid"


def _held_one_bar_at_a_time(
    enter: list[bool], leave: list[bool], short: list[bool] | None
) -> list[int]:
    """hold_between's rule read bar by bar: an event sets its state (enter over short over
    leave), which holds until the next event; 0 before the first."""
    state, out = 0, []
    for i in range(len(enter)):
        if enter[i]:
            state = 1
        elif short is not None and short[i]:
            state = -1
        elif leave[i]:
            state = 0
        out.append(state)
    return out


@given(
    masks=st.integers(0, 60).flatmap(
        lambda n: st.tuples(*(st.lists(st.booleans(), min_size=n, max_size=n) for _ in range(3)))
    ),
    with_short=st.booleans(),
)
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_hold_between_carries_each_event_forward(
    masks: tuple[list[bool], list[bool], list[bool]], with_short: bool
) -> None:
    enter, leave, short = masks
    held = hold_between(
        np.array(enter, dtype=bool),
        np.array(leave, dtype=bool),
        np.array(short, dtype=bool) if with_short else None,
    )
    assert held.dtype == np.int8
    assert held.tolist() == _held_one_bar_at_a_time(enter, leave, short if with_short else None)

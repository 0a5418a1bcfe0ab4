"""Exact comparisons of price indicators: a cross is decided by the prices, not by rounding.

Stored prices are float64, but each one stands for a decimal (an exchange quotes ``9.4475``,
not the double nearest to it). :func:`price_ticks` recovers those decimals as integers on one
grid (``price = tick * numerator / denominator`` exactly), and the helpers here compare
indicators built from them in integer arithmetic, so the answer is the one exact arithmetic on
the decimal prices gives (decision D33, docs/strategies.md#exact-signals):

- :func:`sma_order` — the sign of ``SMA(a, wa) - SMA(b, wb)``, from integer window sums;
- :func:`band_order` — the sign of ``close - (SMA ± k * sigma)`` (Bollinger), from integer sums of
  ticks and of their squares, the square root compared by squaring;
- :func:`crossed_above` / :func:`crossed_below` — crosses of such an order, with an explicit tie
  rule: ``"strict"`` (the default; backtesting.py's ``crossover``: strictly below on the
  previous bar, strictly above now, so passing through an exact tie is no cross) or
  ``"inclusive"`` (vectorbt's ``crossed_above``: a pass through a tie counts, on the bar that
  leaves it; touching the level and turning back does not).

An order is a float64 array with -1, 0 (exact tie) or +1 per bar, NaN while an indicator warms
up. Everything is vectorised: integers are int64 when a bound on every intermediate value shows
that it fits (below 2**62), else Python integers in numpy object arrays (exact, slower).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
import polars as pl

TieRule = Literal["strict", "inclusive"]
TIE_RULES: tuple[TieRule, ...] = ("strict", "inclusive")

#: A price is read as a decimal with at most this many places.
MAX_PLACES = 12
#: ... and at most 15 significant digits, so the decimal a double stands for is unique.
_MAX_DECIMAL_INT = 10**15
#: int64 arithmetic is used while every intermediate value is bounded below this.
_INT64_SAFE = 2**62


@dataclass(frozen=True)
class PriceTicks:
    """Prices as integers on one grid: ``price == ticks * numerator / denominator`` exactly.

    ``places`` is the number of decimal places the prices were read with, or None when some
    price is not a decimal of at most :data:`MAX_PLACES` places (synthetic data): the grid is
    then binary, the exact value of each double. ``columns`` holds one tick array per input
    column (int64, or object arrays of Python ints when int64 could overflow).
    """

    columns: tuple[np.ndarray, ...]
    numerator: int
    denominator: int
    places: int | None

    def mean_as_float(self, sums: np.ndarray, count: int) -> np.ndarray:
        """``sums * numerator / (count * denominator)`` as float64: one correctly rounded
        division when both integers are exact in a double (below 2**53, as for any decimal
        prices of a market), so two equal means give the same float."""
        scaled = _as_object(sums) * self.numerator if self.numerator != 1 else sums
        bottom = count * self.denominator
        out: np.ndarray = np.asarray(scaled, dtype=np.float64) / float(bottom)
        return out

    def sma(self, column: int, window: int) -> np.ndarray:
        """The simple moving average of ``columns[column]`` over ``window`` bars as float64,
        from the exact window sums (NaN until full): equal means give equal floats."""
        ticks = self.columns[column]
        out = np.full(ticks.shape[0], np.nan)
        if ticks.shape[0] >= window:
            out[window - 1 :] = self.mean_as_float(rolling_sum(ticks, window), window)
        return out


def decimal_places(values: np.ndarray, max_places: int = MAX_PLACES) -> int | None:
    """The smallest k <= ``max_places`` such that every value is the double nearest to a decimal
    with k places (and at most 15 significant digits); None if there is none.

    ``decimal_places(np.array([9.4475, 2.88]))`` is 4. Dividing the integer ``d`` by ``10**k``
    is one correctly rounded operation, so ``round(v * 10**k) / 10**k == v`` holds exactly when
    v is the double nearest to ``d / 10**k``; with at most 15 significant digits that decimal
    is the only one that maps to v.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return 0
    if not bool(np.all(np.isfinite(flat))):
        return None
    # A k that fits every value fits any subset: find the sample's k first (cheap), then check
    # the whole array from there, usually in one pass.
    sample = flat[:: max(1, flat.size // 4096)]
    first = _first_places(sample, 0, max_places)
    return None if first is None else _first_places(flat, first, max_places)


def _first_places(values: np.ndarray, low: int, high: int) -> int | None:
    for places in range(low, high + 1):
        scale = 10.0**places
        scaled = np.rint(values * scale)
        if float(np.max(np.abs(scaled))) >= _MAX_DECIMAL_INT:
            return None
        if bool(np.array_equal(scaled / scale, values)):
            return places
    return None


def price_ticks(*columns: np.ndarray) -> PriceTicks:
    """The columns (e.g. high, low, close) as integer ticks on one common grid.

    The grid is the decimal one (``10**-places``) when every value is a decimal of at most
    :data:`MAX_PLACES` places, else the binary one (each double's exact value); the ticks are
    divided by their greatest common divisor, so prices scaled by a power of ten (the same
    decimals in other units) give the very same ticks.
    """
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    joined = np.concatenate(arrays) if arrays else np.empty(0)
    if not bool(np.all(np.isfinite(joined))):
        raise ValueError("prices must be finite to be read as ticks")
    places = decimal_places(joined)
    ints: list[np.ndarray]
    if places is not None:
        ints = [np.rint(a * 10.0**places).astype(np.int64) for a in arrays]
        denominator = 10**places
    else:
        ints, denominator = _binary_ticks(arrays)
    divisor = _common_divisor(ints)
    if divisor > 1:
        ints = [t // divisor for t in ints]
    return PriceTicks(tuple(ints), divisor, denominator, places)


def _binary_ticks(arrays: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Each double as ``m * 2**e`` on the grid of the smallest e present (Python ints)."""
    parts = [np.frexp(a) for a in arrays]  # a = mantissa * 2**exponent, mantissa in [0.5, 1)
    mantissas = [np.ldexp(m, 53).astype(np.int64) for m, _ in parts]
    exponents = [e.astype(np.int64) - 53 for _, e in parts]
    lowest = min((int(e.min()) for e in exponents if e.size), default=0)
    ints = [
        m.astype(object) << (e - lowest).astype(object)
        for m, e in zip(mantissas, exponents, strict=True)
    ]
    if lowest >= 0:
        return [t * (2**lowest) for t in ints], 1
    return ints, 2 ** (-lowest)


def _common_divisor(ints: list[np.ndarray]) -> int:
    values = [t for t in ints if t.size]
    if not values:
        return 1
    if all(t.dtype == np.int64 for t in values):
        divisor = int(np.gcd.reduce(np.concatenate(values)))
    else:
        divisor = math.gcd(*(int(v) for t in values for v in np.unique(t)))
    return divisor if divisor > 0 else 1


# --- integer arithmetic that cannot overflow -----------------------------------------------


def _max_abs(values: np.ndarray) -> int:
    if values.size == 0:
        return 0
    return max(abs(int(values.max())), abs(int(values.min())))


def _as_object(values: np.ndarray) -> np.ndarray:
    return values if values.dtype == object else values.astype(object)


def _wide(values: np.ndarray, bound: int) -> np.ndarray:
    """``values`` as object (Python ints) when ``bound`` leaves int64 no headroom."""
    return _as_object(values) if bound >= _INT64_SAFE else values


def _centre(values: np.ndarray) -> np.ndarray:
    """Shift ticks by the midpoint of their range: every comparison here is shift-invariant,
    and smaller magnitudes keep the arithmetic in int64 longer."""
    if values.size == 0:
        return values
    mid = (int(values.max()) + int(values.min())) // 2
    if values.dtype == object:
        return values - mid
    out: np.ndarray = values - np.int64(mid)
    return out


def rolling_sum(ticks: np.ndarray, window: int) -> np.ndarray:
    """Exact ``sum(ticks[i-window+1 .. i])`` for every bar i >= window - 1 (length
    ``n - window + 1``; empty when there are fewer bars)."""
    n = ticks.shape[0]
    if n < window:
        return ticks[:0]
    total = _prefix_sums(ticks, _max_abs(ticks))
    out: np.ndarray = total[window:] - total[:-window]
    return out


def _prefix_sums(ticks: np.ndarray, top: int) -> np.ndarray:
    """``[0, t0, t0 + t1, ...]`` (n + 1 values), int64 when ``top * n`` fits, else Python ints."""
    n = ticks.shape[0]
    if ticks.dtype != object and top * max(n, 1) < _INT64_SAFE:
        total = np.empty(n + 1, dtype=np.int64)
        total[0] = 0
        np.cumsum(ticks, out=total[1:])
        return total
    values = _as_object(ticks)
    return np.concatenate((values[:1] * 0, np.cumsum(values)))


def _sign(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        out: np.ndarray = (values > 0).astype(np.int8) - (values < 0).astype(np.int8)
        return out
    signs: np.ndarray = np.sign(values).astype(np.int8)
    return signs


def _order(n: int, start: int, signs: np.ndarray) -> np.ndarray:
    """A full-length order: NaN before ``start``, then ``signs``."""
    out = np.full(n, np.nan)
    out[start:] = signs
    return out


# --- orders of indicators ------------------------------------------------------------------


def sma_order(a: np.ndarray, a_window: int, b: np.ndarray, b_window: int) -> np.ndarray:
    """Sign of ``SMA(a, a_window) - SMA(b, b_window)`` per bar, exactly (ticks on one grid).

    ``mean_a - mean_b`` has the sign of ``b_window * sum_a - a_window * sum_b``, an integer.
    A window of 1 is the value itself: ``sma_order(close, 1, close, 20)`` orders the close
    against its 20-bar SMA. NaN until both windows are full.
    """
    n = a.shape[0]
    start = max(a_window, b_window) - 1
    if n <= start:
        return np.full(n, np.nan)
    top = max(_max_abs(a), 0 if b is a else _max_abs(b))
    if top * max(n, 1) >= _INT64_SAFE or 2 * top * a_window * b_window >= _INT64_SAFE:
        a, b = _centre_pair(a, b)  # smaller magnitudes; Python ints below where still needed
        top = max(_max_abs(a), _max_abs(b))
    total_a = _prefix_sums(a, top)
    total_b = total_a if b is a else _prefix_sums(b, top)
    # Window sums for bars start .. n-1: total[i + 1] - total[i + 1 - window].
    sum_a = total_a[start + 1 :] - total_a[start + 1 - a_window : n + 1 - a_window]
    sum_b = total_b[start + 1 :] - total_b[start + 1 - b_window : n + 1 - b_window]
    bound = 2 * top * a_window * b_window  # >= |b_window * sum_a| + |a_window * sum_b|
    sum_a, sum_b = _wide(sum_a, bound), _wide(sum_b, bound)
    return _order(n, start, _sign(b_window * sum_a - a_window * sum_b))


def _centre_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift both by one midpoint (a mean difference is invariant under a common shift)."""
    if a.size == 0:
        return a, b
    both = [int(a.max()), int(a.min()), int(b.max()), int(b.min())]
    mid = (max(both) + min(both)) // 2
    if a.dtype == object or b.dtype == object:
        return _as_object(a) - mid, _as_object(b) - mid
    return a - np.int64(mid), b - np.int64(mid)


@dataclass(frozen=True)
class BandOrders:
    """Per bar, the sign of ``close - band`` for each Bollinger band (NaN while warming up)."""

    upper: np.ndarray
    middle: np.ndarray
    lower: np.ndarray


def band_order(close: np.ndarray, period: int, k: float) -> BandOrders:
    """Where the close sits against ``SMA(close, period) ± k * sigma``, sigma the population
    standard deviation of the same ``period`` ticks, decided exactly.

    With ``S`` and ``Q`` the window sums of ticks and of their squares, ``x = period * close -
    S`` and ``V = period * Q - S**2`` (``V = (period * sigma)**2 >= 0``, in ticks), the close minus
    a band is ``(x ∓ k * sqrt(V)) / period``. ``k`` is read as the decimal it is written as
    (``2.5`` is 5/2, ``2.1`` is 21/10), ``K / D``; the sign of ``x - k * sqrt(V)`` is that of
    ``x`` when ``x <= 0`` (and 0 only when ``x == V == 0``), else that of ``D²x² - K²V``.
    """
    n = close.shape[0]
    start = period - 1
    if n <= start:
        nan = np.full(n, np.nan)
        return BandOrders(nan, nan.copy(), nan.copy())
    ratio = Fraction(str(float(k)))
    big_k, big_d = ratio.numerator, ratio.denominator
    c = _centre(close)
    top = _max_abs(c)
    c = _wide(c, 4 * (period * top) ** 2)  # bounds c², S, Q, period·Q, S² and x
    s = rolling_sum(c, period)
    q = rolling_sum(c * c, period)
    x = period * c[start:] - s
    v = period * q - s * s
    square_bound = (2 * period * top) ** 2 * max(big_k, big_d) ** 2
    x, v = _wide(x, square_bound), _wide(v, square_bound)
    x_sign = _sign(x)
    gap = big_d * big_d * x * x - big_k * big_k * v  # sign of |x| - k * sqrt(V)
    gap_sign = _sign(gap)
    upper = np.where(x_sign > 0, gap_sign, np.where((x_sign == 0) & (_sign(v) == 0), 0, -1))
    lower = np.where(x_sign < 0, -gap_sign, np.where((x_sign == 0) & (_sign(v) == 0), 0, 1))
    return BandOrders(
        _order(n, start, upper.astype(np.int8)),
        _order(n, start, x_sign),
        _order(n, start, lower.astype(np.int8)),
    )


# --- crosses ---------------------------------------------------------------------------------


def crossed_above(order: np.ndarray, ties: TieRule = "strict") -> np.ndarray:
    """True on bar i when ``a`` crosses above ``b``, given ``order`` = sign(a - b) per bar.

    ``"strict"``: ``order[i-1] == -1`` and ``order[i] == +1`` (a bar that ends exactly on the
    tie is no cross, and the bar after it is none either). ``"inclusive"``: ``order[i] == +1``
    and the last bar before i that was not a tie had -1 (passing through ties counts, on the
    bar that leaves them). NaN (warming up) never crosses.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    out = np.zeros(order.shape[0], dtype=bool)
    if order.shape[0] < 2:
        return out
    if ties == "strict":
        previous = order[:-1]
    else:
        not_tie = np.where(order == 0.0, np.nan, order)
        previous = pl.Series(not_tie).fill_nan(None).forward_fill().to_numpy()[:-1]
    with np.errstate(invalid="ignore"):
        out[1:] = (previous == -1.0) & (order[1:] == 1.0)
    return out


def crossed_below(order: np.ndarray, ties: TieRule = "strict") -> np.ndarray:
    """True on bar i when ``a`` crosses below ``b`` (:func:`crossed_above` mirrored)."""
    return crossed_above(-order, ties)


def value_order(values: np.ndarray, level: np.ndarray | float) -> np.ndarray:
    """Sign of ``values - level`` per bar, NaN where either is NaN; for values that are exact
    (raw prices, channel highs and lows), never for results of float arithmetic."""
    diff = np.asarray(values, dtype=np.float64) - np.asarray(level, dtype=np.float64)
    return np.sign(diff)


# --- Wilder's RSI against a level ------------------------------------------------------------

#: Safety factor of the RSI's rounding bound (see :func:`rsi_order`); the derivation gives 6.
_RSI_BOUND_FACTOR = 16.0


def _seeded_rma(values: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RMA of ``values[0:]`` (changes of bars 1..n-1), seeded at bar ``period`` with the
    mean of the first ``period`` values; one result per bar from ``period`` on."""
    seeded = np.concatenate(([values[:period].mean()], values[period:]))
    out: np.ndarray = pl.Series(seeded).ewm_mean(alpha=1.0 / period, adjust=False).to_numpy()
    return np.asarray(out, dtype=np.float64)


def rsi_order(close: np.ndarray, period: int, level: float) -> np.ndarray:
    """Sign of ``RSI(close, period) - level`` per bar (Wilder's RSI, seeded the TA-Lib way as in
    ``rsi_reversion``), from the close's ticks; NaN before bar ``period``.

    ``RSI > level`` exactly when ``F = (100 - level) * avg_gain - level * avg_loss > 0``, and
    F is the same Wilder average of the integer series ``y = (100M - N) * gain - N * loss``
    (``level = N / M`` as written, gains and losses in ticks): one average of integers instead
    of a ratio of two. y is divided by the first non-zero move, so the floats depend neither
    on the tick grid nor on later bars. The average is a recursion without end whose exact
    value has ever-growing denominators, so F is computed in float64 with a proven bound on
    its rounding error: each step rounds values no larger than ``A = RMA(|y|)`` by at most 6
    ulps and earlier errors decay by ``(period - 1) / period`` a bar, so ``|F - F_float| <= 6 *
    eps * period * RMA(A)``, and ``A <= max(100M - N, N) * RMA(|change|)``;
    :data:`_RSI_BOUND_FACTOR` (16) leaves room for the rounding of the bound itself and of the
    recursion's coefficients. ``|F_float|`` within the bound is a
    tie (0). This is the exact answer whenever F is exactly 0 (a structural tie, e.g. a run of
    unchanged closes after an RSI of exactly the level) or further than twice the bound from
    0; only a non-zero F below about 1e-13 of the average move can be called a tie. Before the
    first move the RSI is 50 by convention, and that is compared exactly.
    """
    return rsi_orders(close, period, [level])[0]


def rsi_orders(close: np.ndarray, period: int, levels: Sequence[float]) -> list[np.ndarray]:
    """:func:`rsi_order` for several levels, sharing the work that does not depend on them."""
    n = close.shape[0]
    if n <= period:
        return [np.full(n, np.nan) for _ in levels]
    change = np.diff(close)
    top = _max_abs(change)
    moves = np.flatnonzero(change != 0)
    # In units of the first move: the same floats whatever the grid (a later price that adds a
    # decimal place, or prices quoted x10, change the ticks by a constant factor), and causal.
    first_move = float(abs(int(change[moves[0]]))) if moves.size else 1.0
    moved = np.cumsum(change != 0, dtype=np.int64)[period - 1 :] > 0
    # |y| <= max(100M - N, N) * |change|, so RMA(RMA(|y|)) <= that factor * RMA(RMA(|change|)).
    move_scale = _seeded_rma_of(
        _seeded_rma(np.abs(np.asarray(change, dtype=np.float64)) / first_move, period), period
    )
    eps = float(np.finfo(np.float64).eps)
    gain = np.where(change > 0, change, 0)
    loss = np.where(change < 0, -change, 0)
    out = []
    for level in levels:
        ratio = Fraction(str(float(level)))
        big_n, big_m = ratio.numerator, ratio.denominator
        up, down = 100 * big_m - big_n, big_n
        coef = max(up, down)
        y = _wide(gain, coef * top) * up - _wide(loss, coef * top) * down
        f = _seeded_rma(np.asarray(y, dtype=np.float64) / first_move, period)
        bound = _RSI_BOUND_FACTOR * eps * period * coef * move_scale
        signs = np.where(np.abs(f) <= bound, 0, np.sign(f)).astype(np.int8)
        still = int(np.sign(50 * big_m - big_n))
        out.append(_order(n, period, np.where(moved, signs, still).astype(np.int8)))
    return out


def _seeded_rma_of(values: np.ndarray, period: int) -> np.ndarray:
    """Wilder's average of a series that starts at bar ``period`` (its first value the seed)."""
    out: np.ndarray = pl.Series(values).ewm_mean(alpha=1.0 / period, adjust=False).to_numpy()
    return np.asarray(out, dtype=np.float64)

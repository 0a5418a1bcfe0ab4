"""The compiled simulation loop (numba, ``cache=True``, no fastmath).

One pass over the bars. For bar *i*, in this order:

A. **open** — the order placed at bar *i-1*'s close fills at ``open[i]``: an exit first, then an
   entry sized ``position_fraction * equity / (price * (1 + commission))``. Fills pay slippage
   (buys higher, sells lower) and commission, both in basis points of notional.
B. **intrabar** — an open position's stop-loss and take-profit are checked against the bar's
   low/high. A bar that opens beyond a level fills at the open (gap); when both levels lie inside
   the bar the stop is assumed to have come first and the bar is counted as ambiguous.
C. **close** — equity is marked at ``close[i]``; the max-drawdown halt engages when equity is
   ``max_drawdown_halt_pct`` below its running peak: it orders a flattening exit and blocks new
   entries for the rest of the run.
D. **decision** — when the strategy's target changes, the risk gates apply (no short unless
   allowed; nothing while halted) and an order is placed for the next open. Targets that do not
   change place no order, so a position closed by a stop is not re-entered until the signal
   changes again.

Every step that does something writes an event row; :mod:`quantrun.engine.records` turns the
rows into decision records.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from quantrun.engine import codes as k

# Integer constants copied into module globals so numba freezes them at compile time.
SIGNAL, ORDER, CLIP, BLOCK, FILL = k.SIGNAL, k.ORDER, k.CLIP, k.BLOCK, k.FILL
STOP_LOSS, TAKE_PROFIT, HALT, EXPIRE = k.STOP_LOSS, k.TAKE_PROFIT, k.HALT, k.EXPIRE
R_TARGET_LONG, R_TARGET_FLAT, R_TARGET_SHORT = k.R_TARGET_LONG, k.R_TARGET_FLAT, k.R_TARGET_SHORT
R_SHORT_NOT_ALLOWED, R_HALTED = k.R_SHORT_NOT_ALLOWED, k.R_HALTED
R_ENTER_LONG, R_ENTER_SHORT, R_EXIT, R_REVERSE = (
    k.R_ENTER_LONG,
    k.R_ENTER_SHORT,
    k.R_EXIT,
    k.R_REVERSE,
)
R_ENTRY_FILL, R_EXIT_FILL, R_LEVEL, R_GAP, R_AMBIGUOUS = (
    k.R_ENTRY_FILL,
    k.R_EXIT_FILL,
    k.R_LEVEL,
    k.R_GAP,
    k.R_AMBIGUOUS,
)
R_MAX_DRAWDOWN, R_END_OF_DATA = k.R_MAX_DRAWDOWN, k.R_END_OF_DATA
EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_HALT = (
    k.EXIT_SIGNAL,
    k.EXIT_STOP_LOSS,
    k.EXIT_TAKE_PROFIT,
    k.EXIT_HALT,
)


@numba.njit(cache=True)
def _sign(x: float) -> int:
    if x > 0.0:
        return 1
    if x < 0.0:
        return -1
    return 0


@numba.njit(cache=True)
def _event(
    ev: Any,
    ne: int,
    bar: int,
    action: int,
    reason: int,
    price: float,
    qty: float,
    pos_before: float,
    pos_after: float,
    eq_before: float,
    eq_after: float,
    fee: float,
) -> int:
    """Write event row ``ne``; return the next free row."""
    ev[0][ne] = bar
    ev[1][ne] = action
    ev[2][ne] = reason
    ev[3][ne] = price
    ev[4][ne] = qty
    ev[5][ne] = pos_before
    ev[6][ne] = pos_after
    ev[7][ne] = eq_before
    ev[8][ne] = eq_after
    ev[9][ne] = fee
    return ne + 1


@numba.njit(cache=True)
def _exit(
    ev: Any,
    ne: int,
    tr: Any,
    nt: int,
    bar: int,
    action: int,
    reason: int,
    raw: float,
    qty: float,
    cash: float,
    slippage: float,
    commission: float,
    why: int,
) -> Any:
    """Close the open trade at ``raw`` (before slippage); return (next event row, cash)."""
    price = raw * (1.0 - slippage) if qty > 0.0 else raw * (1.0 + slippage)
    eq_before = cash + qty * raw
    fee = abs(qty) * price * commission
    cash += qty * price - fee  # this grouping is pinned by the golden run
    ne = _event(ev, ne, bar, action, reason, price, -qty, qty, 0.0, eq_before, cash, fee)
    t = nt - 1
    tr[1][t] = bar
    tr[5][t] = price
    tr[7][t] = fee
    tr[8][t] = why
    return ne, cash


@numba.njit(cache=True)
def simulate_kernel(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    allow_short: bool,
    fraction: float,
    stop_pct: float,
    take_pct: float,
    halt_pct: float,
    commission: float,
    slippage: float,
    cash0: float,
    event_capacity: int,
    trade_capacity: int,
) -> Any:
    n = open_.shape[0]
    equity = np.empty(n)
    position = np.empty(n)

    ev = (
        np.empty(event_capacity, np.int64),  # bar
        np.empty(event_capacity, np.int8),  # action
        np.empty(event_capacity, np.int8),  # reason
        np.full(event_capacity, np.nan),  # price
        np.zeros(event_capacity),  # quantity
        np.empty(event_capacity),  # position before
        np.empty(event_capacity),  # position after
        np.empty(event_capacity),  # equity before
        np.empty(event_capacity),  # equity after
        np.zeros(event_capacity),  # commission
    )

    tr = (
        np.empty(trade_capacity, np.int64),  # entry bar
        np.full(trade_capacity, -1, np.int64),  # exit bar (-1: still open)
        np.empty(trade_capacity, np.int8),  # direction
        np.empty(trade_capacity),  # quantity
        np.empty(trade_capacity),  # entry price
        np.full(trade_capacity, np.nan),  # exit price
        np.empty(trade_capacity),  # entry commission
        np.zeros(trade_capacity),  # exit commission
        np.zeros(trade_capacity, np.int8),  # exit reason
    )

    ne = 0
    nt = 0
    cash = cash0
    qty = 0.0
    pending = False
    pending_target = 0
    pending_reason = 0
    stop_level = np.nan
    take_level = np.nan
    peak = cash0
    halted = False
    ambiguous = 0
    halt_bar = -1
    prev_target = 0
    last_close_equity = cash0

    for i in range(n):
        o = open_[i]
        # A. the pending order fills at this open.
        if pending:
            direction = _sign(qty)
            if direction != 0 and pending_target != direction:
                why = EXIT_HALT if pending_reason == R_MAX_DRAWDOWN else EXIT_SIGNAL
                ne, cash = _exit(
                    ev, ne, tr, nt, i, FILL, R_EXIT_FILL, o, qty, cash, slippage, commission, why
                )
                qty = 0.0
                stop_level = np.nan
                take_level = np.nan
            if pending_target != 0 and qty == 0.0:
                side = 1.0 if pending_target > 0 else -1.0
                price = o * (1.0 + slippage * side)
                size = fraction * cash / (price * (1.0 + commission))
                if size > 0.0:
                    fee = size * price * commission
                    qty = size * side
                    cash -= qty * price + fee
                    ne = _event(
                        ev,
                        ne,
                        i,
                        FILL,
                        R_ENTRY_FILL,
                        price,
                        qty,
                        0.0,
                        qty,
                        cash + qty * price + fee,
                        cash + qty * o,
                        fee,
                    )
                    tr[0][nt] = i
                    tr[2][nt] = pending_target
                    tr[3][nt] = size
                    tr[4][nt] = price
                    tr[6][nt] = fee
                    nt += 1
                    stop_level = price * (1.0 - side * stop_pct / 100.0)
                    take_level = price * (1.0 + side * take_pct / 100.0)
            pending = False

        # B. stop-loss / take-profit inside the bar.
        if qty != 0.0:
            direction = _sign(qty)
            if direction > 0:
                stop_gap = o <= stop_level
                take_gap = o >= take_level
                stop_hit = low[i] <= stop_level
                take_hit = high[i] >= take_level
            else:
                stop_gap = o >= stop_level
                take_gap = o <= take_level
                stop_hit = high[i] >= stop_level
                take_hit = low[i] <= take_level
            action = 0
            reason = 0
            level = np.nan
            if stop_gap:
                action, reason, level = STOP_LOSS, R_GAP, o
            elif take_gap:
                action, reason, level = TAKE_PROFIT, R_GAP, o
            elif stop_hit and take_hit:
                action, reason, level = STOP_LOSS, R_AMBIGUOUS, stop_level
                ambiguous += 1
            elif stop_hit:
                action, reason, level = STOP_LOSS, R_LEVEL, stop_level
            elif take_hit:
                action, reason, level = TAKE_PROFIT, R_LEVEL, take_level
            if action != 0:
                why = EXIT_STOP_LOSS if action == STOP_LOSS else EXIT_TAKE_PROFIT
                ne, cash = _exit(
                    ev, ne, tr, nt, i, action, reason, level, qty, cash, slippage, commission, why
                )
                qty = 0.0
                stop_level = np.nan
                take_level = np.nan

        # C. mark to market at the close; the drawdown halt.
        c = close[i]
        eq = cash + qty * c
        equity[i] = eq
        position[i] = qty
        last_close_equity = eq
        if eq > peak:
            peak = eq
        direction = _sign(qty)
        if not halted and halt_pct == halt_pct and eq <= peak * (1.0 - halt_pct / 100.0):
            halted = True
            halt_bar = i
            ne = _event(
                ev,
                ne,
                i,
                HALT,
                R_MAX_DRAWDOWN,
                c,
                0.0,
                qty,
                qty,
                eq,
                eq,
                0.0,
            )
            if direction != 0:
                pending = True
                pending_target = 0
                pending_reason = R_MAX_DRAWDOWN
                ne = _event(
                    ev,
                    ne,
                    i,
                    ORDER,
                    R_MAX_DRAWDOWN,
                    c,
                    -qty,
                    qty,
                    qty,
                    eq,
                    eq,
                    0.0,
                )

        # D. the strategy's decision, through the risk gates.
        tgt = int(target[i])
        if tgt != prev_target:
            said = R_TARGET_LONG if tgt > 0 else (R_TARGET_SHORT if tgt < 0 else R_TARGET_FLAT)
            ne = _event(ev, ne, i, SIGNAL, said, c, 0.0, qty, qty, eq, eq, 0.0)
            wish = tgt
            gate = 0
            gate_reason = 0
            if halted and tgt != 0:
                wish = 0
                gate = BLOCK
                gate_reason = R_HALTED
            elif tgt < 0 and not allow_short:
                wish = 0
                gate = CLIP if direction != 0 else BLOCK
                gate_reason = R_SHORT_NOT_ALLOWED
            if gate != 0:
                ne = _event(
                    ev,
                    ne,
                    i,
                    gate,
                    gate_reason,
                    c,
                    0.0,
                    qty,
                    qty,
                    eq,
                    eq,
                    0.0,
                )
            already = pending and pending_target == wish
            if wish != direction and not already:
                pending = True
                pending_target = wish
                if wish == 0:
                    pending_reason = R_EXIT
                elif direction != 0:
                    pending_reason = R_REVERSE
                else:
                    pending_reason = R_ENTER_LONG if wish > 0 else R_ENTER_SHORT
                ne = _event(
                    ev,
                    ne,
                    i,
                    ORDER,
                    pending_reason,
                    c,
                    0.0,
                    qty,
                    qty,
                    eq,
                    eq,
                    0.0,
                )
        prev_target = tgt

    if pending and n > 0:
        ne = _event(
            ev,
            ne,
            n - 1,
            EXPIRE,
            R_END_OF_DATA,
            close[n - 1],
            0.0,
            qty,
            qty,
            last_close_equity,
            last_close_equity,
            0.0,
        )

    events = (
        ev[0][:ne],
        ev[1][:ne],
        ev[2][:ne],
        ev[3][:ne],
        ev[4][:ne],
        ev[5][:ne],
        ev[6][:ne],
        ev[7][:ne],
        ev[8][:ne],
        ev[9][:ne],
    )
    trades = (
        tr[0][:nt],
        tr[1][:nt],
        tr[2][:nt],
        tr[3][:nt],
        tr[4][:nt],
        tr[5][:nt],
        tr[6][:nt],
        tr[7][:nt],
        tr[8][:nt],
    )
    return equity, position, events, trades, ambiguous, halt_bar

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

    ev_bar = np.empty(event_capacity, np.int64)
    ev_action = np.empty(event_capacity, np.int8)
    ev_reason = np.empty(event_capacity, np.int8)
    ev_price = np.full(event_capacity, np.nan)
    ev_qty = np.zeros(event_capacity)
    ev_pos_before = np.empty(event_capacity)
    ev_pos_after = np.empty(event_capacity)
    ev_eq_before = np.empty(event_capacity)
    ev_eq_after = np.empty(event_capacity)
    ev_fee = np.zeros(event_capacity)

    tr_entry_bar = np.empty(trade_capacity, np.int64)
    tr_exit_bar = np.full(trade_capacity, -1, np.int64)
    tr_dir = np.empty(trade_capacity, np.int8)
    tr_qty = np.empty(trade_capacity)
    tr_entry_price = np.empty(trade_capacity)
    tr_exit_price = np.full(trade_capacity, np.nan)
    tr_entry_fee = np.empty(trade_capacity)
    tr_exit_fee = np.zeros(trade_capacity)
    tr_exit_reason = np.zeros(trade_capacity, np.int8)

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
                price = o * (1.0 - slippage) if direction > 0 else o * (1.0 + slippage)
                eq_before = cash + qty * o
                fee = abs(qty) * price * commission
                cash += qty * price - fee
                ev_bar[ne] = i
                ev_action[ne] = FILL
                ev_reason[ne] = R_EXIT_FILL
                ev_price[ne] = price
                ev_qty[ne] = -qty
                ev_pos_before[ne] = qty
                ev_pos_after[ne] = 0.0
                ev_eq_before[ne] = eq_before
                ev_eq_after[ne] = cash
                ev_fee[ne] = fee
                ne += 1
                t = nt - 1
                tr_exit_bar[t] = i
                tr_exit_price[t] = price
                tr_exit_fee[t] = fee
                tr_exit_reason[t] = EXIT_HALT if pending_reason == R_MAX_DRAWDOWN else EXIT_SIGNAL
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
                    ev_bar[ne] = i
                    ev_action[ne] = FILL
                    ev_reason[ne] = R_ENTRY_FILL
                    ev_price[ne] = price
                    ev_qty[ne] = qty
                    ev_pos_before[ne] = 0.0
                    ev_pos_after[ne] = qty
                    ev_eq_before[ne] = cash + qty * price + fee
                    ev_eq_after[ne] = cash + qty * o
                    ev_fee[ne] = fee
                    ne += 1
                    tr_entry_bar[nt] = i
                    tr_dir[nt] = pending_target
                    tr_qty[nt] = size
                    tr_entry_price[nt] = price
                    tr_entry_fee[nt] = fee
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
                price = level * (1.0 - slippage) if direction > 0 else level * (1.0 + slippage)
                eq_before = cash + qty * level
                fee = abs(qty) * price * commission
                cash += qty * price - fee
                ev_bar[ne] = i
                ev_action[ne] = action
                ev_reason[ne] = reason
                ev_price[ne] = price
                ev_qty[ne] = -qty
                ev_pos_before[ne] = qty
                ev_pos_after[ne] = 0.0
                ev_eq_before[ne] = eq_before
                ev_eq_after[ne] = cash
                ev_fee[ne] = fee
                ne += 1
                t = nt - 1
                tr_exit_bar[t] = i
                tr_exit_price[t] = price
                tr_exit_fee[t] = fee
                tr_exit_reason[t] = EXIT_STOP_LOSS if action == STOP_LOSS else EXIT_TAKE_PROFIT
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
            ev_bar[ne] = i
            ev_action[ne] = HALT
            ev_reason[ne] = R_MAX_DRAWDOWN
            ev_price[ne] = c
            ev_pos_before[ne] = qty
            ev_pos_after[ne] = qty
            ev_eq_before[ne] = eq
            ev_eq_after[ne] = eq
            ne += 1
            if direction != 0:
                pending = True
                pending_target = 0
                pending_reason = R_MAX_DRAWDOWN
                ev_bar[ne] = i
                ev_action[ne] = ORDER
                ev_reason[ne] = R_MAX_DRAWDOWN
                ev_price[ne] = c
                ev_qty[ne] = -qty
                ev_pos_before[ne] = qty
                ev_pos_after[ne] = qty
                ev_eq_before[ne] = eq
                ev_eq_after[ne] = eq
                ne += 1

        # D. the strategy's decision, through the risk gates.
        tgt = int(target[i])
        if tgt != prev_target:
            ev_bar[ne] = i
            ev_action[ne] = SIGNAL
            ev_reason[ne] = (
                R_TARGET_LONG if tgt > 0 else (R_TARGET_SHORT if tgt < 0 else R_TARGET_FLAT)
            )
            ev_price[ne] = c
            ev_pos_before[ne] = qty
            ev_pos_after[ne] = qty
            ev_eq_before[ne] = eq
            ev_eq_after[ne] = eq
            ne += 1
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
                ev_bar[ne] = i
                ev_action[ne] = gate
                ev_reason[ne] = gate_reason
                ev_price[ne] = c
                ev_pos_before[ne] = qty
                ev_pos_after[ne] = qty
                ev_eq_before[ne] = eq
                ev_eq_after[ne] = eq
                ne += 1
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
                ev_bar[ne] = i
                ev_action[ne] = ORDER
                ev_reason[ne] = pending_reason
                ev_price[ne] = c
                ev_qty[ne] = 0.0
                ev_pos_before[ne] = qty
                ev_pos_after[ne] = qty
                ev_eq_before[ne] = eq
                ev_eq_after[ne] = eq
                ne += 1
        prev_target = tgt

    if pending and n > 0:
        ev_bar[ne] = n - 1
        ev_action[ne] = EXPIRE
        ev_reason[ne] = R_END_OF_DATA
        ev_price[ne] = close[n - 1]
        ev_pos_before[ne] = qty
        ev_pos_after[ne] = qty
        ev_eq_before[ne] = last_close_equity
        ev_eq_after[ne] = last_close_equity
        ne += 1

    events = (
        ev_bar[:ne],
        ev_action[:ne],
        ev_reason[:ne],
        ev_price[:ne],
        ev_qty[:ne],
        ev_pos_before[:ne],
        ev_pos_after[:ne],
        ev_eq_before[:ne],
        ev_eq_after[:ne],
        ev_fee[:ne],
    )
    trades = (
        tr_entry_bar[:nt],
        tr_exit_bar[:nt],
        tr_dir[:nt],
        tr_qty[:nt],
        tr_entry_price[:nt],
        tr_exit_price[:nt],
        tr_entry_fee[:nt],
        tr_exit_fee[:nt],
        tr_exit_reason[:nt],
    )
    return equity, position, events, trades, ambiguous, halt_bar

"""Decision-record vocabulary: actions and reasons, as small integers for the compiled kernel
and as stable strings for artifacts. Both tables are documented in docs/contracts.md."""

from __future__ import annotations

# Actions (what happened on a bar).
SIGNAL = 1  # the strategy's target changed
ORDER = 2  # an order was placed at the close, to fill at the next open
CLIP = 3  # a risk gate reduced the strategy's wish (e.g. short -> flat)
BLOCK = 4  # a risk gate refused the strategy's wish outright
FILL = 5  # an order filled at the open
STOP_LOSS = 6  # the stop-loss level was touched; the exit fill is in this record
TAKE_PROFIT = 7  # the take-profit level was touched; the exit fill is in this record
HALT = 8  # the max-drawdown halt engaged
EXPIRE = 9  # an order was still pending when the data ended

ACTIONS: dict[int, str] = {
    SIGNAL: "signal",
    ORDER: "order",
    CLIP: "clip",
    BLOCK: "block",
    FILL: "fill",
    STOP_LOSS: "stop_loss",
    TAKE_PROFIT: "take_profit",
    HALT: "halt",
    EXPIRE: "expire",
}

# Reasons (why).
R_TARGET_LONG = 1
R_TARGET_FLAT = 2
R_TARGET_SHORT = 3
R_SHORT_NOT_ALLOWED = 4
R_HALTED = 5
R_ENTER_LONG = 6
R_ENTER_SHORT = 7
R_EXIT = 8
R_REVERSE = 9
R_ENTRY_FILL = 10
R_EXIT_FILL = 11
R_LEVEL = 12  # stop/target filled at its level
R_GAP = 13  # the bar opened beyond the level: filled at the open
R_AMBIGUOUS = 14  # stop and target both inside the bar: stop assumed first
R_MAX_DRAWDOWN = 15
R_END_OF_DATA = 16

REASONS: dict[int, str] = {
    R_TARGET_LONG: "target_long",
    R_TARGET_FLAT: "target_flat",
    R_TARGET_SHORT: "target_short",
    R_SHORT_NOT_ALLOWED: "short_not_allowed",
    R_HALTED: "halted",
    R_ENTER_LONG: "enter_long",
    R_ENTER_SHORT: "enter_short",
    R_EXIT: "exit",
    R_REVERSE: "reverse",
    R_ENTRY_FILL: "entry",
    R_EXIT_FILL: "exit",
    R_LEVEL: "level_touched",
    R_GAP: "gap_through_level",
    R_AMBIGUOUS: "stop_and_target_in_bar_stop_assumed",
    R_MAX_DRAWDOWN: "max_drawdown_halt",
    R_END_OF_DATA: "end_of_data",
}

# Trade exit reasons.
EXIT_SIGNAL = 1
EXIT_STOP_LOSS = 2
EXIT_TAKE_PROFIT = 3
EXIT_HALT = 4
EXIT_OPEN = 0  # still open when the data ended

EXIT_REASONS: dict[int, str] = {
    EXIT_OPEN: "open",
    EXIT_SIGNAL: "signal",
    EXIT_STOP_LOSS: "stop_loss",
    EXIT_TAKE_PROFIT: "take_profit",
    EXIT_HALT: "max_drawdown_halt",
}

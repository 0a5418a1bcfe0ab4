"""Built-in strategies; importing this package registers them all."""

from quantrun.strategies.builtin import (
    bollinger_reversion,
    buy_and_hold,
    donchian_breakout,
    rsi_reversion,
    sma_crossover,
)

__all__ = [
    "bollinger_reversion",
    "buy_and_hold",
    "donchian_breakout",
    "rsi_reversion",
    "sma_crossover",
]

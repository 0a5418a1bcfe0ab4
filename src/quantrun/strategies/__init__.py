"""Strategies: the registry and the built-in strategies."""

from quantrun.strategies.base import Signals, Strategy, StrategyParams
from quantrun.strategies.registry import all_strategies, catalogue, get, parse_params, register

__all__ = [
    "Signals",
    "Strategy",
    "StrategyParams",
    "all_strategies",
    "catalogue",
    "get",
    "parse_params",
    "register",
]

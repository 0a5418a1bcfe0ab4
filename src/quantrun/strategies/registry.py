"""The strategy registry: built-ins register themselves with a decorator.

    @register
    class BuyAndHold(Strategy): ...

``get(id)`` finds one, ``parse_params(id, raw)`` validates its parameters (strings from the CLI
are coerced: ``{"fast": "10"}`` becomes ``fast=10``), ``catalogue()`` describes them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from quantrun.errors import ErrorCode, error
from quantrun.strategies.base import Strategy, StrategyParams

_REGISTRY: dict[str, type[Strategy]] = {}

S = TypeVar("S", bound=type[Strategy])


class DuplicateStrategyError(RuntimeError):
    """Two classes claimed one strategy id: a programming error, raised at import."""


def register(cls: S) -> S:
    existing = _REGISTRY.get(cls.id)
    if existing is not None and existing is not cls:
        raise DuplicateStrategyError(
            f"strategy id {cls.id!r} is claimed by both {existing.__module__}.{existing.__name__}"
            f" and {cls.__module__}.{cls.__name__}"
        )
    _REGISTRY[cls.id] = cls
    return cls


def unregister(strategy_id: str) -> None:
    """For tests that register throwaway strategies."""
    _REGISTRY.pop(strategy_id, None)


def _load_builtins() -> None:
    # Imported for their @register side effect; the import is cheap and idempotent.
    from quantrun.strategies import builtin  # noqa: F401


def get(strategy_id: str) -> type[Strategy]:
    _load_builtins()
    try:
        return _REGISTRY[strategy_id]
    except KeyError:
        raise error(
            ErrorCode.STRATEGY_UNKNOWN,
            f"no strategy {strategy_id!r}; known: {', '.join(sorted(_REGISTRY))}",
        ) from None


def all_strategies() -> list[type[Strategy]]:
    _load_builtins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def parse_params(strategy_id: str, raw: Mapping[str, Any]) -> StrategyParams:
    """Validate ``raw`` against the strategy's parameter model."""
    strategy = get(strategy_id)
    try:
        return strategy.Params.model_validate(dict(raw))
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            name = ".".join(str(p) for p in item["loc"]) or "(model)"
            problems.append(f"{name}: {item['msg']}")
        known = ", ".join(strategy.Params.model_fields) or "none"
        raise error(
            ErrorCode.STRATEGY_PARAMS_INVALID,
            f"{strategy_id}: {'; '.join(problems)} (parameters: {known})",
        ) from None


def describe(strategy: type[Strategy]) -> dict[str, Any]:
    """id, version, description and each parameter's type, default, bounds and meaning."""
    schema = strategy.Params.model_json_schema()
    params = []
    for name, prop in schema.get("properties", {}).items():
        params.append(
            {
                "name": name,
                "type": prop.get("type", "number"),
                "default": prop.get("default"),
                "minimum": prop.get("minimum", prop.get("exclusiveMinimum")),
                "maximum": prop.get("maximum", prop.get("exclusiveMaximum")),
                "exclusive_minimum": "exclusiveMinimum" in prop,
                "exclusive_maximum": "exclusiveMaximum" in prop,
                "description": prop.get("description", ""),
            }
        )
    return {
        "id": strategy.id,
        "version": strategy.version,
        "description": strategy.description,
        "params": params,
    }


def catalogue() -> list[dict[str, Any]]:
    return [describe(s) for s in all_strategies()]

"""The strategy registry: built-ins register themselves with a decorator.

    @register
    class BuyAndHold(Strategy): ...

``get(id)`` finds the current version of one, ``get(id, version)`` a given version (old
versions stay registered so old runs re-run exactly), ``parse_params(id, raw)`` validates its
parameters (strings from the CLI are coerced: ``{"fast": "10"}`` becomes ``fast=10``),
``catalogue()`` describes the current versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from quantrun.errors import ErrorCode, error
from quantrun.strategies.base import Strategy, StrategyParams

#: id -> version -> class, versions in registration order (the last one is current).
_REGISTRY: dict[str, dict[str, type[Strategy]]] = {}

S = TypeVar("S", bound=type[Strategy])


class DuplicateStrategyError(RuntimeError):
    """Two classes claimed one strategy id: a programming error, raised at import."""


def register(cls: S) -> S:
    """Register ``cls`` under its id and version. A newer version of an id is registered after
    the older ones and becomes the current one; the older ones stay runnable."""
    versions = _REGISTRY.setdefault(cls.id, {})
    existing = versions.get(cls.version)
    if existing is not None and existing is not cls:
        raise DuplicateStrategyError(
            f"strategy {cls.id!r} version {cls.version!r} is claimed by both "
            f"{existing.__module__}.{existing.__name__} and {cls.__module__}.{cls.__name__}"
        )
    versions[cls.version] = cls
    return cls


def unregister(strategy_id: str) -> None:
    """For tests that register throwaway strategies (every version of the id)."""
    _REGISTRY.pop(strategy_id, None)


def _load_builtins() -> None:
    # Imported for their @register side effect; the import is cheap and idempotent.
    from quantrun.strategies import builtin  # noqa: F401


def get(strategy_id: str, version: str | None = None) -> type[Strategy]:
    """The strategy ``strategy_id`` at ``version`` (None: its current version)."""
    _load_builtins()
    versions = _REGISTRY.get(strategy_id)
    if not versions:
        raise error(
            ErrorCode.STRATEGY_UNKNOWN,
            f"no strategy {strategy_id!r}; known: {', '.join(sorted(_REGISTRY))}",
        )
    if version is None:
        return list(versions.values())[-1]
    try:
        return versions[version]
    except KeyError:
        raise error(
            ErrorCode.STRATEGY_UNKNOWN,
            f"strategy {strategy_id!r} has no version {version!r}; known: {', '.join(versions)}",
        ) from None


def versions_of(strategy_id: str) -> list[str]:
    """Every registered version of ``strategy_id``, oldest first."""
    _load_builtins()
    return list(_REGISTRY.get(strategy_id, {}))


def all_strategies() -> list[type[Strategy]]:
    """The current version of every strategy, by id."""
    _load_builtins()
    return [list(_REGISTRY[k].values())[-1] for k in sorted(_REGISTRY) if _REGISTRY[k]]


def parse_params(
    strategy_id: str, raw: Mapping[str, Any], version: str | None = None
) -> StrategyParams:
    """Validate ``raw`` against the parameter model of the strategy (at ``version``)."""
    return validate_params(get(strategy_id, version), raw)


def validate_params(strategy: type[Strategy], raw: Mapping[str, Any]) -> StrategyParams:
    """Validate ``raw`` against ``strategy``'s parameter model (STRATEGY_PARAMS_INVALID naming
    each problem and the known parameters)."""
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
            f"{strategy.id}: {'; '.join(problems)} (parameters: {known})",
        ) from None


def describe(strategy: type[Strategy]) -> dict[str, Any]:
    """id, version (and every registered version, oldest first), description and each
    parameter's type, default, bounds, choices (an enumerated string, else None) and meaning."""
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
                "choices": prop.get("enum"),
            }
        )
    return {
        "id": strategy.id,
        "version": strategy.version,
        "versions": versions_of(strategy.id) or [strategy.version],
        "description": strategy.description,
        "params": params,
    }


def catalogue() -> list[dict[str, Any]]:
    return [describe(s) for s in all_strategies()]

"""``StrategyInfo``: a registered strategy as the edges list it (``strategies list``,
``GET /api/v1/strategies``, the new-run form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantrun.strategies.registry import catalogue


@dataclass(frozen=True)
class StrategyInfo:
    """One strategy's description: :func:`~quantrun.strategies.registry.describe` of its
    current version (id, version, description, parameters with types, defaults and bounds)."""

    id: str
    version: str
    description: str
    params: list[dict[str, Any]]
    #: Every registered version, oldest first (the older ones stay runnable).
    versions: list[str]
    described: dict[str, Any]

    @classmethod
    def of(cls, described: dict[str, Any]) -> StrategyInfo:
        return cls(
            id=described["id"],
            version=described["version"],
            description=described["description"],
            params=described["params"],
            versions=list(described.get("versions") or [described["version"]]),
            described=described,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.described)


def strategy_infos() -> list[StrategyInfo]:
    """Every registered strategy (its current version), by id."""
    return [StrategyInfo.of(described) for described in catalogue()]

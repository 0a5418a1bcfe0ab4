"""``StrategyInfo``: a registered strategy as the edges list it (``strategies list``,
``GET /api/v1/strategies``, the new-run form)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout
from quantrun.strategies.registry import catalogue, describe, get
from quantrun.strategies.source import StrategySource
from quantrun.strategies.store import StoredStrategy, StrategyStore


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
    #: ``builtin`` or ``added`` (with the sha256 of its code and the path it came from).
    kind: str = "builtin"
    source_sha256: str | None = None
    origin: str | None = None

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
        return dict(self.described) | {
            "kind": self.kind,
            "source_sha256": self.source_sha256,
            "origin": self.origin,
        }


def strategy_infos(layout: Layout | None = None) -> list[StrategyInfo]:
    """Every built-in (its current version) and, with a RUNS_ROOT ``layout``, every strategy
    added there (its latest version), by id. Listing never runs the user's code: an added
    strategy is described as the checker found it when it was added."""
    infos = [
        replace(StrategyInfo.of(d), source_sha256=StrategySource.of_builtin(get(d["id"])).sha256)
        for d in catalogue()
    ]
    if layout is not None:
        latest: dict[str, StoredStrategy] = {}
        versions: dict[str, list[str]] = {}
        for entry in StrategyStore(layout).entries():
            latest[entry.id] = entry
            versions.setdefault(entry.id, []).append(entry.version)
        for strategy_id, entry in latest.items():
            described = dict(entry.described or {"id": entry.id, "version": entry.version})
            described.setdefault("description", "")
            described.setdefault("params", [])
            described["versions"] = versions[strategy_id]
            infos.append(
                replace(
                    StrategyInfo.of(described),
                    kind="added",
                    source_sha256=entry.source_sha256,
                    origin=entry.origin,
                )
            )
    return sorted(infos, key=lambda info: info.id)


@dataclass(frozen=True)
class StrategyDetail:
    """One strategy with its code: what ``strategies show`` prints and ``/strategies`` shows."""

    info: StrategyInfo
    source: StrategySource

    def to_dict(self) -> dict[str, Any]:
        return self.info.to_dict() | {"source": self.source.to_json()}


def strategy_detail(layout: Layout, strategy_id: str, version: str | None = None) -> StrategyDetail:
    """The strategy ``strategy_id`` (at ``version``; None: the current or latest added one)."""
    for info in strategy_infos(layout):
        if info.id != strategy_id:
            continue
        if info.kind == "builtin":
            cls = get(strategy_id, version)
            described = describe(cls)
            source = StrategySource.of_builtin(cls)
            return StrategyDetail(
                replace(StrategyInfo.of(described), source_sha256=source.sha256), source
            )
        store = StrategyStore(layout)
        entry = store.find(strategy_id, version)
        if entry is None:
            break
        described = dict(entry.described or {"id": entry.id, "version": entry.version})
        described.setdefault("description", "")
        described.setdefault("params", [])
        described["versions"] = info.versions
        detail = replace(
            StrategyInfo.of(described),
            kind="added",
            source_sha256=entry.source_sha256,
            origin=entry.origin,
        )
        return StrategyDetail(detail, store.source(entry.source_sha256))
    raise error(
        ErrorCode.STRATEGY_UNKNOWN,
        f"no strategy {strategy_id!r}" + (f" version {version!r}" if version else ""),
    )


def strategy_details(layout: Layout) -> list[StrategyDetail]:
    """Every strategy :func:`strategy_infos` lists, with its code, in one pass."""
    store = StrategyStore(layout)
    details = []
    for info in strategy_infos(layout):
        if info.kind == "builtin":
            source = StrategySource.of_builtin(get(info.id))
        else:
            assert info.source_sha256 is not None
            source = store.source(info.source_sha256)
        details.append(StrategyDetail(info, source))
    return details

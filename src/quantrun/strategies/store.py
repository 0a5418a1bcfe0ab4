"""The user's strategies: added with ``quantrun strategies add``, stored by content under
RUNS_ROOT, found by id (and version) like the built-ins.

    RUNS_ROOT/strategies/
      index.json          what is listed: id, version, class, source sha256, origin, added_at
      <sha256>.json       one source (StrategySource.to_json), written once, never changed

A source is stored once by its sha256; the index lists the strategies it defines. Removing a
strategy unlists it; its source stays, so nothing a run recorded is lost (a run also keeps its
own copy). An id that a built-in uses, or an id and version already listed with other code, is
refused (STRATEGY_EXISTS): changed code gets a new version.

:func:`find_strategy` is the one lookup a run uses: built-ins (their registered versions), then
the added strategies, then installed packages' entry points (group ``quantrun.strategies``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from filelock import FileLock

from quantrun.canonical import canonical_file_bytes
from quantrun.durable import replace_file
from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout
from quantrun.strategies.base import Strategy
from quantrun.strategies.registry import get as builtin
from quantrun.strategies.registry import versions_of
from quantrun.strategies.source import StrategySource, strategies_in

INDEX_SCHEMA_VERSION = 1
ENTRY_POINT_GROUP = "quantrun.strategies"


@dataclass(frozen=True)
class StoredStrategy:
    """One listed strategy of the user's."""

    id: str
    version: str
    class_name: str
    source_sha256: str
    origin: str  # the path it was added from, as given (outside any identity)
    added_at: str | None = None
    #: Its description as the checker found it (id, version, description, parameters), so
    #: listing strategies never runs the user's code.
    described: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "class_name": self.class_name,
            "source_sha256": self.source_sha256,
            "origin": self.origin,
            "added_at": self.added_at,
            "described": self.described,
        }


@dataclass(frozen=True)
class FoundStrategy:
    """A strategy class with the code it comes from; ``kind``: builtin, added or entry_point."""

    cls: type[Strategy]
    source: StrategySource
    kind: str


class StrategyStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.folder = layout.strategies
        self.index_path = layout.strategies_index

    # -- reading ---------------------------------------------------------------------------
    def entries(self) -> list[StoredStrategy]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            raise error(
                ErrorCode.STRATEGY_SOURCE_INVALID,
                "the strategy index is unreadable; add the strategies again",
            ) from None
        rows = data.get("strategies", []) if isinstance(data, dict) else []
        return [StoredStrategy(**row) for row in rows]

    def source(self, sha256: str) -> StrategySource:
        try:
            data = json.loads(self.layout.strategy_source(sha256).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise error(
                ErrorCode.STRATEGY_SOURCE_INVALID, f"stored strategy source {sha256[:12]} is gone"
            ) from None
        return StrategySource.from_json(data)

    def find(self, strategy_id: str, version: str | None = None) -> StoredStrategy | None:
        """The listed strategy ``strategy_id`` at ``version`` (None: the latest added)."""
        matches = [e for e in self.entries() if e.id == strategy_id]
        if version is not None:
            matches = [e for e in matches if e.version == version]
        return matches[-1] if matches else None

    # -- writing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.layout.strategies_lock)):
            yield

    def _write_index(self, rows: list[StoredStrategy]) -> None:
        data = {"schema_version": INDEX_SCHEMA_VERSION, "strategies": [r.to_dict() for r in rows]}
        replace_file(self.index_path, canonical_file_bytes(data))

    def add(
        self, source: StrategySource, described: list[dict[str, Any]], origin: str
    ) -> list[StoredStrategy]:
        """List the strategies of ``source`` (``described``: as the checker found them, each
        with id, version and class_name). Idempotent for the same code; STRATEGY_EXISTS for an
        id a built-in uses or an id and version listed with other code."""
        classes = [
            (str(d["id"]), str(d["version"]), str(d.get("class_name", ""))) for d in described
        ]
        by_key = {(str(d["id"]), str(d["version"])): d for d in described}
        for strategy_id, _version, _name in classes:
            if versions_of(strategy_id):
                raise error(
                    ErrorCode.STRATEGY_EXISTS,
                    f"{strategy_id!r} is a built-in strategy's id; give yours another id",
                )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._locked():
            rows = self.entries()
            for strategy_id, version, _name in classes:
                taken = [r for r in rows if (r.id, r.version) == (strategy_id, version)]
                if taken and taken[0].source_sha256 != source.sha256:
                    raise error(
                        ErrorCode.STRATEGY_EXISTS,
                        f"{strategy_id} v{version} is already listed with other code "
                        f"({taken[0].source_sha256[:12]}); bump its version to add this one",
                    )
            path = self.layout.strategy_source(source.sha256)
            if not path.is_file():
                replace_file(path, canonical_file_bytes(source.to_json()))
            added = []
            for strategy_id, version, name in classes:
                if any((r.id, r.version) == (strategy_id, version) for r in rows):
                    continue
                entry = StoredStrategy(
                    strategy_id,
                    version,
                    name,
                    source.sha256,
                    origin,
                    now,
                    by_key[(strategy_id, version)],
                )
                rows.append(entry)
                added.append(entry)
            self._write_index(rows)
        return added

    def remove(self, strategy_id: str) -> list[StoredStrategy]:
        """Unlist every version of ``strategy_id`` (its source stays stored)."""
        with self._locked():
            rows = self.entries()
            gone = [r for r in rows if r.id == strategy_id]
            if not gone:
                raise error(
                    ErrorCode.STRATEGY_UNKNOWN, f"no added strategy {strategy_id!r} to remove"
                )
            self._write_index([r for r in rows if r.id != strategy_id])
        return gone

    # -- loading ---------------------------------------------------------------------------
    def load(self, entry: StoredStrategy) -> FoundStrategy:
        source = self.source(entry.source_sha256)
        return FoundStrategy(class_in(source, entry.id, entry.version), source, "added")


def class_in(source: StrategySource, strategy_id: str, version: str) -> type[Strategy]:
    """The class ``strategy_id`` ``version`` that ``source`` defines (loading it)."""
    for cls in strategies_in(source.load()):
        if cls.id == strategy_id and cls.version == version:
            return cls
    raise error(
        ErrorCode.STRATEGY_UNKNOWN,
        f"the stored code {source.sha256[:12]} defines no {strategy_id} v{version}",
    )


def _entry_point(strategy_id: str, version: str | None) -> FoundStrategy | None:
    """A strategy an installed package provides (``[project.entry-points."quantrun.strategies"]``
    ``my_id = "package.module:Class"``); its source is the module's file."""
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name != strategy_id:
            continue
        cls = point.load()
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            continue
        if version is not None and cls.version != version:
            continue
        dist = point.dist
        name, dist_version = (dist.name, dist.version) if dist is not None else ("unknown", "")
        return FoundStrategy(
            cls, StrategySource.of_entry_point(cls, name, dist_version), "entry_point"
        )
    return None


def builtin_finder(strategy_id: str, version: str | None = None) -> FoundStrategy:
    """A built-in strategy (STRATEGY_UNKNOWN for anything else)."""
    cls = builtin(strategy_id, version)
    return FoundStrategy(cls, StrategySource.of_builtin(cls), "builtin")


def finder(layout: Layout) -> Callable[[str, str | None], FoundStrategy]:
    """The lookup of a RUNS_ROOT: built-ins, the added strategies, entry points."""
    return functools.partial(find_strategy, layout)


def find_strategy(layout: Layout, strategy_id: str, version: str | None = None) -> FoundStrategy:
    """The strategy a run names: a built-in, an added strategy or an entry point's."""
    if versions_of(strategy_id):
        return builtin_finder(strategy_id, version)
    store = StrategyStore(layout)
    entry = store.find(strategy_id, version)
    if entry is not None:
        return store.load(entry)
    found = _entry_point(strategy_id, version)
    if found is not None:
        return found
    known = sorted({*(e.id for e in store.entries()), *_builtin_ids()})
    raise error(
        ErrorCode.STRATEGY_UNKNOWN,
        f"no strategy {strategy_id!r}"
        + (f" version {version!r}" if version else "")
        + f"; known: {', '.join(known)}",
    )


def _builtin_ids() -> list[str]:
    from quantrun.strategies.registry import all_strategies

    return [cls.id for cls in all_strategies()]

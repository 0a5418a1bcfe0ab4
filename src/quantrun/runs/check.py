"""``registry check``: recover the registry, then verify every listed run's artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quantrun.errors import QuantrunError
from quantrun.runs.reader import RunView
from quantrun.runs.registry import RecoveryReport, Registry


@dataclass(frozen=True)
class RegistryCheck:
    """What a check found: how many runs, the index generation, what recovery did, and the
    problems of every run that does not verify (run id -> problems)."""

    runs: int
    generation: int
    recovery: RecoveryReport
    failing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failing

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "generation": self.generation,
            "recovery": self.recovery.to_dict(),
            "failing": self.failing,
            "ok": self.ok,
        }


def check_registry(registry: Registry) -> RegistryCheck:
    """Recover, then re-hash every listed run against its manifest."""
    recovery = registry.recover()
    failing = {}
    rows = registry.entries()
    for row in rows:
        try:
            problems = RunView.open(registry, row.run_id).verify()
        except QuantrunError as exc:
            problems = [exc.detail]
        if problems:
            failing[row.run_id] = problems
    return RegistryCheck(len(rows), registry.index().generation, recovery, failing)

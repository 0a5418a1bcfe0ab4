"""What a sweep reports while it works. A light module: the CLI subclasses it at import time."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """How long the cells left should take, from a measured cell: ``per_cell`` seconds (the
    time of calibration cell ``measured_cell``, computed in the sweep's own process before any
    progress is reported; its result is kept) times the ``cells`` left, over ``workers``.

    An estimate, not a promise: worker start-up and cells of unequal cost are not in it."""

    seconds: float
    per_cell: float
    cells: int
    workers: int
    measured_cell: int

    @classmethod
    def measured(cls, per_cell: float, cells: int, workers: int, measured_cell: int) -> Estimate:
        seconds = per_cell * cells / max(1, workers)
        return cls(seconds, per_cell, cells, max(1, workers), measured_cell)

    def basis(self) -> str:
        """The estimate's basis in words."""
        where = f"{self.workers} workers" if self.workers > 1 else "1 worker"
        return (
            f"{self.cells} cell(s) left x {self.per_cell:.3f} s a cell (measured on cell "
            f"{self.measured_cell}) / {where}"
        )

    def text(self) -> str:
        """``estimated 2.2 s (98 cell(s) left x ...)``: the estimate and its basis."""
        shown = f"{self.seconds:.1f}" if self.seconds >= 1 else f"{self.seconds:.2g}"
        return f"estimated {shown} s ({self.basis()})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"basis": self.basis()}


def remaining_seconds(
    estimate: Estimate | None, elapsed: float, computed: int, left: int
) -> float | None:
    """The time left with ``left`` cells to go, ``computed`` cells done in ``elapsed`` seconds
    since the estimate: the rate measured so far once there is one, else the estimate."""
    if left <= 0:
        return 0.0
    if computed > 0 and elapsed > 0:
        return elapsed / computed * left
    if estimate is None:
        return None
    return estimate.per_cell * left / estimate.workers


class SweepProgress:
    """Hooks a sweep calls as it goes; the CLI's progress bar and the web job override them.

    The order: ``stage`` (the shared preparation), ``planned`` (the cell count), ``estimated``
    (before any ``advanced``, when cells are left to compute), then ``advanced``."""

    def stage(self, name: str) -> None:
        """A builder stage of the shared preparation (``ingest``, ``resample``)."""

    def planned(self, sweep_id: str, total: int, done: int, skipped: int) -> None:
        """The cells are known: ``done`` of ``total`` are already computed (an earlier,
        interrupted attempt, or the published sweep)."""

    def estimated(self, estimate: Estimate) -> None:
        """The estimated time of the cells left, from a measured cell, before any progress."""

    def advanced(self, done: int, total: int) -> None:
        """``done`` of ``total`` cells are computed (and checkpointed)."""

"""What a sweep reports while it works. A light module: the CLI subclasses it at import time."""

from __future__ import annotations


class SweepProgress:
    """Hooks a sweep calls as it goes; the CLI's progress bar and the web job override them."""

    def stage(self, name: str) -> None:
        """A builder stage of the shared preparation (``ingest``, ``resample``)."""

    def planned(self, sweep_id: str, total: int, done: int, skipped: int) -> None:
        """The cells are known: ``done`` of ``total`` are already computed (an earlier,
        interrupted attempt, or the published sweep)."""

    def estimated(self, seconds: float, workers: int) -> None:
        """The estimated time of the remaining cells, from the first cell's time."""

    def advanced(self, done: int, total: int) -> None:
        """``done`` of ``total`` cells are computed (and checkpointed)."""

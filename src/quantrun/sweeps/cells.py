"""Sweep cells named as ``SWEEP_ID:K`` where runs are expected (``runs compare``)."""

from __future__ import annotations

from collections.abc import Callable

from quantrun.errors import ErrorCode, error
from quantrun.runs.policy import run_exists
from quantrun.settings import Settings
from quantrun.sweeps.store import SweepStore


def cell_resolver(settings: Settings) -> Callable[[str, int], str]:
    """``(sweep_id or prefix, K) -> run id`` of a materialised cell. A cell whose run was not
    written yet is RUN_NOT_FOUND with the command that writes it: comparing reads runs, it
    never creates one."""
    store = SweepStore(settings)

    def resolve(sweep_id: str, number: int) -> str:
        full = store.resolve_id(sweep_id)
        cells = store.manifest(full).cells
        if not 0 <= number < len(cells):
            raise error(
                ErrorCode.SWEEP_NOT_FOUND,
                f"sweep {full[:12]} has cells 0 to {len(cells) - 1}, not {number}",
            )
        run_id = cells[number].run_id
        if not run_exists(settings, run_id):
            raise error(
                ErrorCode.RUN_NOT_FOUND,
                f"cell {number} of sweep {full[:12]} (run {run_id[:12]}) is not materialised",
                hint=f"Write its run first: quantrun sweeps materialize {full[:12]} "
                f"--cell {number}.",
            )
        return run_id

    return resolve

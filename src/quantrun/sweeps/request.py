"""``SweepRequest``: a base run request and a grid. Every cell is the base with its parameters.

The base is a :class:`~quantrun.runs.request.RunCreateRequest` without parameters: the grid
gives them all (a fixed parameter is a one-value axis), so a cell's request is exactly
``base.with_params(cell)`` — the request ``runs create`` would get with ``--param`` for each
of the cell's values — and gets that run's id::

    SweepRequest(run=RunCreateRequest(paths=["btc.csv"], symbol="BTCUSDT",
                                      strategy="sma_crossover"),
                 grid=[GridAxis(name="fast", values=[5, 10]),
                       GridAxis(name="slow", values=[60, 80])])
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from quantrun.errors import ErrorCode, error
from quantrun.runs.request import RunCreateRequest
from quantrun.sweeps.grid import GridAxis, Scalar

#: The run request's fields a sweep takes from its grid instead.
GRID_FIELDS = frozenset({"params"})


class SweepRequest(BaseModel):
    """A sweep: ``run`` (every field of a run request but ``params``), the ``grid`` axes in
    order, and whether cells the strategy refuses are skipped (and recorded) or refuse the
    whole sweep."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: RunCreateRequest
    grid: list[GridAxis]
    skip_invalid: bool = False

    @model_validator(mode="after")
    def _params_come_from_the_grid(self) -> SweepRequest:
        if self.run.params:
            raise error(
                ErrorCode.SWEEP_GRID_INVALID,
                "a sweep takes its parameters from the grid: give a fixed parameter as a "
                f"one-value axis (--grid {next(iter(self.run.params))}=VALUE)",
            )
        return self

    def cell_request(self, params: dict[str, Scalar]) -> RunCreateRequest:
        """The run request of the cell with ``params``: the base with those parameters."""
        return cell_request(self.run, params)


def cell_request(base: RunCreateRequest, params: dict[str, Any]) -> RunCreateRequest:
    """``base`` with ``params``: the very request ``runs create --param ...`` builds (the
    model's validators do not look at the parameters; the strategy's model checks them when
    the request is resolved)."""
    return base.model_copy(update={"params": dict(params)})

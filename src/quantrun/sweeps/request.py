"""``SweepRequest``: a base run request, a grid and, optionally, more datasets.

The base is a :class:`~quantrun.runs.request.RunCreateRequest` without parameters: the grid
gives them all (a fixed parameter is a one-value axis), so a cell's request is exactly
``base.with_params(cell)`` — the request ``runs create`` would get with ``--param`` for each
of the cell's values — and gets that run's id::

    SweepRequest(run=RunCreateRequest(paths=["btc.csv"], symbol="BTCUSDT",
                                      strategy="sma_crossover"),
                 grid=[GridAxis(name="fast", values=[5, 10]),
                       GridAxis(name="slow", values=[60, 80])])

The dataset axis (D47): ``datasets`` lists further inputs, each a :class:`SweepInput` (a
symbol and its files, or a stored dataset's id: the run request's own input fields, not
retyped). The axis is the base's own input first, then these, in order; it is the grid's
outermost axis. A cell on dataset ``k`` is the base request with dataset ``k``'s input fields
and the cell's parameters: what ``runs create`` would be given for that dataset. Without
``datasets`` a sweep is exactly what it was before the axis existed (same id, same bytes).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from quantrun.errors import ErrorCode, error
from quantrun.fields import validated
from quantrun.runs.request import RunCreateRequest
from quantrun.sweeps.grid import GridAxis, Scalar

#: The run request's fields a sweep takes from its grid instead.
GRID_FIELDS = frozenset({"params"})
#: The run request's fields that name one dataset of the dataset axis.
INPUT_FIELDS = ("symbol", "paths", "dataset", "labels")


def _field(name: str) -> Any:
    """A run request field as ``create_model`` takes it: its annotation and its FieldInfo."""
    info = RunCreateRequest.model_fields[name]
    return (info.annotation, info)


#: One dataset of the dataset axis: the run request's input fields (symbol, files or a stored
#: dataset's id, the files' labels), declared by RunCreateRequest and derived here.
SweepInput: type[BaseModel] = create_model(
    "SweepInput",
    __config__=ConfigDict(frozen=True, extra="forbid"),
    __doc__="One dataset of a sweep's dataset axis: a symbol and its input files (joined in "
    "order, as `runs create FILE...` joins them) or a stored dataset's id.",
    **{name: _field(name) for name in INPUT_FIELDS},
)


class SweepRequest(BaseModel):
    """A sweep: ``run`` (every field of a run request but ``params``), the ``grid`` axes in
    order, whether cells the strategy refuses are skipped (and recorded) or refuse the whole
    sweep, and the further ``datasets`` of the dataset axis (after ``run``'s own input)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: RunCreateRequest
    grid: list[GridAxis]
    skip_invalid: bool = False
    datasets: list[SweepInput] = Field(  # type: ignore[valid-type]  # a derived model
        default_factory=list,
        description="Further datasets of the dataset axis, after the run's own input: each a "
        "symbol and its files (or a stored dataset's id).",
    )

    @model_validator(mode="after")
    def _params_come_from_the_grid(self) -> SweepRequest:
        if self.run.params:
            raise error(
                ErrorCode.SWEEP_GRID_INVALID,
                "a sweep takes its parameters from the grid: give a fixed parameter as a "
                f"one-value axis (--grid {next(iter(self.run.params))}=VALUE)",
            )
        return self

    @model_validator(mode="after")
    def _datasets_are_distinct(self) -> SweepRequest:
        """Each dataset of the axis is a valid run input, and none is given twice
        (SWEEP_DATASET_DUPLICATE; the same bars under two names are caught when read)."""
        seen: dict[tuple[Any, ...], int] = {}
        for index, run in enumerate(self.inputs()):
            key = (run.symbol, tuple(run.paths), run.dataset)
            if key in seen:
                raise error(
                    ErrorCode.SWEEP_DATASET_DUPLICATE,
                    f"dataset {index + 1} ({describe_input(run)}) is dataset {seen[key] + 1} again",
                )
            seen[key] = index
        return self

    def inputs(self) -> list[RunCreateRequest]:
        """The base request of each dataset of the axis, in axis order (the run's first)."""
        return [self.run, *(input_request(self.run, item) for item in self.datasets)]

    def dataset_fields(self) -> list[dict[str, Any]]:
        """The further datasets as JSON (the fields each was given)."""
        items: list[BaseModel] = list(self.datasets)
        return [item.model_dump(mode="json", exclude_unset=True) for item in items]

    def cell_request(self, params: dict[str, Scalar]) -> RunCreateRequest:
        """The run request of the cell with ``params`` on the first dataset."""
        return cell_request(self.run, params)


def input_request(base: RunCreateRequest, item: BaseModel) -> RunCreateRequest:
    """``base`` reading the dataset ``item`` names instead of its own: every option the base
    was given, the input fields from ``item`` — the request ``runs create`` would be given for
    that dataset (its own rules apply: files or a dataset, no file options beside a dataset)."""
    data = {k: v for k, v in base.model_dump(exclude_unset=True).items() if k not in INPUT_FIELDS}
    data.update(item.model_dump(exclude_unset=True))
    return validated(RunCreateRequest, data)


#: How ``--data`` names a stored dataset instead of files.
STORED_PREFIX = "dataset:"


def parse_data(item: str) -> dict[str, Any]:
    """One ``--data`` value as a :data:`SweepInput`'s fields: ``SYMBOL=FILE[,FILE...]`` (the
    files joined in order into one dataset) or ``SYMBOL=dataset:ID`` (a stored dataset)."""
    symbol, sep, source = item.partition("=")
    if not sep or not symbol.strip() or not source.strip():
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"--data {item[:80]!r} is not SYMBOL=FILE[,FILE...] or SYMBOL=dataset:ID",
        )
    if source.startswith(STORED_PREFIX):
        return {"symbol": symbol.strip(), "dataset": source[len(STORED_PREFIX) :].strip()}
    paths = [path for path in source.split(",") if path]
    return {"symbol": symbol.strip(), "paths": paths}


def stored_datasets(text: str | None) -> list[dict[str, Any]]:
    """The web's ``datasets`` field: a JSON list of ``{"symbol", "dataset"}`` objects (stored
    datasets only: the web never reads paths on the server's disk)."""
    if text is None or not text.strip():
        return []
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and set(item) == {"symbol", "dataset"} for item in items
    ):
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            'datasets: give a JSON list of {"symbol": ..., "dataset": ID} objects',
        )
    return items


def axis_inputs(
    run: dict[str, Any], data: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The base run request's fields and the further datasets from a command line's input:
    the positional files (or ``--dataset``) with ``--symbol`` are the first dataset and each
    ``--data`` adds one; without positional files or ``--dataset``, the first ``--data`` is
    the first dataset (and ``--symbol`` has nothing to name)."""
    items = [parse_data(item) for item in data]
    if not items or run.get("paths") or run.get("dataset") is not None:
        return run, items
    if "symbol" in run:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            "--symbol names the symbol of input FILEs or --dataset; each --data names its own",
        )
    return run | items[0], items[1:]


def describe_input(run: RunCreateRequest) -> str:
    """A dataset of the axis as messages name it: ``SYMBOL=file,file`` or ``SYMBOL=dataset:ID``."""
    source = f"dataset:{run.dataset}" if run.dataset is not None else ",".join(run.source_labels())
    return f"{run.symbol}={source}"


def cell_request(base: RunCreateRequest, params: dict[str, Any]) -> RunCreateRequest:
    """``base`` with ``params``: the very request ``runs create --param ...`` builds (the
    model's validators do not look at the parameters; the strategy's model checks them when
    the request is resolved)."""
    return base.model_copy(update={"params": dict(params)})

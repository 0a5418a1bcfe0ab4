"""The grid of a sweep: named axes of parameter values, expanded into cells in grid order.

An axis is written ``NAME=V1,V2,...`` (listed values) or ``NAME=START:STOP:STEP`` (a range,
both ends included when on the step), on the command line (``--grid``, repeated) or in a grid
file, a JSON object of axes in order::

    {"fast": [5, 10, 20], "slow": "60:240:20", "ties": ["strict", "inclusive"]}

(a value is a list, a string in the command-line form, or ``{"start", "stop", "step"}``).
Cells are the cartesian product of the axes, the first axis varying slowest, as
``itertools.product`` orders them; that order is the sweep's grid order.

Checked here, before anything is read or written: the syntax (SWEEP_GRID_INVALID), each name
against the strategy's parameters (SWEEP_PARAM_UNKNOWN), ranges (SWEEP_RANGE_INVALID),
numbers for numeric parameters (SWEEP_VALUE_INVALID) and the number of cells against the cap
(LIMIT_SWEEP_CELLS), all without expanding a huge range first.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from quantrun.errors import ErrorCode, error

#: A parameter value a grid may hold.
Scalar = bool | int | float | str

_INT = re.compile(r"^[+-]?\d+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The most characters of a grid spec or value quoted back in a message.
_QUOTE = 60


class GridAxis(BaseModel):
    """One axis: a parameter name and its values, in the order given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    values: list[Scalar]


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE else text[:_QUOTE] + "…")


def _number(text: str) -> int | float | None:
    """``text`` as an int or a finite float, or None when it is not a number."""
    text = text.strip()
    if _INT.match(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _decimal(text: str, spec: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise error(
            ErrorCode.SWEEP_RANGE_INVALID,
            f"range {_quote(spec)}: {_quote(text)} is not a number",
        ) from None
    if not value.is_finite():
        raise error(ErrorCode.SWEEP_RANGE_INVALID, f"range {_quote(spec)}: {text} is not finite")
    return value


def range_values(spec: str, limit: int) -> list[int | float]:
    """``START:STOP:STEP`` expanded: START, START+STEP, ... up to STOP included. Ints when all
    three are integers, else floats computed in decimal (``0.1:0.3:0.1`` is 0.1, 0.2, 0.3).
    More than ``limit`` values is LIMIT_SWEEP_CELLS, refused before expanding."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise error(
            ErrorCode.SWEEP_RANGE_INVALID,
            f"range {_quote(spec)} is not START:STOP:STEP",
        )
    start, stop, step = (_decimal(part, spec) for part in parts)
    if step <= 0:
        raise error(ErrorCode.SWEEP_RANGE_INVALID, f"range {_quote(spec)}: STEP must be above 0")
    if start > stop:
        raise error(
            ErrorCode.SWEEP_RANGE_INVALID,
            f"range {_quote(spec)} is empty: START is above STOP",
        )
    count = int((stop - start) // step) + 1
    if count > limit:
        raise error(
            ErrorCode.LIMIT_SWEEP_CELLS,
            f"range {_quote(spec)} alone has {count:,} values; a sweep holds at most "
            f"{limit:,} cells",
            extra={"cells": count, "limit": limit},
        )
    integral = all(_INT.match(part.strip()) for part in parts)
    values = [start + step * i for i in range(count)]
    return [int(v) if integral else float(v) for v in values]


def parse_axis(spec: str, limit: int) -> GridAxis:
    """One ``--grid`` value: ``NAME=V1,V2,...`` or ``NAME=START:STOP:STEP``. Values are read
    as numbers when they are numbers, else kept as text (the strategy's parameter model
    decides, as it does for ``--param``)."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise error(
            ErrorCode.SWEEP_GRID_INVALID,
            f"--grid {_quote(spec)} is not NAME=V1,V2,... or NAME=START:STOP:STEP",
        )
    return GridAxis(name=name, values=_values_text(name, rest, limit))


def _values_text(name: str, text: str, limit: int) -> list[Scalar]:
    if ":" in text:
        return list(range_values(text, limit))
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(item == "" for item in items):
        raise error(
            ErrorCode.SWEEP_GRID_INVALID,
            f"--grid {name}={_quote(text)}: give one or more values separated by commas",
        )
    values: list[Scalar] = []
    for item in items:
        number = _number(item)
        values.append(item if number is None else number)
    return values


def read_grid_file(path: Path, limit: int) -> list[GridAxis]:
    """The axes of a grid file (see the module docstring), in the file's order."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(ErrorCode.INPUT_NOT_FOUND, f"grid file {path.name} not found") from None
    except (OSError, UnicodeDecodeError):
        raise error(
            ErrorCode.SWEEP_GRID_INVALID, f"grid file {path.name} is not UTF-8 JSON"
        ) from None
    return grid_from_json(text, limit, f"grid file {path.name}")


def grid_from_json(text: str, limit: int, what: str = "grid") -> list[GridAxis]:
    """The axes of a JSON object of NAME: values (a grid file's text, the web's ``grid``
    field), in the object's order."""
    try:
        data = json.loads(text)
    except ValueError:
        raise error(ErrorCode.SWEEP_GRID_INVALID, f"{what} is not JSON") from None
    if not isinstance(data, dict) or not data:
        raise error(
            ErrorCode.SWEEP_GRID_INVALID,
            f"{what} must be a JSON object of NAME: values",
        )
    return [_axis_of(str(name), value, limit) for name, value in data.items()]


def _axis_of(name: str, value: Any, limit: int) -> GridAxis:
    if not _NAME.match(name):
        raise error(ErrorCode.SWEEP_GRID_INVALID, f"grid axis {_quote(name)} is not a name")
    if isinstance(value, str):
        return GridAxis(name=name, values=_values_text(name, value, limit))
    if isinstance(value, dict):
        if set(value) != {"start", "stop", "step"}:
            raise error(
                ErrorCode.SWEEP_RANGE_INVALID,
                f"grid axis {name}: a range is {{'start', 'stop', 'step'}}",
            )
        parts = [value["start"], value["stop"], value["step"]]
        if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts):
            raise error(
                ErrorCode.SWEEP_RANGE_INVALID, f"grid axis {name}: range bounds must be numbers"
            )
        return GridAxis(name=name, values=list(range_values(":".join(map(str, parts)), limit)))
    if isinstance(value, list) and value:
        if not all(isinstance(v, bool | int | float | str) for v in value):
            raise error(
                ErrorCode.SWEEP_GRID_INVALID,
                f"grid axis {name}: values must be numbers, text or true/false",
            )
        return GridAxis(name=name, values=list(value))
    raise error(
        ErrorCode.SWEEP_GRID_INVALID,
        f"grid axis {name}: give a non-empty list, 'V1,V2' or 'START:STOP:STEP'",
    )


def check_axes(axes: Sequence[GridAxis], limit: int, datasets: int = 1) -> int:
    """Refuse a grid with no axis, a name given twice or a value repeated on an axis
    (SWEEP_GRID_INVALID), or more cells than ``limit`` (LIMIT_SWEEP_CELLS) over ``datasets``
    datasets; the cell count of one dataset."""
    if not axes:
        raise error(ErrorCode.SWEEP_GRID_INVALID, "a sweep needs at least one --grid axis")
    seen: set[str] = set()
    for axis in axes:
        if axis.name in seen:
            raise error(ErrorCode.SWEEP_GRID_INVALID, f"grid axis {axis.name} is given twice")
        seen.add(axis.name)
        if not axis.values:
            raise error(ErrorCode.SWEEP_GRID_INVALID, f"grid axis {axis.name} has no values")
        keys = [json.dumps(v) for v in axis.values]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise error(
                ErrorCode.SWEEP_GRID_INVALID,
                f"grid axis {axis.name} repeats {', '.join(repeated)}",
            )
    cells = math.prod(len(axis.values) for axis in axes)
    if cells * datasets > limit:
        sizes = [str(len(a.values)) for a in axes] + (
            [f"{datasets} datasets"] if datasets > 1 else []
        )
        raise error(
            ErrorCode.LIMIT_SWEEP_CELLS,
            f"the grid has {cells * datasets:,} cells; a sweep holds at most {limit:,} "
            f"({' x '.join(sizes)})",
            extra={"cells": cells * datasets, "limit": limit},
        )
    return cells


def check_names(axes: Sequence[GridAxis], kinds: Mapping[str, str], strategy: str) -> None:
    """Each axis names a parameter of the strategy (SWEEP_PARAM_UNKNOWN) and a numeric
    parameter gets numbers (SWEEP_VALUE_INVALID). ``kinds``: parameter name -> its JSON
    schema type (``integer``, ``number``, ``string``, ``boolean``, or "" when mixed)."""
    for axis in axes:
        if axis.name not in kinds:
            known = ", ".join(kinds) or "none"
            raise error(
                ErrorCode.SWEEP_PARAM_UNKNOWN,
                f"{strategy} has no parameter {axis.name!r} (parameters: {known})",
            )
        if kinds[axis.name] in ("integer", "number"):
            bad = [v for v in axis.values if isinstance(v, bool) or not isinstance(v, int | float)]
            if bad:
                raise error(
                    ErrorCode.SWEEP_VALUE_INVALID,
                    f"{strategy} parameter {axis.name} is a number; {_quote(str(bad[0]))} is not",
                )


def cells(axes: Sequence[GridAxis]) -> Iterator[dict[str, Scalar]]:
    """Every cell's parameters, in grid order (the first axis varies slowest)."""
    names = [axis.name for axis in axes]
    for combination in itertools.product(*(axis.values for axis in axes)):
        yield dict(zip(names, combination, strict=True))


def parse_grid(specs: Sequence[str], grid_file: Path | None, limit: int) -> list[GridAxis]:
    """The axes of a grid file (first, in its order) and of ``--grid`` specs (then, in the
    order given)."""
    axes = read_grid_file(grid_file, limit) if grid_file is not None else []
    return axes + [parse_axis(spec, limit) for spec in specs]

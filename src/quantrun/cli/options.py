"""CLI options derived from a request model's fields (see :mod:`quantrun.fields`).

``@request_options(RunCreateRequest)`` adds one click parameter per field the model puts on
the command line: ``--kebab-name`` with the field's type, choices, default (shown in
``--help``) and description; a list field marked ``argument`` becomes the positional
arguments; a mapping becomes a repeated ``--flag name=value``. :func:`request_data` turns
the parsed values back into the model's input, keeping only what the user gave, so the model's
defaults and rules (e.g. one risk choice) decide the rest::

    @runs.command("create")
    @request_options(RunCreateRequest)
    def runs_create(**values): request = validated(RunCreateRequest,
                                                 request_data(RunCreateRequest, values))
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from quantrun.errors import error
from quantrun.fields import MAPPING, RequestField, request_fields

F = TypeVar("F", bound=Callable[..., Any])


def _base_type(annotation: Any) -> Any:
    """``float | None`` -> ``float``; other annotations as they are."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else str
    return annotation


def _click_type(field: RequestField) -> Any:
    if field.edge.choices is not None:
        return click.Choice(list(field.edge.choices()))
    base = _base_type(field.info.annotation)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return click.Choice([str(member.value) for member in base])
    if base is float:
        return float
    if base is int:
        return int
    return str


def _help(field: RequestField) -> str:
    """The field's description, and its default when it has one worth showing."""
    default = field.default
    shown = default.value if isinstance(default, enum.Enum) else default
    if shown is None or shown is False or field.edge.argument or field.edge.kind == MAPPING:
        return field.description
    return f"{field.description}  [default: {shown}]"


def cli_fields(model: type[BaseModel], exclude: frozenset[str] = frozenset()) -> list[RequestField]:
    """The fields of ``model`` that are on the command line: the model's own first, then the
    ones it inherits (a run's input options after its own), each in declaration order."""
    fields = [f for f in request_fields(model) if f.edge.cli and f.name not in exclude]
    own = vars(model).get("__annotations__", {})
    return sorted(fields, key=lambda f: f.name not in own)


def _parameter(field: RequestField, required: bool) -> Callable[[F], F]:
    if field.edge.argument:
        return click.argument(field.name, nargs=-1, required=required, type=click.Path())
    if field.edge.kind == MAPPING:
        return click.option(
            field.flag, field.name, multiple=True, metavar="NAME=VALUE", help=_help(field)
        )
    if _base_type(field.info.annotation) is bool:
        return click.option(field.flag, field.name, is_flag=True, help=_help(field))
    # No click default: only what the user gives reaches the model, whose defaults (shown in
    # the help) and rules decide the rest.
    return click.option(
        field.flag,
        field.name,
        type=_click_type(field),
        default=None,
        required=required,
        help=_help(field),
    )


def request_options(
    model: type[BaseModel],
    *,
    exclude: frozenset[str] = frozenset(),
    optional: frozenset[str] = frozenset(),
) -> Callable[[F], F]:
    """Add a click parameter for every command-line field of ``model`` (declaration order).
    ``optional``: required fields a command may take from elsewhere (the model still
    requires them once the command has put its input together)."""

    def decorate(func: F) -> F:
        for field in reversed(cli_fields(model, exclude)):
            func = _parameter(field, field.required and field.name not in optional)(func)
        return func

    return decorate


def _mapping(field: RequestField, items: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise error(field.edge.malformed, f"{field.flag} {item!r} is not name=value")
        values[name.strip()] = value.strip()
    return values


def request_data(
    model: type[BaseModel],
    values: Mapping[str, Any],
    *,
    exclude: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The model input from parsed click ``values``: only what was given (None, an unset flag
    and an empty repeat are left to the model's defaults)."""
    data: dict[str, Any] = {}
    for field in cli_fields(model, exclude):
        value = values.get(field.name)
        if value is None or value is False or value == ():
            continue
        if field.edge.argument:
            value = list(value)
        elif field.edge.kind == MAPPING:
            value = _mapping(field, value)
        data[field.name] = value
    return data

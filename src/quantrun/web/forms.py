"""Form fields derived from a request model's fields (see :mod:`quantrun.fields`).

``@form_fields(RunCreateRequest)`` gives a route one ``Form`` parameter per field the model
puts on the web, with the model's type, default and description, so ``POST /api/v1/runs``, its
OpenAPI description and the new-run page's form all follow the model. The route receives them
as ``**form``; :func:`form_data` turns them into the model's input: empty fields are left to
the model's defaults, text is trimmed, and a mapping (``params``) is read from a JSON object.
"""

from __future__ import annotations

import enum
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Form
from pydantic import BaseModel

from quantrun.errors import error
from quantrun.fields import MAPPING, RequestField, request_fields

F = TypeVar("F", bound=Callable[..., Any])


def web_fields(model: type[BaseModel], exclude: frozenset[str] = frozenset()) -> list[RequestField]:
    """The fields of ``model`` that a web form (multipart request) carries."""
    return [f for f in request_fields(model) if f.edge.web and f.name not in exclude]


def _form_type(field: RequestField) -> Any:
    """The field's type as a form sends it: text, a number or a checkbox."""
    if field.edge.kind == MAPPING:
        return str
    annotation = field.info.annotation
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0] if len(members) == 1 else str
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        annotation = str
    if annotation not in (str, float, int, bool):
        annotation = str
    return annotation | None if optional else annotation


def _form_default(field: RequestField) -> Any:
    if field.required:
        return inspect.Parameter.empty
    if field.edge.kind == MAPPING:
        return "{}"
    default = field.default
    return default.value if isinstance(default, enum.Enum) else default


def form_fields(
    model: type[BaseModel], *, exclude: frozenset[str] = frozenset()
) -> Callable[[F], F]:
    """Declare ``model``'s web fields as the route's form parameters (after its own)."""

    def decorate(route: F) -> F:
        own = [
            p
            for p in inspect.signature(route).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        extra = [
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[_form_type(field), Form(description=field.description)],
                default=_form_default(field),
            )
            for field in web_fields(model, exclude)
        ]
        route.__signature__ = inspect.Signature([*own, *extra])  # type: ignore[attr-defined]  # FastAPI reads the parameters from __signature__
        return route

    return decorate


def _mapping(field: RequestField, text: str) -> dict[str, Any]:
    code = field.edge.malformed
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise error(code, f"{field.name} is not a JSON object") from None
    if not isinstance(value, dict):
        raise error(code, f"{field.name} is not a JSON object")
    return value


def form_data(
    model: type[BaseModel], form: Mapping[str, Any], *, exclude: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The model input from the submitted ``form`` values (see the module docstring)."""
    data: dict[str, Any] = {}
    for field in web_fields(model, exclude):
        value = form.get(field.name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            continue
        if field.edge.kind == MAPPING:
            value = _mapping(field, value)
        data[field.name] = value
    return data

"""How a request model's fields reach the edges: declared once, on the field itself.

A request (``RunCreateRequest``, ``IngestRequest``) is one pydantic model. Each field carries
its type, default and description, plus an :class:`Edge` marker saying how it appears on the
command line and in the web form. The CLI derives its options and the web its form fields
from these declarations (``cli/options.py``, ``web/forms.py``), so a new field is declared
once and reaches every edge, its help text and the docs::

    symbol: Annotated[str, Edge()] = Field(description="Instrument name, e.g. BTCUSDT.")
    labels: Annotated[list[str] | None, Edge(cli=False, web=False, why="...")] = None

A field absent from an edge says why (``why``), and a test holds every field to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from quantrun.errors import ErrorCode, error

M = TypeVar("M", bound=BaseModel)

#: Value kinds an edge must translate: a repeated ``--param name=value`` on the command line and
#: a JSON object in a form field.
MAPPING = "mapping"


@dataclass(frozen=True)
class Edge:
    """How one request field appears on the edges besides the Python API."""

    #: A ``--kebab-name`` option (or an argument) of the CLI command.
    cli: bool = True
    #: A field of the web form / multipart API request.
    web: bool = True
    #: Why the field is missing from an edge (required when ``cli`` or ``web`` is False).
    why: str = ""
    #: A positional CLI argument (a list field: one or more).
    argument: bool = False
    #: The CLI flag when it is not ``--field-name`` (e.g. ``--param`` for ``params``).
    flag: str | None = None
    #: The values offered (CLI choices; the form's options).
    choices: Callable[[], Sequence[str]] | None = None
    #: ``MAPPING`` for a name -> value mapping (repeated ``name=value`` / a JSON object).
    kind: str = ""
    #: The code an edge refuses a malformed value with (e.g. ``--param x`` without ``=``).
    malformed: ErrorCode = ErrorCode.USAGE_INVALID_OPTION

    def __post_init__(self) -> None:
        if (not self.cli or not self.web) and not self.why:
            raise ValueError("a field kept off an edge must say why")


@dataclass(frozen=True)
class RequestField:
    """One model field as the edges see it."""

    name: str
    info: FieldInfo
    edge: Edge

    @property
    def required(self) -> bool:
        return self.info.is_required()

    @property
    def default(self) -> Any:
        """The declared default (None when required or built by a factory)."""
        if self.info.is_required() or self.info.default_factory is not None:
            return None
        return self.info.default

    @property
    def description(self) -> str:
        return self.info.description or ""

    @property
    def flag(self) -> str:
        return self.edge.flag or "--" + self.name.replace("_", "-")


def request_fields(model: type[BaseModel]) -> Iterator[RequestField]:
    """Every field of ``model`` with its edge marker (a field without one is on every edge)."""
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, Edge)), Edge())
        yield RequestField(name, info, marker)


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """``model(**data)``, a pydantic refusal turned into USAGE_INVALID_OPTION naming the field
    (the model's own validators raise their own stable codes)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"{where}: {first['msg']}") from None

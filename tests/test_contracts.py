"""One contract per noun: the request models drive every edge, and nothing outside the model
modules reads a manifest or a registry row by key.

- Every field of ``RunCreateRequest`` / ``IngestRequest`` is a CLI option (or argument) of the
  commands that take it and a form field of the routes that take it, or its ``Edge`` marker
  says why it is not; help text and defaults come from the field.
- A field added to a request model reaches the CLI, the form, the new-run page and the docs
  without any other edit (shown with a subclass).
- No module under ``src/quantrun`` subscripts a manifest or an index entry by string key.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, Field

from quantrun.cli import main
from quantrun.cli.options import cli_fields, request_data, request_options
from quantrun.data.request import IngestRequest
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.fields import request_fields, validated
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings
from quantrun.web.app import create_app
from quantrun.web.forms import form_data, form_fields, web_fields
from quantrun.web.views import PAGE_FIELDS, declared_fields

SRC = Path(__file__).resolve().parents[1] / "src" / "quantrun"
DOCS = Path(__file__).resolve().parents[1] / "docs"

#: (model, CLI command path, API route and method taking it as a form)
EDGES: list[tuple[type[BaseModel], tuple[str, ...], str]] = [
    (RunCreateRequest, ("runs", "create"), "/api/v1/runs"),
    (IngestRequest, ("data", "ingest"), "/api/v1/inspect"),
    (IngestRequest, ("data", "inspect"), "/api/v1/inspect"),
]


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _form_schema(route: str) -> dict[str, Any]:
    schema = create_app(Settings()).openapi()
    body = schema["paths"][route]["post"]["requestBody"]["content"]["multipart/form-data"]
    ref = body["schema"]["$ref"].rsplit("/", 1)[-1]
    props: dict[str, Any] = schema["components"]["schemas"][ref]["properties"]
    return props


@pytest.mark.parametrize(("model", "path", "route"), EDGES, ids=[" ".join(e[1]) for e in EDGES])
def test_every_field_is_on_each_edge_or_says_why(
    model: type[BaseModel], path: tuple[str, ...], route: str
) -> None:
    params = {p.name: p for p in _command(path).params}
    form = _form_schema(route)
    for field in request_fields(model):
        if field.edge.cli:
            assert field.name in params, f"{field.name}: no CLI parameter on {' '.join(path)}"
            param = params[field.name]
            if isinstance(param, click.Option):
                assert (param.help or "").startswith(field.description), field.name
                if not param.is_flag and field.default not in (None, {}):
                    shown = getattr(field.default, "value", field.default)
                    assert f"[default: {shown}]" in (param.help or ""), field.name
        else:
            assert field.edge.why, f"{field.name}: off the CLI without a reason"
            assert field.name not in params
        if field.edge.web:
            assert field.name in form, f"{field.name}: no form field on POST {route}"
            assert form[field.name].get("description") == field.description
        else:
            assert field.edge.why, f"{field.name}: off the web without a reason"
            assert field.name not in form


def test_the_api_only_fields_are_the_declared_ones() -> None:
    """The deliberate exceptions, listed: a new field is on every edge unless it says why."""
    off_cli = {f.name for f in request_fields(RunCreateRequest) if not f.edge.cli}
    off_web = {f.name for f in request_fields(RunCreateRequest) if not f.edge.web}
    assert off_cli == {
        "labels",
        "risk_config",
        "identity_schema",
        "artifact_schema",
        "resample_rules",
    }
    assert off_web == {
        "paths",
        "labels",
        "risk_config",
        "risk_file",
        "identity_schema",
        "artifact_schema",
        "resample_rules",
    }


def test_the_new_run_page_offers_every_web_field() -> None:
    names = {f.name for f in web_fields(RunCreateRequest)}
    rendered = {row["name"] for row in declared_fields(PAGE_FIELDS)}
    assert set(PAGE_FIELDS) <= names
    assert set(PAGE_FIELDS) | rendered == names
    assert "strategy_version" in rendered


def test_the_cli_docs_name_every_option() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for _model, path, _route in EDGES:
        for param in _command(path).params:
            if isinstance(param, click.Option):
                assert param.opts[0] in text, f"{param.opts[0]} of {' '.join(path)}"


class _Extended(RunCreateRequest):
    """A run request with one more field, as a later issue would add it."""

    note: str | None = Field(default=None, description="A note recorded with the run.")


def test_a_new_field_reaches_the_cli_the_form_and_the_page_without_other_edits() -> None:
    @click.command()
    @request_options(_Extended)
    def command(**values: Any) -> None:
        request = validated(_Extended, request_data(_Extended, values))
        click.echo(f"{request.note}|{request.symbol}|{request.risk}")

    runner = CliRunner()
    help_text = runner.invoke(command, ["--help"]).output
    assert "--note" in help_text and "A note recorded with the run." in help_text
    done = runner.invoke(command, ["a.csv", "--symbol", "X", "--strategy", "s", "--note", "hi"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "hi|X|moderate"

    def route(**form: Any) -> dict[str, Any]:
        return form_data(_Extended, form)

    signature = inspect.signature(form_fields(_Extended)(route))
    assert "note" in signature.parameters
    assert route(symbol=" X ", note="", params="{}") == {"symbol": "X", "params": {}}
    assert {"note"} <= {f.name for f in web_fields(_Extended)} - set(PAGE_FIELDS)
    assert "note" in {f.name for f in cli_fields(_Extended)}


def test_one_risk_choice_is_refused_the_same_everywhere(tmp_path: Path) -> None:
    both = {"paths": ["a.csv"], "symbol": "X", "strategy": "sma_crossover"}
    for extra in (
        {"risk": "moderate", "risk_file": "r.json"},
        {"risk": "aggressive", "risk_config": {"position_fraction": 1.0}},
        {"risk_file": "r.json", "risk_config": {"position_fraction": 1.0}},
    ):
        with pytest.raises(QuantrunError) as caught:
            validated(RunCreateRequest, both | extra)
        assert caught.value.code == ErrorCode.RUN_RISK_CONFLICT
    cli = CliRunner().invoke(
        main,
        [
            *("runs", "create", "a.csv", "--symbol", "X", "--strategy", "sma_crossover"),
            *("--risk", "moderate", "--risk-file", "r.json", "--runs-root", str(tmp_path)),
        ],
    )
    assert cli.exit_code == 2 and "error[RUN_RISK_CONFLICT]" in cli.stderr
    # A risk file alone records no level (as the CLI always did); a config keeps the default.
    assert validated(RunCreateRequest, both | {"risk_file": "r.json"}).risk is None
    assert validated(RunCreateRequest, both | {"risk_config": {}}).risk == "moderate"


# -- nothing reads a manifest or a registry row by key ------------------------------------------

#: Modules that define the records and may read their JSON by key.
MODEL_MODULES = {"runs/manifest.py", "runs/registry.py"}
#: Names that hold a manifest, a manifest part or a registry row wherever they appear.
RECORD_NAMES = {"manifest", "existing", "identity", "entry", "row", "summary_row", "index_entry"}


def _subscripted_name(node: ast.AST) -> str | None:
    """``manifest`` for ``manifest["x"]``, ``view.manifest["x"]`` or ``manifest.get("x")``."""
    target: ast.AST | None = None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        if isinstance(node.slice.value, str):
            target = node.value
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
        target = node.func.value
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def test_no_module_reads_a_manifest_or_an_index_entry_by_key() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative in MODEL_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = _subscripted_name(node)
            if name in RECORD_NAMES:
                offenders.append(f"{relative}:{getattr(node, 'lineno', '?')} {name}[...]")
    assert offenders == []


def test_only_the_manifest_module_opens_manifest_json() -> None:
    opened = [
        path.relative_to(SRC).as_posix()
        for path in sorted(SRC.rglob("*.py"))
        if "load_manifest(" in path.read_text(encoding="utf-8")
        and path.relative_to(SRC).as_posix() not in {"runs/manifest.py"}
    ]
    # The registry and the reader open runs through the manifest module's loader, and nobody
    # parses manifest.json on their own.
    assert set(opened) <= {"runs/registry.py", "runs/reader.py"}
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name != "manifest.py":
            assert "json.loads((folder / MANIFEST_FILE)" not in text
            assert '"manifest.json").read' not in text


def test_the_contracts_doc_lists_every_request_field() -> None:
    text = (DOCS / "contracts.md").read_text(encoding="utf-8")
    for field in request_fields(RunCreateRequest):
        assert f"| `{field.name}` |" in text, field.name

"""The docs list every CLI command, error code, setting and check, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

import click

from quantrun.cli import main
from quantrun.data.validation import CHECKS
from quantrun.errors import CATALOGUE, ErrorCode
from quantrun.settings import settings_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _command_paths(group: click.Group, prefix: str = "quantrun") -> list[str]:
    paths = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            paths += _command_paths(command, path)
        else:
            paths.append(path)
    return paths


def test_cli_doc_lists_every_command() -> None:
    text = (DOCS / "cli.md").read_text()
    paths = _command_paths(main)
    assert paths, "no commands found"
    missing = [p for p in paths if f"`{p}`" not in text]
    assert missing == []
    documented = set(re.findall(r"^#+ `(quantrun [a-z -]+)`", text, flags=re.M))
    assert documented <= set(paths) | {"quantrun"}, documented - set(paths)


def test_errors_doc_matches_the_catalogue() -> None:
    text = (DOCS / "errors.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", text))
    codes = {str(c) for c in ErrorCode}
    assert codes - documented == set(), "undocumented codes"
    assert documented - codes == set(), "documented codes that do not exist"


def test_errors_doc_lists_every_web_hint() -> None:
    from quantrun.web.hints import WEB_HINTS

    text = (DOCS / "errors.md").read_text()
    missing = [code for code, hint in WEB_HINTS.items() if f"| `{code}` | {hint} |" not in text]
    assert missing == []


def test_settings_doc_lists_every_variable() -> None:
    text = (DOCS / "settings.md").read_text()
    assert [s.env for s in settings_table() if f"`{s.env}`" not in text] == []


def test_formats_doc_lists_every_check() -> None:
    text = (DOCS / "formats.md").read_text()
    assert [c.id for c in CHECKS if f"`{c.id}`" not in text] == []


def test_readme_names_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_catalogue_is_complete_and_sane() -> None:
    assert set(CATALOGUE) == set(ErrorCode)
    for code, spec in CATALOGUE.items():
        assert spec.code == code
        assert spec.hint.endswith((".", ")")), code
        assert 400 <= spec.http_status < 600
        assert spec.exit_code in (1, 2, 3, 4)

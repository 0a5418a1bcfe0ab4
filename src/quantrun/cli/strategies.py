"""`quantrun strategies ...`: the built-in strategies and the user's own (added with `add`)."""

from __future__ import annotations

import click

from quantrun.api import list_strategies
from quantrun.cli.base import _emit_json, handles_errors, json_option, main


@main.group()
def strategies() -> None:
    """The registered strategies."""


@strategies.command("list")
@json_option
@handles_errors
def strategies_list(as_json: bool) -> None:
    """List strategies with their parameters, defaults and ranges."""
    rows = list_strategies()
    if as_json:
        _emit_json({"strategies": [row.to_dict() for row in rows]})
        return
    for row in rows:
        older = [v for v in row.versions if v != row.version]
        also = f"; also runs v{', v'.join(older)}" if older else ""
        click.echo(f"{row.id} (v{row.version}{also}): {row.description}")
        for p in row.params:
            bounds = ""
            if p["minimum"] is not None or p["maximum"] is not None:
                low = "(" if p.get("exclusive_minimum") else "["
                high = ")" if p.get("exclusive_maximum") else "]"
                bounds = f"{low}{p['minimum']}, {p['maximum']}{high}"
            elif p.get("choices"):
                bounds = "one of " + ", ".join(str(c) for c in p["choices"])
            click.echo(f"    {p['name']:<8} {p['type']:<8} default {p['default']!s:<6} {bounds}")
            if p["description"]:
                click.echo(f"             {p['description']}")

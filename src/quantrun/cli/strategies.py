"""`quantrun strategies ...`: the built-in strategies and the user's own (added with `add`)."""

from __future__ import annotations

import click

from quantrun.api import add_strategy, list_strategies, remove_strategy, show_strategy
from quantrun.cli.base import (
    _emit_json,
    _settings,
    handles_errors,
    json_option,
    main,
    runs_root_option,
)


@main.group()
def strategies() -> None:
    """The built-in strategies and your own: check, add, list, show, remove."""


@strategies.command("list")
@runs_root_option
@json_option
@handles_errors
def strategies_list(runs_root: str | None, as_json: bool) -> None:
    """List strategies (built-in and added) with their parameters, defaults and ranges."""
    rows = list_strategies(_settings(runs_root))
    if as_json:
        _emit_json({"strategies": [row.to_dict() for row in rows]})
        return
    for row in rows:
        older = [v for v in row.versions if v != row.version]
        also = f"; also runs v{', v'.join(older)}" if older else ""
        where = "" if row.kind == "builtin" else f" [added from {row.origin}]"
        code = f" code {row.source_sha256[:12]}" if row.source_sha256 else ""
        click.echo(f"{row.id} (v{row.version}{also}){where}{code}: {row.description}")
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


@strategies.command("add")
@click.argument("path", type=click.Path())
@click.option(
    "--data", type=click.Path(dir_okay=False), default=None, help="Also check on this CSV."
)
@click.option("--timeframe", default="1h", show_default=True, help="Bar length of the checks.")
@runs_root_option
@json_option
@handles_errors
def strategies_add(
    path: str, data: str | None, timeframe: str, runs_root: str | None, as_json: bool
) -> None:
    """Check a strategy file (or package folder) and store its code under RUNS_ROOT.

    Every check of `strategies check` must pass; the code is stored by its sha256, so a run
    records exactly which code made it. Changed code under a listed id needs a new version.
    """
    from pathlib import Path

    options = {"timeframe": timeframe} | ({"data": Path(data)} if data else {})
    added = add_strategy(path, _settings(runs_root), **options)
    if as_json:
        _emit_json({"added": [entry.to_dict() for entry in added]})
        return
    if not added:
        click.echo("already added (the same code): nothing changed")
    for entry in added:
        click.echo(
            f"added {entry.id} v{entry.version} ({entry.class_name}), "
            f"code {entry.source_sha256[:12]}"
        )


@strategies.command("show")
@click.argument("strategy_id")
@click.option("--version", "version", default=None, help="A version (default: the current one).")
@runs_root_option
@json_option
@handles_errors
def strategies_show(
    strategy_id: str, version: str | None, runs_root: str | None, as_json: bool
) -> None:
    """Show a strategy's parameter schema and its code."""
    detail = show_strategy(strategy_id, _settings(runs_root), version=version)
    if as_json:
        _emit_json(detail.to_dict())
        return
    info = detail.info
    click.echo(f"{info.id} v{info.version} ({info.kind}), code {detail.source.sha256}")
    if info.origin:
        click.echo(f"  added from {info.origin}")
    click.echo(f"  {info.description}")
    for p in info.params:
        click.echo(f"  param {p['name']}: {p['type']}, default {p['default']}  {p['description']}")
    for f in detail.source.files:
        click.echo(f"--- {f.path} (sha256 {f.sha256[:12]})")
        click.echo(f.text.rstrip("\n"))


@strategies.command("remove")
@click.argument("strategy_id")
@runs_root_option
@json_option
@handles_errors
def strategies_remove(strategy_id: str, runs_root: str | None, as_json: bool) -> None:
    """Unlist an added strategy (every version). Runs made with it keep their own copy."""
    gone = remove_strategy(strategy_id, _settings(runs_root))
    if as_json:
        _emit_json({"removed": [entry.to_dict() for entry in gone]})
        return
    versions = ", ".join(f"v{entry.version}" for entry in gone)
    click.echo(f"removed {strategy_id} ({versions}); runs made with it still verify")

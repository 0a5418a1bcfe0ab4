"""`quantrun killswitch|serve|demo`: operating the service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from quantrun.api import killswitch_status, quality_summary, run_demo, set_killswitch
from quantrun.cli.base import (
    _echo_summary,
    _emit_json,
    _pct,
    _settings,
    handles_errors,
    json_option,
    main,
    runs_root_option,
)
from quantrun.cli.entry import exit_normally
from quantrun.logs import configure as configure_logging
from quantrun.settings import Settings

if TYPE_CHECKING:
    from quantrun.runs.demo import DemoResult


@main.group()
def killswitch() -> None:
    """Stop (or allow) new run creation everywhere: CLI, API and queued jobs."""


@killswitch.command("on")
@click.option(
    "--reason", required=True, help="Why creation is stopped (recorded in the audit log)."
)
@runs_root_option
@json_option
@handles_errors
def killswitch_on(reason: str, runs_root: str | None, as_json: bool) -> None:
    """Engage the kill switch."""
    state = set_killswitch(True, reason, _settings(runs_root))
    _emit_json(state.to_dict()) if as_json else click.echo(f"kill switch ON: {state.reason}")


@killswitch.command("off")
@click.option("--reason", required=True, help="Why creation is allowed again (audited).")
@runs_root_option
@json_option
@handles_errors
def killswitch_off(reason: str, runs_root: str | None, as_json: bool) -> None:
    """Release the kill switch."""
    state = set_killswitch(False, reason, _settings(runs_root))
    _emit_json(state.to_dict()) if as_json else click.echo(f"kill switch off: {state.reason}")


@killswitch.command("status")
@runs_root_option
@json_option
@handles_errors
def killswitch_show(runs_root: str | None, as_json: bool) -> None:
    """Show the kill switch and its audit history."""
    report = killswitch_status(_settings(runs_root))
    if as_json:
        _emit_json(report.to_dict())
        return
    state = report.state
    if state.engaged:
        click.echo(f"kill switch ON since {state.changed_at or '?'} by {state.actor or '?'}")
        click.echo(f"  reason: {state.reason}")
    else:
        click.echo("kill switch off: run creation allowed")
    for event in report.history:
        click.echo(
            f"  {event.get('at', '?')}  {event.get('action', '?'):<3}  "
            f"{event.get('actor', '?')}: {event.get('reason', '')}"
        )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--enable-run-creation",
    is_flag=True,
    default=None,
    help="Accept new runs from the API and /runs/new (off unless given or set in the env).",
)
@runs_root_option
@handles_errors
def serve(host: str, port: int, enable_run_creation: bool | None, runs_root: str | None) -> None:
    """Start the web UI and REST API (OpenAPI docs at /docs)."""
    exit_normally()  # uvicorn owns the signals and the shutdown
    settings = Settings.from_env(
        os.environ, runs_root=runs_root, enable_run_creation=enable_run_creation
    )
    configure_logging(settings.log_level)
    from quantrun.web.server import run_server

    banner = f"quantrun on http://{host}:{port}/runs  (RUNS_ROOT {settings.runs_root})"
    run_server(settings, host=host, port=port, announce=lambda: click.echo(banner, err=True))


@main.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default="demo",
    show_default=True,
    help="Where the demo CSV goes (the demo RUNS_ROOT is DIR/runs-root unless --runs-root).",
)
@click.option(
    "--runs-root",
    type=click.Path(file_okay=False),
    default=None,
    help="RUNS_ROOT for the demo (default: DIR/runs-root; the demo never touches your runs).",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Then start the web UI on the demo RUNS_ROOT (run creation enabled) until Ctrl-C.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@json_option
@handles_errors
def demo(directory: str, runs_root: str | None, serve: bool, port: int, as_json: bool) -> None:
    """Generate the demo dataset, ingest it, create the demo run and say where to look."""
    settings = _settings(runs_root or str(Path(directory) / "runs-root"))
    result = run_demo(Path(directory), settings)
    if as_json:
        _emit_json(result.to_dict())
    else:
        _echo_demo(result, settings)
    if serve:
        from quantrun.web.server import run_server

        exit_normally()  # uvicorn owns the signals and the shutdown
        served = settings.model_copy(update={"enable_run_creation": True})
        banner = f"web UI     http://127.0.0.1:{port}/runs/{result.run.run_id}  (Ctrl-C stops it)"
        run_server(
            served,
            host="127.0.0.1",
            port=port,
            announce=lambda: click.echo(banner, err=as_json),
        )


def _echo_demo(result: DemoResult, settings: Settings) -> None:
    run = result.run
    summary = run.manifest.summary
    click.echo(f"demo CSV   {result.csv_path}")
    click.echo(f"dataset    {result.ingest.dataset_id}")
    _echo_summary(quality_summary(result.ingest.quality))
    click.echo(f"run        {run.run_id} ({'created' if run.created else 'already there'})")
    click.echo(f"  path     {run.path}")
    click.echo(
        f"  result   total return {_pct(summary.total_return)}, max drawdown "
        f"{_pct(summary.max_drawdown)}, {summary.trades} trade(s)"
    )
    root = settings.runs_root
    click.echo("next:")
    click.echo(f"  quantrun runs show {run.run_id[:12]} --runs-root {root}")
    click.echo(f"  quantrun runs list --runs-root {root}")
    click.echo(f"  quantrun data inspect {result.csv_path}")

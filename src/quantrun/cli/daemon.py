"""`quantrun daemon start|run|status|stop`: the resident process that runs commands without
paying the imports each time (:mod:`quantrun.handover`, D55)."""

from __future__ import annotations

import time
from typing import Any

import click

from quantrun import handover
from quantrun.cli.base import _emit_json, handles_errors, json_option, main
from quantrun.cli.entry import execute

idle_option = click.option(
    "--idle-minutes",
    type=click.FloatRange(min=0.0, min_open=True),
    default=handover.IDLE_SECONDS / 60.0,
    show_default=True,
    help="End after this long without a command.",
)


@main.group()
def daemon() -> None:
    """A resident process that starts commands with quantrun already imported."""


@daemon.command("start")
@idle_option
@json_option
@handles_errors
def daemon_start(idle_minutes: float, as_json: bool) -> None:
    """Start the daemon for this installation in the background (or find it running)."""
    answer, already = handover.start(idle_minutes * 60.0)
    if as_json:
        _emit_json({"already_running": already, "daemon": answer})
        return
    state = "already running" if already else "started"
    click.echo(f"daemon {state}: pid {answer['pid']}, {_idle(answer)}")


@daemon.command("run")
@idle_option
@click.option(
    "--expect-fingerprint",
    "expected",
    default=None,
    hidden=True,
    help="The code's fingerprint when the starter looked (`daemon start` passes it).",
)
@handles_errors
def daemon_run(idle_minutes: float, expected: str | None) -> None:
    """Run the daemon in the foreground (what `daemon start` starts; for a supervisor)."""
    before = expected or handover.fingerprint()
    from quantrun.api import create_run  # noqa: F401  (imported once, for every command)
    from quantrun.engine.simulate import load_kernel
    from quantrun.logs import preload as preload_logs

    preload_logs()
    load_kernel()
    handover.require_private_dir()
    # Serve only the code that was imported: files changed while it loaded would give clients of
    # the new code a daemon running the old.
    print_ = handover.same_code_since(before)
    handover.serve(handover.socket_path(print_), print_, execute, idle_minutes * 60.0)


@daemon.command("status")
@json_option
@handles_errors
def daemon_status(as_json: bool) -> None:
    """List the daemons of this user: which runs this installation's code, and how busy."""
    found = handover.listed()
    if as_json:
        _emit_json({"enabled": handover.enabled(), "daemons": [item.to_dict() for item in found]})
        return
    if not handover.enabled():
        click.echo(f"hand-over off ({handover.SWITCH_ENV}); commands run in their own process")
    if not found:
        click.echo("no daemon running")
    for item in found:
        if item.answer is None:
            click.echo(f"{item.name}: not answering (`quantrun daemon stop` removes it)")
            continue
        code = "this installation's code" if item.current else "older code: ends when idle"
        click.echo(
            f"pid {item.answer['pid']}: {code}; up {_minutes(time.time() - item.answer['started'])}"
            f", {item.answer['commands']} command(s) started, {_idle(item.answer)}"
        )


@daemon.command("stop")
@json_option
@handles_errors
def daemon_stop(as_json: bool) -> None:
    """Stop every daemon of this user (running commands finish)."""
    stopped = [item for item in handover.stop_all() if item.answer is not None]
    if as_json:
        _emit_json({"stopped": [item.to_dict() for item in stopped]})
        return
    click.echo(f"stopped {len(stopped)} daemon(s)" if stopped else "no daemon running")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60.0:.1f} min"


def _idle(answer: dict[str, Any]) -> str:
    return f"ends after {_minutes(float(answer['idle_seconds']))} idle"

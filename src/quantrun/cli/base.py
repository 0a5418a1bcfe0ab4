"""Shared CLI machinery: the root group, error translation, common options, formatting."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import configure as configure_logging
from quantrun.settings import Settings
from quantrun.version import __version__

if TYPE_CHECKING:
    from quantrun.data.ingest import QualitySummary

F = TypeVar("F", bound=Callable[..., Any])


def _settings(runs_root: str | None) -> Settings:
    settings = Settings.from_env(os.environ, runs_root=runs_root)
    configure_logging(settings.log_level)
    return settings


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _fail(exc: QuantrunError, as_json: bool) -> None:
    if as_json:
        _emit_json({"error": exc.to_dict()})
    else:
        click.echo(f"error[{exc.code}]: {exc.detail}", err=True)
        click.echo(f"  hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


def exit_after_report(failure: QuantrunError, as_json: bool) -> None:
    """Exit with ``failure``'s status after a report was printed (with --json the report
    carries the error object; otherwise the error line and hint go to stderr)."""
    if not as_json:
        click.echo(f"error[{failure.code}]: {failure.detail}", err=True)
        click.echo(f"  hint: {failure.hint}", err=True)
    sys.exit(failure.exit_code)


def handles_errors(func: F) -> F:
    """Translate every failure into the documented code, message, hint and exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json", False))
        try:
            return func(*args, **kwargs)
        except QuantrunError as exc:
            _fail(exc, as_json)
        except (KeyboardInterrupt, click.exceptions.Exit, click.ClickException):
            raise
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:  # the last line of defence: never a traceback
            import logging

            logging.getLogger("quantrun").debug("internal error", exc_info=True)
            _fail(
                error(ErrorCode.INTERNAL, f"unexpected {type(exc).__name__} inside quantrun"),
                as_json,
            )

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
runs_root_option = click.option(
    "--runs-root",
    type=click.Path(file_okay=False),
    default=None,
    help="RUNS_ROOT folder (default: $QUANTRUN_RUNS_ROOT or ~/.local/share/quantrun).",
)


class _Group(click.Group):
    """Click's own usage errors (bad option, missing argument) in quantrun's error format."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.UsageError as exc:
            argv = args[0] if args else kwargs.get("args") or sys.argv[1:]
            failure = error(ErrorCode.USAGE_INVALID_OPTION, exc.format_message())
            if exc.ctx is not None:
                failure.hint = f"See `{exc.ctx.command_path} --help`."
            _fail(failure, as_json="--json" in (argv or []))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quantrun")
def main() -> None:
    """quantrun: a local, deterministic backtesting workbench."""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _echo_summary(q: QualitySummary) -> None:
    span = f"{q.first_bar} → {q.last_bar}"
    click.echo(f"  data     {q.rows:,} bars of {q.timeframe}  {span}")
    if q.calendar is None:
        click.echo(
            f"  coverage {q.coverage:.4%} ({q.rows:,} of {q.expected_bars:,} expected; "
            f"{q.gaps:,} gap(s), {q.missing_bars:,} missing bar(s))"
        )
    else:
        click.echo(
            f"  coverage {q.coverage:.4%} ({q.present_bars:,} of {q.expected_bars:,} expected "
            f"sessions' bars of {q.calendar}; {q.gaps:,} gap(s), {q.missing_bars:,} missing "
            f"bar(s); {q.outside_sessions:,} bar(s) outside the sessions)"
        )
    click.echo(
        f"  flags    {q.zero_volume_bars:,} zero-volume bar(s), "
        f"{q.outlier_returns:,} outlier return(s)"
    )
    moved = q.repairs["sort"]["rows_moved"]
    dropped = q.repairs["drop_exact_duplicates"]["rows_dropped"]
    applied = [
        f"sorted ({moved:,} row(s) moved)" if moved else "",
        f"dropped {dropped:,} exact duplicate(s)" if dropped else "",
    ]
    click.echo(f"  repairs  {', '.join(a for a in applied if a) or 'none'}")

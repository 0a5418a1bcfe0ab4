"""The command-line edge: parse flags, build Settings, call the core, render the result.

No domain logic lives here. Every failure becomes ``error[CODE]: message`` plus a hint on
stderr (or the error object on stdout with ``--json``) and the exit status of its category:
0 ok, 2 usage, 3 input rejected, 4 blocked by a limit or the kill switch, 1 internal error.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from quantrun import __version__
from quantrun.api import (
    DemoResult,
    ingest_file,
    inspect_file,
    list_datasets,
    quality_summary,
    run_demo,
)
from quantrun.data.dialect import Format
from quantrun.data.timeframe import TIMEFRAMES
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import configure as configure_logging
from quantrun.settings import Settings

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


def _input_options(func: F) -> F:
    options = [
        click.argument("paths", nargs=-1, required=True, type=click.Path()),
        click.option("--symbol", default=None, help="Instrument name, e.g. BTCUSDT."),
        click.option(
            "--format",
            "fmt",
            type=click.Choice([f.value for f in Format]),
            default="auto",
            show_default=True,
            help="CSV dialect: a generic header CSV or a Binance kline export.",
        ),
        click.option(
            "--timeframe",
            type=click.Choice(list(TIMEFRAMES)),
            default="1m",
            show_default=True,
            help="The file's own bar length (coarser bases can only be resampled upward).",
        ),
        click.option("--timezone", default=None, help="IANA zone of naive timestamps, recorded."),
        click.option("--sort", is_flag=True, help="Sort rows by time (repair, recorded)."),
        click.option(
            "--drop-exact-duplicates",
            is_flag=True,
            help="Drop rows repeated exactly (repair, recorded).",
        ),
        runs_root_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quantrun")
def main() -> None:
    """quantrun: a local, deterministic backtesting workbench."""


@main.group()
def data() -> None:
    """Validate, store and list datasets."""


@data.command("ingest")
@_input_options
@handles_errors
def data_ingest(
    paths: tuple[str, ...],
    symbol: str | None,
    fmt: str,
    timeframe: str,
    timezone: str | None,
    sort: bool,
    drop_exact_duplicates: bool,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """Validate CSV file(s) and store them as one canonical dataset under RUNS_ROOT."""
    settings = _settings(runs_root)
    result = ingest_file(
        settings,
        list(paths),
        symbol=symbol,
        format=fmt,
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    if as_json:
        _emit_json(result.to_dict())
        return
    verb = "stored" if result.created else "already stored"
    click.echo(f"dataset {result.dataset_id} ({verb})")
    click.echo(f"  path     {result.path}")
    _echo_summary(result.to_dict()["quality"])


@data.command("inspect")
@_input_options
@handles_errors
def data_inspect(
    paths: tuple[str, ...],
    symbol: str | None,
    fmt: str,
    timeframe: str,
    timezone: str | None,
    sort: bool,
    drop_exact_duplicates: bool,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """Run every check and print the report; writes nothing. Exit 3 if a check fails."""
    settings = _settings(runs_root)
    inspection = inspect_file(
        settings,
        list(paths),
        symbol=symbol,
        format=fmt,
        timeframe=timeframe,
        timezone=timezone,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    report = inspection.to_dict()
    failure = inspection.error
    if as_json:
        _emit_json(report)
    else:
        for source in report["sources"]:
            header = "header" if source["has_header"] else "no header"
            click.echo(
                f"{source['name']}: {source['format']} ({header}), {source['rows']:,} rows, "
                f"sha256 {source['sha256'][:16]}…"
            )
        click.echo(f"timestamps: {', '.join(report['timestamp_kinds']) or '-'}")
        click.echo("checks:")
        for check in report["checks"]:
            mark = {"pass": "ok  ", "fail": "FAIL", "repaired": "fix ", "skipped": "skip"}
            line = f"  {mark[check['status']]} {check['id']:<24} {check['description']}"
            if check["status"] != "pass":
                line += f"  [{check['count']:,} row(s)"
                if check.get("first_rows"):
                    line += f"; first: {', '.join(check['first_rows'][:5])}"
                line += "]"
                if check.get("note"):
                    line += f" {check['note']}"
            click.echo(line)
        if report["quality"] is not None:
            click.echo(f"dataset id (if ingested): {report['dataset_id']}")
            _echo_summary(quality_summary(report["quality"]))
    if failure is not None:
        if not as_json:
            click.echo(f"error[{failure.code}]: {failure.detail}", err=True)
            click.echo(f"  hint: {failure.hint}", err=True)
        sys.exit(failure.exit_code)


@data.command("list")
@runs_root_option
@json_option
@handles_errors
def data_list(runs_root: str | None, as_json: bool) -> None:
    """List the datasets stored under RUNS_ROOT."""
    settings = _settings(runs_root)
    rows = list_datasets(settings)
    if as_json:
        _emit_json({"datasets": rows})
        return
    if not rows:
        click.echo(f"no datasets under {settings.runs_root}")
        return
    for row in rows:
        click.echo(
            f"{row['dataset_id'][:16]}  {row['symbol'] or '-':<10} {row['timeframe']:>4} "
            f"{row['rows']:>10,} rows  {row['first_bar']} → {row['last_bar']}"
        )


@main.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default="demo",
    show_default=True,
    help="Where the demo CSV and (unless --runs-root) the demo RUNS_ROOT go.",
)
@runs_root_option
@json_option
@handles_errors
def demo(directory: str, runs_root: str | None, as_json: bool) -> None:
    """Generate the demo dataset, ingest it and say where to look."""
    settings = _settings(runs_root or str(Path(directory) / "runs"))
    result: DemoResult = run_demo(settings, Path(directory))
    if as_json:
        _emit_json(result.to_dict())
        return
    click.echo(f"demo CSV   {result.csv_path}")
    click.echo(f"dataset    {result.ingest.dataset_id}")
    click.echo(f"  stored   {result.ingest.path}")
    _echo_summary(result.ingest.to_dict()["quality"])
    click.echo("next:")
    click.echo(f"  quantrun data inspect {result.csv_path}")
    click.echo(f"  cat {result.ingest.path / 'data_quality.json'}")


def _echo_summary(q: dict[str, Any]) -> None:
    span = f"{q['first_bar']} → {q['last_bar']}"
    click.echo(f"  data     {q['rows']:,} bars of {q['timeframe']}  {span}")
    click.echo(
        f"  coverage {q['coverage']:.4%} ({q['rows']:,} of {q['expected_bars']:,} expected; "
        f"{q['gaps']:,} gap(s), {q['missing_bars']:,} missing bar(s))"
    )
    click.echo(
        f"  flags    {q['zero_volume_bars']:,} zero-volume bar(s), "
        f"{q['outlier_returns']:,} outlier return(s)"
    )
    repairs = q["repairs"]
    applied = [
        f"sorted ({repairs['sort']['rows_moved']:,} moved)" if repairs["sort"]["requested"] else "",
        f"dropped {repairs['drop_exact_duplicates']['rows_dropped']:,} exact duplicate(s)"
        if repairs["drop_exact_duplicates"]["requested"]
        else "",
    ]
    click.echo(f"  repairs  {', '.join(a for a in applied if a) or 'none'}")


if __name__ == "__main__":  # pragma: no cover
    main()

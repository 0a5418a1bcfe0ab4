"""`quantrun strategies check PATH`: the contract checker of a strategy's code, the checks that
`strategies add` also runs (quantrun.strategies.check, loaded only when the command runs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from quantrun.cli.base import (
    _emit_json,
    _settings,
    exit_after_report,
    handles_errors,
    json_option,
    runs_root_option,
)
from quantrun.cli.strategies import strategies
from quantrun.data.timeframe import TIMEFRAMES

if TYPE_CHECKING:
    from quantrun.strategies.check import CheckReport

STATUS = {"ok": "ok", "fail": "FAIL", "skip": "skip"}


@strategies.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A CSV of your own bars to check on too (look-ahead included), read and validated "
    "like any input.",
)
@click.option(
    "--timeframe",
    type=click.Choice(list(TIMEFRAMES)),
    default="1h",
    show_default=True,
    help="Bar length the signals are checked at (the random walk and --data are resampled).",
)
@click.option(
    "--base-timeframe",
    type=click.Choice(list(TIMEFRAMES)),
    default="1m",
    show_default=True,
    help="The --data file's own bar length.",
)
@runs_root_option
@json_option
@handles_errors
def strategies_check(
    path: Path,
    data: Path | None,
    timeframe: str,
    base_timeframe: str,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """Check a strategy file or package: imports, ids, parameters, signals, determinism,
    look-ahead, warm-up, speed. Stores nothing."""
    from quantrun.strategies.check import check_strategy

    settings = _settings(runs_root)
    report = check_strategy(
        path, settings, data=data, timeframe=timeframe, base_timeframe=base_timeframe
    )
    if as_json:
        _emit_json(report.to_dict())
    else:
        _echo_report(report)
    failure = report.first_failure()
    if failure is not None:
        exit_after_report(failure, as_json)


def _echo_report(report: CheckReport) -> None:
    sha = f", source {report.source_sha256[:12]}" if report.source_sha256 else ""
    click.echo(f"{report.path}{f' ({report.kind}{sha})' if report.kind else ''}")
    width = max([len(r.label) for r in report.checks] + [1])
    for r in report.checks:
        message = f"{r.code}: {r.message}" if r.code is not None else r.message
        line = f"  {STATUS.get(r.status, r.status):<4}  {r.check:<13} {r.label:<{width}}  {message}"
        click.echo(line.rstrip())
    bars = report.bars
    if bars:
        walk = bars["random_walk"]
        text = f"{walk['bars']:,} {bars['timeframe']} bars of a seeded random walk"
        if "data" in bars:
            text += f" and {bars['data']['bars']:,} of {bars['data']['name']}"
        click.echo(f"checked on {text}")
    count = len(report.strategies)
    if report.ok:
        click.echo(f"ok: {count} strateg{'y' if count == 1 else 'ies'}, every check passed")
    else:
        failed = len(report.failures)
        click.echo(f"{failed} check{'s' if failed > 1 else ''} failed")

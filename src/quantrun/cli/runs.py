"""`quantrun strategies|runs|registry ...`: strategies, runs and the registry."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from quantrun.api import (
    check_registry,
    create_run,
    export_runs_csv,
    list_runs,
    open_run,
    rebuild_registry,
    verify_run,
)
from quantrun.cli.base import (
    _emit_json,
    _num,
    _pct,
    _settings,
    exit_after_report,
    handles_errors,
    json_option,
    main,
    runs_root_option,
)
from quantrun.cli.options import request_data, request_options
from quantrun.errors import ErrorCode, error
from quantrun.fields import validated
from quantrun.runs.request import RunCreateRequest


@main.group()
def runs() -> None:
    """Create, list, show, verify and compare runs."""


@runs.command("create")
@request_options(RunCreateRequest)
@runs_root_option
@json_option
@handles_errors
def runs_create(runs_root: str | None, as_json: bool, **values: Any) -> None:
    """Ingest CSV file(s), simulate a strategy and publish the run under RUNS_ROOT."""
    settings = _settings(runs_root)
    request = validated(RunCreateRequest, request_data(RunCreateRequest, values))
    with _Progress(enabled=not as_json) as progress:
        result = create_run(request, settings, progress=progress)
    if as_json:
        _emit_json(result.to_dict())
        return
    click.echo(result.run_id)
    verb = "created" if result.created else "already existed (nothing rewritten)"
    summary = result.manifest.summary
    click.echo(f"  run      {verb}")
    click.echo(f"  path     {result.path}")
    click.echo(
        f"  bars     {summary.bars:,} of {result.manifest.identity.timeframe}  "
        f"{summary.first_bar} → {summary.last_bar}"
    )
    click.echo(
        f"  result   total return {_pct(summary.total_return)}, "
        f"max drawdown {_pct(summary.max_drawdown)}, sharpe {_num(summary.sharpe)}, "
        f"{summary.trades} trade(s)"
    )


class _Progress:
    """A rich progress line on a terminal for long runs; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[str], None]:
        if self.enabled:
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._progress.start()
            from quantrun.runs.builder import BUILD_STAGES

            self._task = self._progress.add_task("starting", total=len(BUILD_STAGES))
        return self.update

    def update(self, stage: str) -> None:
        from quantrun.runs.builder import BUILD_STAGES

        if self._progress is not None:
            done = BUILD_STAGES.index(stage) if stage in BUILD_STAGES else 0
            self._progress.update(self._task, completed=done, description=stage)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@runs.command("list")
@click.option("--strategy", default=None, help="Only runs of this strategy.")
@click.option("--symbol", default=None, help="Only runs of this symbol.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N runs.")
@click.option(
    "--csv",
    "as_csv",
    is_flag=True,
    help="Print every matching run as spreadsheet-safe CSV (formula cells escaped).",
)
@runs_root_option
@json_option
@handles_errors
def runs_list(
    strategy: str | None,
    symbol: str | None,
    limit: int | None,
    as_csv: bool,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """List registered runs, newest first."""
    settings = _settings(runs_root)
    if as_csv:
        if as_json or limit is not None:
            raise error(
                ErrorCode.USAGE_INVALID_OPTION, "--csv exports every run; drop --json/--limit"
            )
        click.echo(export_runs_csv(settings, strategy=strategy, symbol=symbol), nl=False)
        return
    rows = list_runs(settings, strategy=strategy, symbol=symbol, limit=limit)
    if as_json:
        _emit_json({"runs": [row.to_dict() for row in rows]})
        return
    if not rows:
        click.echo(f"no runs under {settings.runs_root}")
        return
    for row in rows:
        flag = " (read-only)" if row.read_only else ""
        click.echo(
            f"{row.run_id[:16]}  {row.created_at or '-':<20} {row.symbol:<10} "
            f"{row.timeframe:>4} {row.strategy:<20} {_pct(row.summary.total_return):>9} "
            f"{row.summary.trades!s:>5} trades{flag}"
        )


@runs.command("show")
@click.argument("run_id")
@runs_root_option
@json_option
@handles_errors
def runs_show(run_id: str, runs_root: str | None, as_json: bool) -> None:
    """Show a run's manifest summary and metrics."""
    view = open_run(run_id, _settings(runs_root))
    if as_json:
        _emit_json({"manifest": view.manifest.to_json(), "metrics": view.metrics})
        return
    m = view.manifest
    ident = m.identity
    click.echo(f"run {view.run_id}{' (read-only)' if view.read_only else ''}")
    click.echo(f"  symbol    {ident.symbol}  timeframe {ident.timeframe}")
    click.echo(
        f"  strategy  {ident.strategy.id} v{ident.strategy.version} "
        f"{json.dumps(ident.strategy.params, sort_keys=True)}"
    )
    click.echo(f"  risk      {m.risk.level or 'custom'} {json.dumps(ident.risk, sort_keys=True)}")
    click.echo(
        f"  dataset   {ident.dataset_id[:16]}  "
        f"{m.dataset.first_bar} → {m.dataset.last_bar} ({m.dataset.rows:,} rows)"
    )
    click.echo("  metrics")
    for metric_id, metric in view.metrics.items():
        value = metric["value"]
        text = (
            "n/a" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))
        )
        click.echo(f"    {metric_id:<24} {text:>14} {metric['unit']}")
    click.echo(f"  artifacts {', '.join(m.artifact_names)}")


@runs.command("verify")
@click.argument("run_id")
@click.option("--rerun", is_flag=True, help="Also rebuild in a temporary root and compare bytes.")
@runs_root_option
@json_option
@handles_errors
def runs_verify(run_id: str, rerun: bool, runs_root: str | None, as_json: bool) -> None:
    """Re-hash every artifact against the manifest (exit 3 when one differs)."""
    report = verify_run(run_id, _settings(runs_root), rerun=rerun)
    failure = None
    if not report.ok:
        failure = error(
            ErrorCode.RUN_VERIFY_FAILED, "; ".join(report.problems + report.rerun_differences)
        )
    if as_json:
        _emit_json(report.to_dict() | ({"error": failure.to_dict()} if failure else {}))
    else:
        for problem in report.problems + report.rerun_differences:
            click.echo(f"  differs: {problem}")
        if report.rerun_note:
            click.echo(f"  note: {report.rerun_note}")
        rebuilt = (
            ", rebuilt and compared byte for byte"
            if report.rerun_compared == "bytes"
            else f", rebuilt and compared its {report.rerun_compared}"
        )
        checked = "artifacts re-hashed" + (rebuilt if rerun else "")
        click.echo(f"{report.run_id[:16]}: {'ok' if report.ok else 'FAILED'} ({checked})")
    if failure is not None:
        exit_after_report(failure, as_json)


@main.group()
def registry() -> None:
    """Check or rebuild RUNS_ROOT/index.json."""


@registry.command("check")
@runs_root_option
@json_option
@handles_errors
def registry_check(runs_root: str | None, as_json: bool) -> None:
    """Recover the index if needed, then verify every listed run (exit 3 if one fails)."""
    report = check_registry(_settings(runs_root))
    if as_json:
        _emit_json(report.to_dict())
    else:
        rec = report.recovery
        click.echo(f"{report.runs} run(s), index generation {report.generation}")
        if rec.rebuilt_index:
            click.echo(f"  index rebuilt ({rec.rebuild_reason})")
        for key, names in (
            ("added", rec.added),
            ("dropped", rec.dropped),
            ("cleared_staging", rec.cleared_staging),
        ):
            if names:
                click.echo(f"  {key}: {', '.join(names)}")
        for item in rec.quarantined:
            click.echo(f"  quarantined {item['run_id'][:16]}: {item['reason']}")
        for run_id, problems in report.failing.items():
            click.echo(f"  FAILED {run_id[:16]}: {'; '.join(problems)}")
        click.echo("ok" if report.ok else "problems found")
    if not report.ok:
        failure = error(
            ErrorCode.RUN_VERIFY_FAILED,
            f"{len(report.failing)} run(s) do not verify against their manifests",
        )
        exit_after_report(failure, as_json)


@registry.command("rebuild")
@runs_root_option
@json_option
@handles_errors
def registry_rebuild(runs_root: str | None, as_json: bool) -> None:
    """Rebuild index.json from the run folders' manifests."""
    report = rebuild_registry(_settings(runs_root))
    if as_json:
        _emit_json(report.to_dict())
        return
    click.echo("index rebuilt")
    for item in report.quarantined:
        click.echo(f"  quarantined {item['run_id'][:16]}: {item['reason']}")
    if report.dropped:
        click.echo(f"  dropped {len(report.dropped)} entr(ies) without a valid run folder")

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

from quantrun.api import (
    DemoResult,
    check_registry,
    create_run,
    ingest_file,
    inspect_file,
    killswitch_status,
    list_datasets,
    list_runs,
    list_strategies,
    open_run,
    quality_summary,
    rebuild_registry,
    run_demo,
    set_killswitch,
    verify_run,
)
from quantrun.data.dialect import Format
from quantrun.data.timeframe import TIMEFRAMES
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import configure as configure_logging
from quantrun.settings import Settings
from quantrun.version import __version__

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
    try:
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
    except QuantrunError as exc:
        if not as_json:
            raise
        # The same shape as a row-level failure: the file as a whole was refused.
        _emit_json(
            {
                "valid": False,
                "dataset_id": None,
                "sources": [],
                "timestamp_kinds": [],
                "checks": [],
                "quality": None,
                "error": exc.to_dict(),
            }
        )
        sys.exit(exc.exit_code)
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


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise error(
                ErrorCode.STRATEGY_PARAMS_INVALID,
                f"--param {item!r} is not name=value",
            )
        params[name.strip()] = value.strip()
    return params


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
        _emit_json({"strategies": rows})
        return
    for row in rows:
        click.echo(f"{row['id']} (v{row['version']}): {row['description']}")
        for p in row["params"]:
            bounds = ""
            if p["minimum"] is not None or p["maximum"] is not None:
                low = "(" if p.get("exclusive_minimum") else "["
                high = ")" if p.get("exclusive_maximum") else "]"
                bounds = f"{low}{p['minimum']}, {p['maximum']}{high}"
            click.echo(f"    {p['name']:<8} {p['type']:<8} default {p['default']!s:<6} {bounds}")
            if p["description"]:
                click.echo(f"             {p['description']}")


@main.group()
def runs() -> None:
    """Create, list, show and verify runs."""


@runs.command("create")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--symbol", required=True, help="Instrument name, e.g. BTCUSDT.")
@click.option(
    "--timeframe",
    type=click.Choice(list(TIMEFRAMES)),
    default="15m",
    show_default=True,
    help="Bar length the strategy runs on (resampled from the data).",
)
@click.option("--strategy", required=True, help="Strategy id (see `quantrun strategies list`).")
@click.option("--param", "params", multiple=True, help="Strategy parameter name=value (repeat).")
@click.option("--risk", default=None, help="Risk level: conservative, moderate, aggressive.")
@click.option("--risk-file", type=click.Path(dir_okay=False), default=None, help="JSON risk file.")
@click.option("--commission-bps", type=float, default=None, help="Commission per fill (bps).")
@click.option("--slippage-bps", type=float, default=None, help="Slippage per fill (bps).")
@click.option("--cash", type=float, default=None, help="Initial cash (default 10000).")
@click.option("--start", default=None, help="First bar included, ISO-8601 with offset.")
@click.option("--end", default=None, help="Bars opening at or after this are excluded.")
@click.option(
    "--base-timeframe",
    type=click.Choice(list(TIMEFRAMES)),
    default="1m",
    show_default=True,
    help="The file's own bar length.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in Format]),
    default="auto",
    show_default=True,
    help="CSV dialect.",
)
@click.option("--timezone", default=None, help="IANA zone of naive timestamps, recorded.")
@click.option("--sort", is_flag=True, help="Sort rows by time (repair, recorded).")
@click.option("--drop-exact-duplicates", is_flag=True, help="Drop exact repeats (recorded).")
@runs_root_option
@json_option
@handles_errors
def runs_create(
    paths: tuple[str, ...],
    symbol: str,
    timeframe: str,
    strategy: str,
    params: tuple[str, ...],
    risk: str | None,
    risk_file: str | None,
    commission_bps: float | None,
    slippage_bps: float | None,
    cash: float | None,
    start: str | None,
    end: str | None,
    base_timeframe: str,
    fmt: str,
    timezone: str | None,
    sort: bool,
    drop_exact_duplicates: bool,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """Ingest CSV file(s), simulate a strategy and publish the run under RUNS_ROOT."""
    settings = _settings(runs_root)
    if risk is not None and risk_file is not None:
        raise error(ErrorCode.USAGE_INVALID_OPTION, "give --risk or --risk-file, not both")
    with _Progress(enabled=not as_json) as progress:
        result = create_run(
            list(paths),
            symbol=symbol,
            strategy=strategy,
            timeframe=timeframe,
            params=_parse_params(params),
            risk=None if risk_file else (risk or "moderate"),
            risk_file=risk_file,
            commission_bps=commission_bps,
            slippage_bps=slippage_bps,
            cash=cash,
            start=start,
            end=end,
            base_timeframe=base_timeframe,
            format=fmt,
            timezone=timezone,
            sort=sort,
            drop_exact_duplicates=drop_exact_duplicates,
            settings=settings,
            progress=progress,
        )
    if as_json:
        _emit_json(result.to_dict())
        return
    click.echo(result.run_id)
    verb = "created" if result.created else "already existed (nothing rewritten)"
    summary = result.manifest["summary"]
    click.echo(f"  run      {verb}")
    click.echo(f"  path     {result.path}")
    click.echo(
        f"  bars     {summary['bars']:,} of {result.manifest['identity']['timeframe']}  "
        f"{summary['first_bar']} → {summary['last_bar']}"
    )
    click.echo(
        f"  result   total return {_pct(summary['total_return'])}, "
        f"max drawdown {_pct(summary['max_drawdown'])}, sharpe {_num(summary['sharpe'])}, "
        f"{summary['trades']} trade(s)"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


class _Progress:
    """A rich progress line on a terminal for long runs; silent otherwise."""

    STAGES = ("ingest", "resample", "simulate", "metrics", "write")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[str], None]:
        if self.enabled:
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=len(self.STAGES))
        return self.update

    def update(self, stage: str) -> None:
        if self._progress is not None:
            done = self.STAGES.index(stage) if stage in self.STAGES else 0
            self._progress.update(self._task, completed=done, description=stage)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@runs.command("list")
@click.option("--strategy", default=None, help="Only runs of this strategy.")
@click.option("--symbol", default=None, help="Only runs of this symbol.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N runs.")
@runs_root_option
@json_option
@handles_errors
def runs_list(
    strategy: str | None,
    symbol: str | None,
    limit: int | None,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """List registered runs, newest first."""
    settings = _settings(runs_root)
    rows = list_runs(settings, strategy=strategy, symbol=symbol, limit=limit)
    if as_json:
        _emit_json({"runs": rows})
        return
    if not rows:
        click.echo(f"no runs under {settings.runs_root}")
        return
    for row in rows:
        s = row["summary"]
        flag = " (read-only)" if row.get("read_only") else ""
        click.echo(
            f"{row['run_id'][:16]}  {row.get('created_at') or '-':<20} {row['symbol']:<10} "
            f"{row['timeframe']:>4} {row['strategy']:<20} {_pct(s['total_return']):>9} "
            f"{s['trades']!s:>5} trades{flag}"
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
        _emit_json({"manifest": view.manifest, "metrics": view.metrics})
        return
    m = view.manifest
    ident = m["identity"]
    click.echo(f"run {view.run_id}{' (read-only)' if view.read_only else ''}")
    click.echo(f"  symbol    {ident['symbol']}  timeframe {ident['timeframe']}")
    click.echo(
        f"  strategy  {ident['strategy']['id']} v{ident['strategy']['version']} "
        f"{json.dumps(ident['strategy']['params'], sort_keys=True)}"
    )
    click.echo(
        f"  risk      {m['risk']['level'] or 'custom'} {json.dumps(ident['risk'], sort_keys=True)}"
    )
    click.echo(
        f"  dataset   {ident['dataset_id'][:16]}  "
        f"{m['dataset']['first_bar']} → {m['dataset']['last_bar']} ({m['dataset']['rows']:,} rows)"
    )
    click.echo("  metrics")
    for metric_id, metric in view.metrics.items():
        value = metric["value"]
        text = (
            "n/a" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))
        )
        click.echo(f"    {metric_id:<24} {text:>14} {metric['unit']}")
    click.echo(f"  artifacts {', '.join(a['name'] for a in m['artifacts'])}")


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
        checked = "artifacts re-hashed" + (", rebuilt and compared byte for byte" if rerun else "")
        click.echo(f"{report.run_id[:16]}: {'ok' if report.ok else 'FAILED'} ({checked})")
    if failure is not None:
        if not as_json:
            click.echo(f"error[{failure.code}]: {failure.detail}", err=True)
            click.echo(f"  hint: {failure.hint}", err=True)
        sys.exit(failure.exit_code)


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
        _emit_json(report)
    else:
        rec = report["recovery"]
        click.echo(f"{report['runs']} run(s), index generation {report['generation']}")
        if rec["rebuilt_index"]:
            click.echo(f"  index rebuilt ({rec['rebuild_reason']})")
        for key in ("added", "dropped", "cleared_staging"):
            if rec[key]:
                click.echo(f"  {key}: {', '.join(rec[key])}")
        for item in rec["quarantined"]:
            click.echo(f"  quarantined {item['run_id'][:16]}: {item['reason']}")
        for run_id, problems in report["failing"].items():
            click.echo(f"  FAILED {run_id[:16]}: {'; '.join(problems)}")
        click.echo("ok" if report["ok"] else "problems found")
    if not report["ok"]:
        failure = error(
            ErrorCode.RUN_VERIFY_FAILED,
            f"{len(report['failing'])} run(s) do not verify against their manifests",
        )
        if not as_json:
            click.echo(f"error[{failure.code}]: {failure.detail}", err=True)
            click.echo(f"  hint: {failure.hint}", err=True)
        sys.exit(failure.exit_code)


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
    _emit_json(state) if as_json else click.echo(f"kill switch ON: {state['reason']}")


@killswitch.command("off")
@click.option("--reason", required=True, help="Why creation is allowed again (audited).")
@runs_root_option
@json_option
@handles_errors
def killswitch_off(reason: str, runs_root: str | None, as_json: bool) -> None:
    """Release the kill switch."""
    state = set_killswitch(False, reason, _settings(runs_root))
    _emit_json(state) if as_json else click.echo(f"kill switch off: {state['reason']}")


@killswitch.command("status")
@runs_root_option
@json_option
@handles_errors
def killswitch_show(runs_root: str | None, as_json: bool) -> None:
    """Show the kill switch and its audit history."""
    report = killswitch_status(_settings(runs_root))
    if as_json:
        _emit_json(report)
        return
    state = report["state"]
    if state["engaged"]:
        click.echo(f"kill switch ON since {state['changed_at'] or '?'} by {state['actor'] or '?'}")
        click.echo(f"  reason: {state['reason']}")
    else:
        click.echo("kill switch off: run creation allowed")
    for entry in report["history"]:
        click.echo(
            f"  {entry.get('at', '?')}  {entry.get('action', '?'):<3}  "
            f"{entry.get('actor', '?')}: {entry.get('reason', '')}"
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
    settings = Settings.from_env(
        os.environ, runs_root=runs_root, enable_run_creation=enable_run_creation
    )
    configure_logging(settings.log_level)
    from quantrun.web.server import run_server

    click.echo(f"quantrun on http://{host}:{port}/runs  (RUNS_ROOT {settings.runs_root})", err=True)
    run_server(settings, host=host, port=port)


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
    result: DemoResult = run_demo(settings, Path(directory))
    if as_json:
        _emit_json(result.to_dict())
    else:
        _echo_demo(result, settings)
    if serve:
        from quantrun.web.server import run_server

        served = settings.model_copy(update={"enable_run_creation": True})
        click.echo(
            f"web UI     http://127.0.0.1:{port}/runs/{result.run.run_id}  (Ctrl-C stops it)",
            err=as_json,
        )
        run_server(served, host="127.0.0.1", port=port)


def _echo_demo(result: DemoResult, settings: Settings) -> None:
    run = result.run
    summary = run.manifest["summary"]
    click.echo(f"demo CSV   {result.csv_path}")
    click.echo(f"dataset    {result.ingest.dataset_id}")
    _echo_summary(result.ingest.to_dict()["quality"])
    click.echo(f"run        {run.run_id} ({'created' if run.created else 'already there'})")
    click.echo(f"  path     {run.path}")
    click.echo(
        f"  result   total return {_pct(summary['total_return'])}, max drawdown "
        f"{_pct(summary['max_drawdown'])}, {summary['trades']} trade(s)"
    )
    root = settings.runs_root
    click.echo("next:")
    click.echo(f"  quantrun runs show {run.run_id[:12]} --runs-root {root}")
    click.echo(f"  quantrun runs list --runs-root {root}")
    click.echo(f"  quantrun data inspect {result.csv_path}")


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
    moved = repairs["sort"]["rows_moved"]
    dropped = repairs["drop_exact_duplicates"]["rows_dropped"]
    applied = [
        f"sorted ({moved:,} row(s) moved)" if moved else "",
        f"dropped {dropped:,} exact duplicate(s)" if dropped else "",
    ]
    click.echo(f"  repairs  {', '.join(a for a in applied if a) or 'none'}")


if __name__ == "__main__":  # pragma: no cover
    main()

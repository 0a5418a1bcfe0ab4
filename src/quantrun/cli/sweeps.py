"""`quantrun sweeps ...`: grids of runs, created, listed, shown, exported and materialised.

``sweeps create`` takes every option of ``runs create`` (derived from ``RunCreateRequest``,
never retyped) except ``--param``: the grid gives the parameters.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from quantrun.api import (
    create_sweep,
    export_sweep,
    list_sweeps,
    materialize_cells,
    open_sweep,
)
from quantrun.cli.base import (
    _emit_json,
    _num,
    _pct,
    _settings,
    handles_errors,
    json_option,
    main,
    runs_root_option,
)
from quantrun.cli.options import request_data, request_options
from quantrun.errors import ErrorCode, error
from quantrun.fields import validated
from quantrun.runs.request import RunCreateRequest
from quantrun.sweeps.grid import parse_grid
from quantrun.sweeps.progress import Estimate, SweepProgress
from quantrun.sweeps.request import GRID_FIELDS, SweepRequest, axis_inputs

#: Cells ``sweeps create`` lists at the end (the best by Sharpe ratio when there are more).
SUMMARY_CELLS = 10


@main.group()
def sweeps() -> None:
    """Grids of runs: create, list, show, export and materialise sweeps."""


@sweeps.command("create")
@request_options(RunCreateRequest, exclude=GRID_FIELDS, optional=frozenset({"symbol"}))
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="SYMBOL=FILE[,FILE...]|SYMBOL=dataset:ID",
    help="One more dataset of the dataset axis: a symbol and its file(s), joined in order, or "
    "a stored dataset (repeat; after the FILEs or --dataset, which are the first).",
)
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="NAME=V1,V2,...|NAME=START:STOP:STEP",
    help="A grid axis: listed values, or a range with both ends included (repeat; the first "
    "axis varies slowest).",
)
@click.option(
    "--grid-file",
    type=click.Path(dir_okay=False),
    default=None,
    help='A JSON object of axes, e.g. {"fast": [5, 10], "slow": "60:240:20"} (before any '
    "--grid axes).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave out (and record) cells the strategy refuses instead of refusing the sweep.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local worker processes (default: QUANTRUN_SWEEP_WORKERS, else the machine's cores).",
)
@click.option(
    "--executor",
    default="local",
    metavar="local|dask://HOST:PORT",
    help="Where cells are computed: this machine, or a Dask scheduler (needs the 'dask' "
    "extra).  [default: local]",
)
@runs_root_option
@json_option
@handles_errors
def sweeps_create(
    data: tuple[str, ...],
    grid: tuple[str, ...],
    grid_file: str | None,
    skip_invalid: bool,
    workers: int | None,
    executor: str,
    runs_root: str | None,
    as_json: bool,
    **values: Any,
) -> None:
    """Run a strategy over a grid of parameters; every cell is the run `runs create` would
    make, computed without writing it. Interrupted, the same command resumes."""
    settings = _settings(runs_root)
    given = request_data(RunCreateRequest, values, exclude=GRID_FIELDS)
    fields, datasets = axis_inputs(given, list(data))
    run = validated(RunCreateRequest, fields)
    axes = parse_grid(grid, Path(grid_file) if grid_file else None, settings.max_sweep_cells)
    request = validated(
        SweepRequest,
        {"run": run, "grid": axes, "skip_invalid": skip_invalid, "datasets": datasets},
    )
    with _SweepBar(quiet=as_json) as progress:
        result = create_sweep(
            request, settings, executor=executor, workers=workers, progress=progress
        )
    if as_json:
        _emit_json(result.to_dict())
        return
    cells = result.cells()
    click.echo(result.sweep_id)
    verb = "created" if result.created else "already existed (nothing recomputed)"
    click.echo(f"  sweep    {verb}")
    click.echo(f"  path     {result.path}")
    click.echo(
        f"  cells    {len(cells)} ({result.computed} computed, {result.resumed} resumed, "
        f"{len(result.manifest.skipped)} skipped)"
    )
    shown = cells
    if len(cells) > SUMMARY_CELLS:
        shown = sorted(cells, key=_sharpe_key)[:SUMMARY_CELLS]
        click.echo(f"  best {SUMMARY_CELLS} by sharpe:")
    _table(shown, result.manifest.axis_names, len(result.manifest.inputs()) > 1)


def _sharpe_key(cell: dict[str, Any]) -> tuple[bool, float, int]:
    value = cell["sharpe"]
    return (value is None, -(value or 0.0), cell["cell"])


def _table(cells: list[dict[str, Any]], axes: list[str], symbols: bool) -> None:
    """The cells as a table; with ``symbols`` (a dataset axis) a symbol column after cell."""
    named = ["symbol"] if symbols else []
    header = ["cell", *named, *axes, "total_return", "sharpe", "max_drawdown", "trades", "run_id"]
    rows = [
        [
            str(cell["cell"]),
            *(cell[name] for name in named),
            *(str(cell["params"][name]) for name in axes),
            _pct(cell["total_return"]),
            _num(cell["sharpe"]),
            _pct(cell["max_drawdown"]),
            str(cell["trades"]),
            cell["run_id"][:16],
        ]
        for cell in cells
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    for line in [header, *rows]:
        click.echo(
            "  " + "  ".join(text.rjust(width) for text, width in zip(line, widths, strict=True))
        )


class _SweepBar(SweepProgress):
    """The cell count, then the estimate (made before any progress), on stderr; on a terminal,
    then a rich bar with done/total, cells per second and the time left, started at the first
    progress update. ``console``: where a live bar goes (default: a rich console on stderr
    when stderr is a terminal)."""

    def __init__(self, quiet: bool, console: Any = None) -> None:
        self.quiet = quiet
        if console is None and not quiet and sys.stderr.isatty():
            from rich.console import Console

            console = Console(stderr=True)
        self.console = None if quiet else console
        self._progress: Any = None
        self._task: Any = None
        self._started = 0.0
        self._first = 0

    def __enter__(self) -> _SweepBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        if self.console is not None:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(text, err=True)

    def planned(self, sweep_id: str, total: int, done: int, skipped: int) -> None:
        extra = f", {done} already done" if done else ""
        extra += f", {skipped} skipped as invalid" if skipped else ""
        self._say(f"sweep {sweep_id[:16]}: {total} cell(s){extra}")

    def estimated(self, estimate: Estimate) -> None:
        self._say(f"  {estimate.text()}")

    def advanced(self, done: int, total: int) -> None:
        if self.console is None or (done >= total and self._progress is None):
            return
        if self._progress is None:
            self._start(done, total)
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = f"{(done - self._first) / elapsed:.1f} cells/s"
        self._progress.update(self._task, completed=done, rate=rate)

    def _start(self, done: int, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("cells"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("cells", total=total, completed=done, rate="")
        self._progress.refresh()
        self._started = time.monotonic()
        self._first = done


@sweeps.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N sweeps.")
@runs_root_option
@json_option
@handles_errors
def sweeps_list(limit: int | None, runs_root: str | None, as_json: bool) -> None:
    """List published sweeps, newest first."""
    settings = _settings(runs_root)
    rows = list_sweeps(settings, limit=limit)
    if as_json:
        _emit_json({"sweeps": [summary.to_dict() for summary in rows]})
        return
    if not rows:
        click.echo(f"no sweeps under {settings.runs_root}")
        return
    for summary in rows:
        click.echo(
            f"{summary.sweep_id[:16]}  {summary.created_at or '-':<20} {summary.symbol:<10} "
            f"{summary.timeframe:>4} {summary.strategy:<20} {'x'.join(summary.axes):<16} "
            f"{summary.cells:>6} cells"
        )


_sort_option = click.option(
    "--sort", "sort", default=None, metavar="METRIC", help="Best first by this metric."
)
_min_trades_option = click.option(
    "--min-trades",
    type=click.IntRange(min=0),
    default=None,
    help="Only cells with at least M trades.",
)


@sweeps.command("show")
@click.argument("sweep_id")
@_sort_option
@click.option("--top", type=click.IntRange(min=1), default=None, help="At most N cells.")
@_min_trades_option
@runs_root_option
@json_option
@handles_errors
def sweeps_show(
    sweep_id: str,
    sort: str | None,
    top: int | None,
    min_trades: int | None,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """Show a sweep's spec and its cells (grid order, or best first with --sort)."""
    view = open_sweep(sweep_id, _settings(runs_root))
    cells = view.rows(by=sort, min_trades=min_trades, top=top)
    if as_json:
        _emit_json(view.summary() | {"results": cells})
        return
    m = view.manifest
    click.echo(f"sweep {m.sweep_id}")
    click.echo(f"  strategy  {m.strategy.id} v{m.strategy.version}")
    for item in m.inputs():
        dataset = item.dataset.dataset_id[:16]
        click.echo(f"  data      {item.symbol} {m.timeframe}  dataset {dataset}")
    click.echo(
        "  grid      "
        + "  ".join(f"{a.name}={','.join(map(str, a.values))}" for a in m.identity.axes)
    )
    click.echo(f"  cells     {len(m.cells)} ({len(m.skipped)} skipped as invalid)")
    _table(cells, m.axis_names, len(m.inputs()) > 1)


@sweeps.command("export")
@click.argument("sweep_id")
@click.option("--csv", "fmt", flag_value="csv", help="The results table as CSV.")
@click.option("--parquet", "fmt", flag_value="parquet", help="The results table as Parquet.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to FILE instead of stdout.",
)
@runs_root_option
@handles_errors
def sweeps_export(
    sweep_id: str, fmt: str | None, output: str | None, runs_root: str | None
) -> None:
    """Write a sweep's results table (one row per cell, in grid order) as stored."""
    if fmt is None:
        raise error(ErrorCode.USAGE_INVALID_OPTION, "give --csv or --parquet")
    data = export_sweep(sweep_id, _settings(runs_root), fmt=fmt)
    if output is not None:
        Path(output).write_bytes(data)
        return
    if fmt == "parquet" and sys.stdout.isatty():
        raise error(ErrorCode.USAGE_INVALID_OPTION, "Parquet is binary: use --output FILE")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@sweeps.command("materialize")
@click.argument("sweep_id")
@click.option(
    "--cell",
    "cells",
    type=click.IntRange(min=0),
    multiple=True,
    help="A cell's number (grid order, from 0); repeat for several.",
)
@click.option("--top", type=click.IntRange(min=1), default=None, help="The best N cells ...")
@click.option("--by", default=None, metavar="METRIC", help="... by this metric.")
@_min_trades_option
@runs_root_option
@json_option
@handles_errors
def sweeps_materialize(
    sweep_id: str,
    cells: tuple[int, ...],
    top: int | None,
    by: str | None,
    min_trades: int | None,
    runs_root: str | None,
    as_json: bool,
) -> None:
    """Write and register cells' full runs, byte-identical to `runs create` with the same
    inputs (a run that exists is left as it is)."""
    if not cells and top is None:
        raise error(ErrorCode.USAGE_INVALID_OPTION, "give --cell K or --top N --by METRIC")
    if (top is None) != (by is None):
        raise error(ErrorCode.USAGE_INVALID_OPTION, "--top and --by go together")
    done = materialize_cells(
        sweep_id, _settings(runs_root), cells=cells, top=top, by=by, min_trades=min_trades
    )
    if as_json:
        _emit_json({"runs": [item.to_dict() for item in done]})
        return
    for item in done:
        verb = "created" if item.created else "already existed"
        click.echo(f"cell {item.cell}: {item.run_id}  ({verb})")

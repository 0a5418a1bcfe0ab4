"""`quantrun runs compare A B [C ...]`: what differs in the inputs, in the numbers, and where
the decisions part. The core is :mod:`quantrun.runs.compare`; this module only prints it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from quantrun.api import compare_runs
from quantrun.cli.base import _emit_json, _settings, handles_errors, json_option, runs_root_option
from quantrun.cli.runs import runs

if TYPE_CHECKING:
    from quantrun.runs.compare import Comparison, Divergence, MetricRow
    from quantrun.runs.divergence import DecisionAt, TradeRef

DASH = "—"
#: Trades listed per side in the text output (``--json`` lists more, with the full counts).
TRADES_PRINTED = 5


@runs.command("compare")
@click.argument("run_ids", nargs=-1)
@click.option(
    "--all-fields",
    is_flag=True,
    help="Show every input field, not only those that differ.",
)
@runs_root_option
@json_option
@handles_errors
def runs_compare(
    run_ids: tuple[str, ...], all_fields: bool, runs_root: str | None, as_json: bool
) -> None:
    """Compare two or more runs (ids or 8+ hex prefixes); the first is the reference.

    Prints the input fields that differ, every metric with its delta to the first run, and, for
    runs on the same dataset and timeframe, the first bar where their decision records differ,
    how many bars differ and the trades only one run has. At most QUANTRUN_MAX_COMPARE_RUNS
    runs (default 20). A sweep's cell may be named SWEEP_ID:K once its run is written
    (`quantrun sweeps materialize SWEEP_ID --cell K`).
    """
    comparison = compare_runs(list(run_ids), _settings(runs_root), all_fields=all_fields)
    if as_json:
        _emit_json(comparison.to_dict())
        return
    _print_runs(comparison)
    _print_fields(comparison)
    _print_metrics(comparison)
    for divergence in comparison.divergences:
        _print_divergence(divergence)
    _print_artifacts(comparison)


# -- formatting --------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, str):
        # Hashes: enough to tell them apart; --json has them whole.
        return value[:16] + "…" if len(value) == 64 and value.isalnum() else value
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _metric(value: Any, unit: str, *, delta: bool = False) -> str:
    """A metric value by its unit; a ``delta`` is signed, fractions in percentage points."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    sign = "+" if delta else ""
    if unit == "fraction":
        return f"{value * 100:{sign}.2f} pp" if delta else f"{value:.2%}"
    if unit == "count":
        return f"{value:{sign},.0f}"
    if unit in ("currency", "days"):
        return f"{value:{sign},.2f}"
    return f"{value:{sign}.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> None:
    """Columns padded to their widest cell; the first ``right`` columns left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            cell.ljust(w) if i < right else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo(("  " + "  ".join(cells)).rstrip())


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no params"


def _print_runs(comparison: Comparison) -> None:
    runs_ = comparison.runs
    click.echo(f"compare {len(runs_)} runs; {runs_[0].label} is the reference")
    for run in runs_:
        click.echo(
            f"  {run.label}  {run.run_id[:12]}  {run.symbol} {run.timeframe}  "
            f"{run.strategy} v{run.strategy_version} ({_params(run.params)})  "
            f"risk {run.risk_level or 'custom'}"
        )


def _print_fields(comparison: Comparison) -> None:
    total, differing = len(comparison.fields), len(comparison.differing_fields)
    labels = [r.label for r in comparison.runs]
    click.echo("")
    if comparison.all_fields:
        click.echo(f"inputs: {differing} of {total} differ (marked *)")
        shown = comparison.fields
    else:
        click.echo(f"inputs: {differing} of {total} differ (--all-fields shows every one)")
        shown = tuple(comparison.differing_fields)
    if not shown:
        click.echo("  none: the runs have the same inputs")
        return
    rows = [
        [("* " if f.differs and comparison.all_fields else "") + f.path]
        + [_value(v) for v in f.values]
        for f in shown
    ]
    _table(["field", *labels], rows, right=len(labels) + 1)


def _print_metrics(comparison: Comparison) -> None:
    runs_ = comparison.runs
    reference = runs_[0].label
    click.echo("")
    click.echo(f"metrics (Δ = run - {reference}; fraction deltas in percentage points)")
    header = ["metric", "unit", *(r.label for r in runs_), *(f"Δ {r.label}" for r in runs_[1:])]
    rows = [
        [m.id, m.unit, *(_metric(v, m.unit) for v in m.values)]
        + [_metric(d, m.unit, delta=True) for d in m.deltas[1:]]
        for m in comparison.metrics
    ]
    _table(header, rows, right=2)
    _print_conventions(comparison.metrics)


def _print_conventions(metrics: Sequence[MetricRow]) -> None:
    differing = [m for m in metrics if m.conventions_differ]
    if not differing:
        first = metrics[0].convention if metrics else {}
        factor = first.get("annualisation_factor")
        said = f"annualisation factor {factor}, " if factor is not None else ""
        click.echo(
            f"  conventions: the same in every run ({said}risk-free rate "
            f"{first.get('risk_free_rate', 0)}); `runs show --json` has each metric's"
        )
        return
    # One line per distinct difference, naming every metric it touches.
    groups: dict[str, list[str]] = {}
    for m in differing:
        said = "; ".join(
            f"{k} " + " vs ".join(_value(c.get(k)) for c in m.conventions)
            for k in m.convention_differences()
        )
        groups.setdefault(said, []).append(m.id)
    for said, ids in groups.items():
        click.echo(f"  conventions differ ({said}): {', '.join(ids)}")


def _record(label: str, records: Sequence[DecisionAt]) -> None:
    if not records:
        click.echo(f"    {label}  no decision record at this bar")
        return
    for i, r in enumerate(records):
        lead = label if i == 0 else " " * len(label)
        indicators = "  ".join(f"{k}={_value(v)}" for k, v in r.indicators.items())
        position = f"position {_value(r.position_before)} → {_value(r.position_after)}"
        click.echo(
            f"    {lead}  #{r.seq} bar {r.bar}: {r.action} ({r.reason}), price "
            f"{_value(r.price)}, qty {_value(r.quantity)}, {position}"
            + (f"  [{indicators}]" if indicators else "")
        )


def _trade(t: TradeRef) -> str:
    pnl = "open" if t.pnl is None else f"pnl {t.pnl:+,.2f}"
    return f"#{t.trade} {t.direction} {t.entry_ts} → {t.exit_ts or 'open'}  {pnl}"


def _print_divergence(d: Divergence) -> None:
    click.echo("")
    click.echo(f"decisions of {d.run} against {d.reference}")
    if d.decisions is None:
        click.echo(f"  not compared: {d.reason}")
        return
    found = d.decisions
    if d.note:
        click.echo(f"  note: {d.note}")
    click.echo(f"  span                 {found.start} → {found.end}")
    if found.first is None:
        click.echo(
            f"  identical            every decision record of the {found.bars_compared:,} bars"
        )
    else:
        first = found.first
        click.echo(f"  first divergent bar  {first.ts}  (differs in: {', '.join(first.fields)})")
        _record(d.reference, first.reference)
        _record(d.run, first.other)
    click.echo(f"  bars that differ     {found.bars_differing:,} of {found.bars_compared:,}")
    trades = found.trades
    click.echo(
        f"  trades               {trades.shared:,} in both; {trades.only_reference_count:,} "
        f"only in {d.reference}, {trades.only_other_count:,} only in {d.run}"
    )
    for label, listed, count in (
        (d.reference, trades.only_reference, trades.only_reference_count),
        (d.run, trades.only_other, trades.only_other_count),
    ):
        for t in listed[:TRADES_PRINTED]:
            click.echo(f"    only in {label}  {_trade(t)}")
        if count > TRADES_PRINTED:
            click.echo(
                f"    only in {label}  … and {count - TRADES_PRINTED:,} more (--json lists more)"
            )


def _print_artifacts(comparison: Comparison) -> None:
    same = [a.name for a in comparison.artifacts if a.identical]
    click.echo("")
    click.echo(f"artifacts byte-identical in every run: {', '.join(same) or 'none'}")

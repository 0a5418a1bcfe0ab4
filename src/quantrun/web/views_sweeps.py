"""The sweeps' view models: one function per page, shared with its JSON twin.

``/sweeps`` and ``GET /api/v1/sweeps`` list the published sweeps; ``/sweeps/{id}`` and
``GET /api/v1/sweeps/{id}`` show one: a heatmap of a metric over two chosen parameters (the
others aggregated by max or median), the same metric along one parameter, and the results
table, best first by a metric, with a minimum-trades filter. The choice lives in the URL
(``?metric=sharpe&x=fast&y=slow&agg=max&sort=sharpe&min_trades=5``), so reloads and shared
links show the same view. A click on a heatmap square or a table row opens that cell's run
(``POST /api/v1/sweeps/{id}/cells/{k}/run``: the run when written, else the job that writes
it); ticked rows are compared (``POST /api/v1/sweeps/{id}/runs?cells=...``, then
``/compare?runs=SWEEP_ID:K,...``).

On a dataset axis (D47) the page shows one dataset at a time (``?dataset=K``, its place on the
axis from 0; the first by default), or ``dataset=all``: every dataset, the heatmap then
aggregating over datasets too. The table has a symbol column.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quantrun.api import list_sweeps, open_sweep
from quantrun.errors import ErrorCode, error
from quantrun.metrics import METRICS
from quantrun.runs.policy import run_exists
from quantrun.sweeps.results import HEADLINE, LOWER_IS_BETTER
from quantrun.sweeps.view import AGGREGATIONS, surface
from quantrun.web.views import Context, creation_state

#: Rows the results table shows (the JSON twin and the CSV export have every cell).
TABLE_ROWS = 500
DEFAULT_METRIC = "sharpe"
#: ``?dataset=`` for every dataset of the axis at once.
ALL_DATASETS = "all"


def sweeps_index(ctx: Context) -> dict[str, Any]:
    """Every published sweep, newest first."""
    rows = []
    for summary in list_sweeps(ctx.settings, recover=False):
        rows.append(
            summary.to_dict()
            | {
                "url": f"/sweeps/{summary.sweep_id}",
                "api_url": f"/api/v1/sweeps/{summary.sweep_id}",
            }
        )
    return {"sweeps": rows, "total": len(rows)}


def _choice(value: str | None, allowed: list[str], default: str, name: str) -> str:
    if value in (None, ""):
        return default
    if value not in allowed:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION, f"{name}={value[:80]!r}: one of {', '.join(allowed)}"
        )
    return value


def sweep_detail(
    ctx: Context,
    sweep_id: str,
    *,
    metric: str | None = None,
    x: str | None = None,
    y: str | None = None,
    agg: str | None = None,
    sort: str | None = None,
    min_trades: int | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """One sweep: its spec, the heatmap and line chart of ``metric``, the results table."""
    view = open_sweep(sweep_id, ctx.settings)
    manifest = view.manifest
    inputs = manifest.inputs()
    numbers = [str(k) for k in range(len(inputs))]
    dataset = _choice(dataset, [*numbers, ALL_DATASETS], "0", "dataset")
    chosen = None if dataset == ALL_DATASETS else int(dataset)
    axes = manifest.axis_names
    metric_ids = [m.id for m in METRICS]
    metric = _choice(metric, metric_ids, DEFAULT_METRIC, "metric")
    x = _choice(x, axes, axes[0], "x")
    others = [a for a in axes if a != x]
    y_default = others[0] if others else ""
    if y is not None and y != "" and y not in others:
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"y={y[:80]!r}: one of {', '.join(others)}")
    # Not given: the next parameter; given empty: no heatmap, the line chart alone.
    y = None if y == "" else _choice(y, others, y_default, "y") if others else None
    agg = _choice(agg, list(AGGREGATIONS), "max", "agg")
    sort = _choice(sort, [*metric_ids, "cell"], metric, "sort")
    frame = view.dataset_frame(chosen)
    heatmap = surface(frame, metric, x, y, agg, min_trades=min_trades) if y is not None else None
    line = surface(frame, metric, x, None, agg, min_trades=min_trades)
    ranked = view.ranked(by=None if sort == "cell" else sort, min_trades=min_trades, dataset=chosen)
    shown = ranked.head(TABLE_ROWS)
    table_metrics = list(HEADLINE) + ([metric] if metric not in HEADLINE else [])
    rows = []
    for values in shown.select(["cell", "run_id", *table_metrics]).to_dicts():
        cell = manifest.cells[values["cell"]]
        rows.append(
            values
            | {
                "grid": {name: cell.params.get(name) for name in axes},
                "symbol": manifest.input_of(cell).symbol,
                "materialized": run_exists(ctx.settings, cell.run_id),
                "run_url": f"/runs/{cell.run_id}",
                "ref": f"{manifest.sweep_id}:{cell.cell}",
            }
        )
    units = {m.id: m.unit for m in METRICS}
    labels = {m.id: m.label for m in METRICS}
    query = {"metric": metric, "x": x, "y": y or "", "agg": agg, "sort": sort}
    if len(inputs) > 1:
        query["dataset"] = dataset
    if min_trades is not None:
        query["min_trades"] = str(min_trades)
    return {
        "sweep": view.summary(),
        "choice": {
            "metric": metric,
            "x": x,
            "y": y,
            "agg": agg,
            "sort": sort,
            "min_trades": min_trades,
            "lower_is_better": metric in LOWER_IS_BETTER,
        }
        | ({"dataset": dataset} if len(inputs) > 1 else {}),
        "options": {
            "metrics": [{"id": m, "label": labels[m], "unit": units[m]} for m in metric_ids],
            "axes": axes,
            "aggregations": list(AGGREGATIONS),
            "datasets": [
                {"value": number, "symbol": item.symbol, "dataset_id": item.dataset.dataset_id}
                for number, item in zip(numbers, inputs, strict=True)
            ],
        },
        "heatmap": heatmap.to_dict() if heatmap is not None else None,
        "line": line.to_dict(),
        "table": {
            "metrics": [{"id": m, "label": labels[m], "unit": units[m]} for m in table_metrics],
            "axes": axes,
            "rows": rows,
            "symbols": len(inputs) > 1,
            "shown": len(rows),
            "matching": ranked.height,
            "total": frame.height,
        },
        "creation": creation_state(ctx),
        "compare_limit": ctx.settings.max_compare_runs,
        "links": {
            "self": f"/sweeps/{manifest.sweep_id}?{urlencode(query)}",
            "api": f"/api/v1/sweeps/{manifest.sweep_id}?{urlencode(query)}",
            "csv": f"/api/v1/sweeps/{manifest.sweep_id}/results.csv",
            "parquet": f"/api/v1/sweeps/{manifest.sweep_id}/results.parquet",
            "materialize": f"/api/v1/sweeps/{manifest.sweep_id}/cells/{{cell}}/run",
            "compare": f"/api/v1/sweeps/{manifest.sweep_id}/runs?cells=",
        },
    }

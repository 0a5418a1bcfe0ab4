"""Sweeps on the web: ``/api/v1/sweeps...`` and the pages ``/sweeps`` and ``/sweeps/{id}``.

Each page and its JSON twin (``?format=json``, or the API route) share one view model
(:mod:`quantrun.web.views_sweeps`). Materialising a cell (a click on the page) goes through the
same creation policy as a new run: the server's flag, the kill switch, free disk, build slots.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from quantrun.api import materialize_cells, open_sweep
from quantrun.runs.policy import require_creation, run_exists
from quantrun.web.problems import problem_responses
from quantrun.web.queries import context
from quantrun.web.routes_pages import render
from quantrun.web.views_sweeps import sweep_detail, sweeps_index

api = APIRouter(prefix="/api/v1", responses=problem_responses(400, 413, 500))
pages = APIRouter(include_in_schema=False)


def sweep_view(
    request: Request,
    sweep_id: str,
    metric: Annotated[str | None, Query(description="The metric shown (default sharpe).")] = None,
    x: Annotated[str | None, Query(description="The heatmap's x parameter.")] = None,
    y: Annotated[str | None, Query(description="The heatmap's y parameter ('' for none).")] = None,
    agg: Annotated[
        str | None, Query(description="How other parameters are aggregated: max or median.")
    ] = None,
    sort: Annotated[
        str | None, Query(description="The table's order: a metric (best first) or cell.")
    ] = None,
    min_trades: Annotated[
        int | None, Query(ge=0, description="Only cells with at least this many trades.")
    ] = None,
) -> dict[str, Any]:
    """The sweep view model for the query parameters of /sweeps/{id} and its API twin."""
    return sweep_detail(
        context(request),
        sweep_id,
        metric=metric,
        x=x,
        y=y,
        agg=agg,
        sort=sort,
        min_trades=min_trades,
    )


@api.get("/sweeps", summary="List published sweeps, newest first")
def get_sweeps(request: Request) -> dict[str, Any]:
    return sweeps_index(context(request))


@api.get(
    "/sweeps/{sweep_id}",
    summary="A sweep: its spec, a metric over its parameters, its results table",
    responses=problem_responses(404),
)
def get_sweep(view: Annotated[dict[str, Any], Depends(sweep_view)]) -> dict[str, Any]:
    return view


@api.get(
    "/sweeps/{sweep_id}/results.{fmt}",
    summary="A sweep's results table as stored (csv or parquet)",
    response_class=Response,
    responses=problem_responses(404)
    | {
        200: {
            "description": "One row per cell in grid order.",
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
        }
    },
)
def get_sweep_results(request: Request, sweep_id: str, fmt: str) -> Response:
    view = open_sweep(sweep_id, context(request).settings)
    data = view.file_bytes(fmt)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/vnd.apache.parquet"
    name = f"sweep-{view.sweep_id[:12]}.{fmt}"
    return Response(
        content=data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api.post(
    "/sweeps/{sweep_id}/cells/{cell}/run",
    summary="Materialise a cell: write and register its run (byte-identical to runs create)",
    responses=problem_responses(403, 404, 409, 429, 503, 507),
)
def post_cell_run(request: Request, sweep_id: str, cell: int) -> dict[str, Any]:
    settings = context(request).settings
    view = open_sweep(sweep_id, settings)
    target = view.cell(cell)
    if run_exists(settings, target.run_id):
        created = False
    else:
        # Writing a run is creating one: the server's flag, the kill switch and the disk.
        require_creation(settings, server=True)
        (made,) = materialize_cells(view.sweep_id, settings, cells=[cell])
        created = made.created
    return {
        "sweep_id": view.sweep_id,
        "cell": cell,
        "run_id": target.run_id,
        "created": created,
        "url": f"/runs/{target.run_id}",
    }


@pages.get("/sweeps")
def sweeps_page(request: Request) -> Response:
    return render(request, "sweeps.html", sweeps_index(context(request)))


@pages.get("/sweeps/{sweep_id}")
def sweep_page(request: Request, view: Annotated[dict[str, Any], Depends(sweep_view)]) -> Response:
    return render(request, "sweep.html", view)

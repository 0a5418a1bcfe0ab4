"""Sweeps on the web: ``/api/v1/sweeps...`` and the pages ``/sweeps`` and ``/sweeps/{id}``.

Each page and its JSON twin (``?format=json``, or the API route) share one view model
(:mod:`quantrun.web.views_sweeps`). Materialising cells (a click on the page, or a comparison of
cells) answers at once: the runs when they are written, else a job that writes them
(:mod:`quantrun.sweeps.cell_job`), queued under the creation policy of a new run (the server's
flag, the kill switch, free disk); the job holds a build slot while it writes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from quantrun.api import open_sweep
from quantrun.errors import ErrorCode, error
from quantrun.fields import validated
from quantrun.runs.jobs import SUCCEEDED, submit_upload
from quantrun.runs.policy import require_creation, run_exists
from quantrun.runs.request import RunCreateRequest
from quantrun.sweeps.cell_job import compare_url, submit_cells
from quantrun.sweeps.grid import GridAxis, grid_from_json
from quantrun.sweeps.job import job_work
from quantrun.sweeps.plan import check
from quantrun.sweeps.request import GRID_FIELDS, SweepRequest, stored_datasets
from quantrun.sweeps.store import SweepStore
from quantrun.sweeps.view import SweepView
from quantrun.web.forms import form_data, form_fields
from quantrun.web.problems import problem_responses
from quantrun.web.queries import context
from quantrun.web.routes_pages import render
from quantrun.web.views import job_detail
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
    dataset: Annotated[
        str | None,
        Query(
            description="On a dataset axis: the dataset shown (its place, from 0; default 0), "
            "or 'all'."
        ),
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
        dataset=dataset,
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


#: What the materialising routes answer: 200 when every run is written already, else 202 with
#: the job that writes them (the browser follows ``url``: the run or comparison, or the job).
_MATERIALIZE_RESPONSES = problem_responses(403, 404, 409, 429, 503, 507) | {
    202: {
        "description": "A job writes the runs: follow `url` (its page) or poll `job.url`.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@api.post(
    "/sweeps/{sweep_id}/cells/{cell}/run",
    summary="Open a cell's run: 200 when it is written, else 202 and the job that writes it "
    "(byte-identical to runs create)",
    responses=_MATERIALIZE_RESPONSES,
)
def post_cell_run(request: Request, sweep_id: str, cell: int) -> JSONResponse:
    return _materialize(request, open_sweep(sweep_id, context(request).settings), [cell])


@api.post(
    "/sweeps/{sweep_id}/runs",
    summary="Open several cells' runs to compare them: 200 when all are written, else 202 and "
    "the job that writes the missing ones",
    responses=_MATERIALIZE_RESPONSES | problem_responses(400),
)
def post_cells_runs(
    request: Request,
    sweep_id: str,
    cells: Annotated[
        str,
        Query(
            description="The cells, comma-separated, in the order wanted (the first is a "
            "comparison's reference): numbers K, or SWEEP_ID:K as /compare names them; at most "
            "QUANTRUN_MAX_COMPARE_RUNS."
        ),
    ],
) -> JSONResponse:
    settings = context(request).settings
    view = open_sweep(sweep_id, settings)
    return _materialize(request, view, _cell_numbers(view, cells, settings.max_compare_runs))


def _cell_numbers(view: SweepView, text: str, limit: int) -> list[int]:
    """The cell numbers ``text`` names: ``K`` or ``SWEEP_ID:K`` (this sweep's id or a prefix
    of 8+ characters), comma-separated."""
    numbers = []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        sweep, _, k = part.rpartition(":")
        if not k.isdigit() or (sweep and not (len(sweep) >= 8 and view.sweep_id.startswith(sweep))):
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"cells: {part[:80]!r} is not a cell of sweep {view.sweep_id[:12]} "
                "(give K or SWEEP_ID:K)",
            )
        numbers.append(int(k))
    if not numbers:
        raise error(ErrorCode.USAGE_INVALID_OPTION, "cells: give at least one cell")
    if len(set(numbers)) != len(numbers):
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"cells={text[:80]!r} names a cell twice")
    if len(numbers) > limit:
        raise error(
            ErrorCode.LIMIT_COMPARE_RUNS,
            f"{len(numbers)} cells given; at most {limit} are compared at once",
            extra={"limit": limit},
        )
    return numbers


def _materialize(request: Request, view: SweepView, cells: list[int]) -> JSONResponse:
    """The runs of ``cells``: written already (200), or written by a job (202). Queuing one
    is creating runs: the server's flag, the kill switch and the disk, checked now."""
    ctx = context(request)
    settings = ctx.settings
    run_ids = [view.cell(k).run_id for k in cells]
    first = f"/runs/{run_ids[0]}"
    done = compare_url(view.sweep_id, cells) if len(cells) > 1 else first
    body: dict[str, Any] = {
        "sweep_id": view.sweep_id,
        "cells": cells,
        "run_ids": run_ids,
        # The single cell's fields, for a click on one.
        "cell": cells[0],
        "run_id": run_ids[0],
    }
    if all(run_exists(settings, run_id) for run_id in run_ids):
        return JSONResponse(body | {"created": False, "job": None, "url": done}, 200)
    require_creation(settings, server=True)
    # Every cell asked for, in order: the job's page then leads to all of them (a run that is
    # written already is left as it is).
    job, _new = submit_cells(ctx.jobs, view.manifest, cells)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    summary = job_detail(ctx, job["job_id"])
    return JSONResponse(body | {"created": None, "job": summary, "url": summary["url"]}, 202)


@api.post(
    "/sweeps",
    summary="Upload a CSV (or name a dataset) and a grid; queue a sweep (202) or find it (200)",
    status_code=202,
    responses=problem_responses(403, 429, 503, 507)
    | {
        200: {
            "description": "The same upload, request and grid made a sweep already.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
@form_fields(RunCreateRequest, exclude=GRID_FIELDS)
def post_sweep(
    request: Request,
    grid: Annotated[
        str,
        Form(
            description='The grid: a JSON object of NAME: values, e.g. {"fast": "5:50:5", '
            '"slow": [60, 80, 100]} (a list, "V1,V2" or "START:STOP:STEP", both ends '
            "included)."
        ),
    ],
    file: Annotated[
        UploadFile | None,
        File(description="The CSV of OHLCV bars (or `dataset`: a stored dataset's id)."),
    ] = None,
    skip_invalid: Annotated[
        bool, Form(description="Leave out (and record) cells the strategy refuses.")
    ] = False,
    datasets: Annotated[
        str | None,
        Form(
            description="More datasets of the dataset axis, after the upload (or `dataset`): "
            'a JSON list of stored datasets, e.g. [{"symbol": "DOTUSDT", "dataset": "ID"}].'
        ),
    ] = None,
    **form: Any,
) -> JSONResponse:
    ctx = context(request)
    settings = ctx.settings
    require_creation(settings, server=True)
    fields = form_data(RunCreateRequest, form, exclude=GRID_FIELDS)
    axes = grid_from_json(grid, settings.max_sweep_cells)
    more = stored_datasets(datasets)
    has_file = file is not None and (bool(file.filename) or file.size not in (None, 0))
    if fields.get("dataset") is not None:
        if has_file:
            raise error(ErrorCode.USAGE_INVALID_OPTION, "send a file or a dataset, not both")
        sweep = _sweep(validated(RunCreateRequest, fields), axes, skip_invalid, more)
        check(sweep, settings)  # every cell validated before anything is queued
        job, _new = ctx.jobs.submit(sweep.run, None, job_work(sweep))
    else:
        if file is None or not has_file:
            raise error(ErrorCode.UPLOAD_MISSING, "no file in the request")
        # The upload stands in for `paths` until it is stored by content.
        run = validated(RunCreateRequest, {"paths": ["upload.csv"], **fields})
        sweep = _sweep(run, axes, skip_invalid, more)
        check(sweep, settings)  # a bad grid or cell fails now, before the upload is stored
        job, _new = submit_upload(
            ctx.jobs, run, file.file, file.filename or "upload.csv", job_work(sweep)
        )
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    summary = job_detail(ctx, job["job_id"])
    sweep_id = summary.get("sweep_id")
    if summary["state"] == SUCCEEDED and sweep_id and SweepStore(settings).existing(sweep_id):
        return JSONResponse({"job": summary, "sweep_id": sweep_id, "created": False}, 200)
    return JSONResponse({"job": summary, "sweep_id": None}, 202)


def _sweep(
    run: RunCreateRequest, axes: list[GridAxis], skip_invalid: bool, more: list[Any]
) -> SweepRequest:
    data = {"run": run, "grid": axes, "skip_invalid": skip_invalid, "datasets": more}
    return validated(SweepRequest, data)


@pages.get("/sweeps")
def sweeps_page(request: Request) -> Response:
    return render(request, "sweeps.html", sweeps_index(context(request)))


@pages.get("/sweeps/{sweep_id}")
def sweep_page(request: Request, view: Annotated[dict[str, Any], Depends(sweep_view)]) -> Response:
    return render(request, "sweep.html", view)

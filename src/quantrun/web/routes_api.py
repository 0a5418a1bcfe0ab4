"""REST API, ``/api/v1``. Every handler validates its input, calls the core or a view model,
and returns JSON; failures are ``application/problem+json`` with the stable code."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from quantrun.api import export_runs_csv, inspect_file, open_run, refused_report
from quantrun.data.request import IngestRequest
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.fields import validated
from quantrun.runs.artifacts import ARTIFACTS
from quantrun.runs.builder import strategy_finder
from quantrun.runs.health import readiness
from quantrun.runs.jobs import SUCCEEDED, copy_limited, submit_upload
from quantrun.runs.policy import require_creation, run_exists
from quantrun.runs.request import RunCreateRequest
from quantrun.web.forms import form_data, form_fields
from quantrun.web.hints import for_web
from quantrun.web.problems import problem_responses
from quantrun.web.queries import comparison, context, runs_listing
from quantrun.web.views import decisions_page, job_detail, strategies_page

# Every request can be malformed (400, also request validation), too large (413) or hit a bug
# (500); every POST also passes the cross-site check (403) and the rate limit (429) in guard.py.
router = APIRouter(prefix="/api/v1", responses=problem_responses(400, 413, 500))
POST_PROBLEMS = (403, 429)
JSON_OBJECT: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
# The JSON artifacts are objects; the others (CSV, NDJSON, Parquet) are served as bytes.
ARTIFACT_CONTENT = {
    media: {"schema": {"type": "object"} if media == "application/json" else {}}
    for media in sorted({a.media_type for a in ARTIFACTS})
}


_ctx = context


@router.get("/runs", summary="List runs (and jobs in flight)")
def get_runs(listing: Annotated[dict[str, Any], Depends(runs_listing)]) -> dict[str, Any]:
    return listing


@router.get(
    "/runs.csv",
    summary="Every listed run as spreadsheet-safe CSV (same filters as /runs)",
    response_class=Response,
    responses={200: {"description": "One row per run.", "content": {"text/csv": {}}}},
)
def get_runs_csv(
    request: Request, symbol: str | None = None, strategy: str | None = None
) -> Response:
    body = export_runs_csv(
        _ctx(request).settings, symbol=symbol or None, strategy=strategy or None, recover=False
    )
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="quantrun-runs.csv"'},
    )


@router.get(
    "/runs/{run_id}", summary="A run's manifest and metrics", responses=problem_responses(404, 409)
)
def get_run(request: Request, run_id: str) -> dict[str, Any]:
    view = open_run(run_id, _ctx(request).settings, recover=False)
    return {
        "run_id": view.run_id,
        "read_only": view.read_only,
        "manifest": view.manifest.to_json(),
        "metrics": view.metrics,
    }


# ``:path`` so a name holding an (encoded) slash still reaches the manifest check and is
# RUN_NOT_FOUND like any other unlisted name.
@router.get(
    "/runs/{run_id}/artifacts/{name:path}",
    summary="Download one artifact the manifest lists",
    response_class=Response,
    responses=problem_responses(404, 409)
    | {200: {"description": "The artifact's bytes.", "content": ARTIFACT_CONTENT}},
)
def get_artifact(request: Request, run_id: str, name: str) -> Response:
    view = open_run(run_id, _ctx(request).settings, recover=False)
    path = view.artifact_path(name)
    return Response(
        content=path.read_bytes(),
        media_type=view.media_type(name),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/runs/{run_id}/decisions",
    summary="Decision records, paged",
    responses=problem_responses(404, 409),
)
def get_decisions(
    request: Request,
    run_id: str,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
) -> dict[str, Any]:
    return decisions_page(_ctx(request), run_id, page=page, size=size, action=action)


@router.get(
    "/compare",
    summary="Compare runs: the inputs that differ, metrics with deltas, where decisions part",
    responses=problem_responses(404, 409),
)
def get_compare(view: Annotated[dict[str, Any], Depends(comparison)]) -> dict[str, Any]:
    return view


@router.get(
    "/strategies",
    summary="Every strategy (built-in and added with the CLI) with its parameters and code",
)
def get_strategies(request: Request) -> dict[str, Any]:
    return strategies_page(_ctx(request))


@router.post(
    "/runs",
    summary="Upload a CSV and queue a run (202), or find the existing run (200)",
    status_code=202,
    responses=problem_responses(*POST_PROBLEMS, 503, 507)
    | {
        200: {
            "description": "The same upload and request made a run already.",
            "content": JSON_OBJECT,
        }
    },
)
@form_fields(RunCreateRequest)
def post_run(
    request: Request,
    file: Annotated[
        UploadFile | None,
        File(description="The CSV of OHLCV bars (or `dataset`: a stored dataset's id)."),
    ] = None,
    **form: Any,
) -> JSONResponse:
    ctx = _ctx(request)
    settings = ctx.settings
    require_creation(settings, server=True)
    fields = form_data(RunCreateRequest, form)
    has_file = file is not None and (bool(file.filename) or file.size not in (None, 0))
    if fields.get("dataset") is not None:
        if has_file:
            raise error(ErrorCode.USAGE_INVALID_OPTION, "send a file or a dataset, not both")
        run_request = validated(RunCreateRequest, fields)
        run_request.resolve(strategy_finder(settings))
        job, _new = ctx.jobs.submit(run_request, None)
    else:
        if file is None or not has_file:
            raise error(ErrorCode.UPLOAD_MISSING, "no file in the request")
        # The upload stands in for `paths` until it is stored by content.
        run_request = validated(RunCreateRequest, {"paths": ["upload.csv"], **fields})
        # A bad strategy, parameter or risk level fails now, before the upload is stored.
        run_request.resolve(strategy_finder(settings))
        job, _new = submit_upload(ctx.jobs, run_request, file.file, file.filename or "upload.csv")
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    summary = job_detail(ctx, job["job_id"])
    run_id = summary["run_id"]
    if summary["state"] == SUCCEEDED and run_id and run_exists(settings, run_id):
        return JSONResponse({"job": summary, "run_id": run_id, "created": False}, 200)
    return JSONResponse({"job": summary, "run_id": None}, 202)


@router.post(
    "/inspect",
    summary="Validate a CSV and preview its quality report; writes nothing",
    responses=problem_responses(*POST_PROBLEMS, 503),
)
@form_fields(IngestRequest)
def post_inspect(
    request: Request, file: Annotated[UploadFile, File()], **form: Any
) -> dict[str, Any]:
    ctx = _ctx(request)
    settings = ctx.settings
    name = Path(file.filename or "upload.csv").name or "upload.csv"
    with ctx.preview_slot(), tempfile.TemporaryDirectory(prefix="quantrun-preview-") as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            copy_limited(file.file, out, settings.max_input_bytes)
        try:
            report = inspect_file([str(path)], settings, **form_data(IngestRequest, form)).to_dict()
        except QuantrunError as exc:
            report = refused_report(exc).to_dict()
    for source in report["sources"]:
        source["path"] = name
    if report.get("error"):
        report["error"] = for_web(report["error"])
    return report


@router.get("/jobs/{job_id}", summary="A job's state", responses=problem_responses(404))
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return job_detail(_ctx(request), job_id)


@router.post(
    "/jobs/{job_id}/retry",
    summary="Queue a failed job again",
    responses=problem_responses(*POST_PROBLEMS, 404, 409, 503),
)
def retry_job(request: Request, job_id: str) -> dict[str, Any]:
    ctx = _ctx(request)
    require_creation(ctx.settings, server=True)
    ctx.jobs.retry(job_id)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return job_detail(ctx, job_id)


@router.get("/health/live", summary="The process answers")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="Ready to serve: recovery done, registry valid, storage writable, disk, worker",
    responses={
        200: {"description": "Ready: every check passed.", "content": JSON_OBJECT},
        503: {"description": "Not ready: the checks say which failed.", "content": JSON_OBJECT},
    },
)
def ready(request: Request) -> JSONResponse:
    worker = getattr(request.app.state, "worker", None)
    report = readiness(
        _ctx(request).settings,
        recovered=bool(request.app.state.ready),
        worker_alive=bool(worker is not None and worker.alive),
    )
    return JSONResponse(report, status_code=200 if report["ready"] else 503)

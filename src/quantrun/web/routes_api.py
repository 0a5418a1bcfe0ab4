"""REST API, ``/api/v1``. Every handler validates its input, calls the core or a view model,
and returns JSON; failures are ``application/problem+json`` with the stable code."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from quantrun.api import export_runs_csv, inspect_file, list_strategies, open_run, refused_report
from quantrun.data.dialect import Format
from quantrun.errors import ErrorCode, QuantrunError, error, for_web
from quantrun.runs.artifacts import ARTIFACTS
from quantrun.runs.health import readiness
from quantrun.runs.jobs import SUCCEEDED, copy_limited, submit_upload
from quantrun.runs.killswitch import KillSwitch
from quantrun.runs.registry import Registry
from quantrun.runs.request import RunCreateRequest
from quantrun.web.problems import problem_responses
from quantrun.web.queries import context, runs_listing
from quantrun.web.views import decisions_page, job_detail

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
        "manifest": view.manifest,
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
    media = {a["name"]: a.get("media_type") for a in view.manifest["artifacts"]}
    return Response(
        content=path.read_bytes(),
        media_type=media.get(name) or "application/json",
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


@router.get("/strategies", summary="Registered strategies with their parameters")
def get_strategies() -> dict[str, Any]:
    return {"strategies": list_strategies()}


def _params(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        raise error(ErrorCode.STRATEGY_PARAMS_INVALID, "params is not a JSON object") from None
    if not isinstance(value, dict):
        raise error(ErrorCode.STRATEGY_PARAMS_INVALID, "params is not a JSON object")
    return value


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
def post_run(
    request: Request,
    file: Annotated[UploadFile, File(description="The CSV of OHLCV bars.")],
    symbol: Annotated[str, Form()],
    strategy: Annotated[str, Form()],
    timeframe: Annotated[str, Form()] = "15m",
    params: Annotated[str, Form(description="Strategy parameters as a JSON object.")] = "{}",
    risk: Annotated[str, Form()] = "moderate",
    commission_bps: Annotated[float | None, Form()] = None,
    slippage_bps: Annotated[float | None, Form()] = None,
    cash: Annotated[float | None, Form()] = None,
    start: Annotated[str | None, Form()] = None,
    end: Annotated[str | None, Form()] = None,
    base_timeframe: Annotated[str, Form()] = "1m",
    format: Annotated[str, Form()] = "auto",
    timezone: Annotated[str | None, Form()] = None,
    sort: Annotated[bool, Form()] = False,
    drop_exact_duplicates: Annotated[bool, Form()] = False,
) -> JSONResponse:
    ctx = _ctx(request)
    settings = ctx.settings
    if not settings.enable_run_creation:
        raise error(ErrorCode.RUN_CREATION_DISABLED, "this server does not accept new runs")
    KillSwitch(settings.runs_root).check()
    if not file.filename and file.size in (None, 0):
        raise error(ErrorCode.UPLOAD_MISSING, "no file in the request")
    try:
        fmt = Format(format)
    except ValueError:
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"unknown format {format!r}") from None
    run_request = RunCreateRequest(
        paths=["upload.csv"],  # replaced by the stored upload once the request is valid
        symbol=symbol.strip(),
        timeframe=timeframe,
        strategy=strategy,
        params=_params(params),
        risk=risk or "moderate",
        commission_bps=commission_bps,
        slippage_bps=slippage_bps,
        cash=cash,
        start=start or None,
        end=end or None,
        base_timeframe=base_timeframe,
        format=fmt,
        timezone=timezone or None,
        sort=sort,
        drop_exact_duplicates=drop_exact_duplicates,
    )
    # A bad strategy, parameter or risk level fails now, before the upload is stored or queued.
    run_request.resolve()
    job, _new = submit_upload(ctx.jobs, run_request, file.file, file.filename or "upload.csv")
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    summary = job_detail(ctx, job["job_id"])
    if job["state"] == SUCCEEDED and job.get("run_id"):
        registry = Registry(settings.runs_root, settings.artifacts_root)
        if (registry.runs_dir / job["run_id"] / "manifest.json").is_file():
            return JSONResponse({"job": summary, "run_id": job["run_id"], "created": False}, 200)
    return JSONResponse({"job": summary, "run_id": None}, 202)


@router.post(
    "/inspect",
    summary="Validate a CSV and preview its quality report; writes nothing",
    responses=problem_responses(*POST_PROBLEMS, 503),
)
def post_inspect(
    request: Request,
    file: Annotated[UploadFile, File()],
    timeframe: Annotated[str, Form()] = "1m",
    format: Annotated[str, Form()] = "auto",
    timezone: Annotated[str | None, Form()] = None,
    sort: Annotated[bool, Form()] = False,
    drop_exact_duplicates: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    ctx = _ctx(request)
    settings = ctx.settings
    name = Path(file.filename or "upload.csv").name or "upload.csv"
    with ctx.preview_slot(), tempfile.TemporaryDirectory(prefix="quantrun-preview-") as tmp:
        path = Path(tmp) / name
        with path.open("wb") as out:
            copy_limited(file.file, out, settings.max_input_bytes)
        try:
            report = inspect_file(
                settings,
                [str(path)],
                format=format,
                timeframe=timeframe,
                timezone=timezone or None,
                sort=sort,
                drop_exact_duplicates=drop_exact_duplicates,
            ).to_dict()
        except QuantrunError as exc:
            report = refused_report(exc)
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
    if not ctx.settings.enable_run_creation:
        raise error(ErrorCode.RUN_CREATION_DISABLED, "this server does not accept new runs")
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

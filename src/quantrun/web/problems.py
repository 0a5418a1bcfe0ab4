"""One error shape for the web: ``application/problem+json`` with the stable code.

:class:`Problem` is that shape as a model; the OpenAPI schema documents every error answer of
``/api/v1`` with it. Routes declare the statuses they can fail with through
:func:`problem_responses`, and :func:`install_openapi` makes ``app.openapi()`` tell the truth
about request validation: a malformed parameter or field is answered ``400`` with code
``USAGE_INVALID_OPTION``, never FastAPI's ``422`` ``HTTPValidationError``::

    router = APIRouter(prefix="/api/v1", responses=problem_responses(400, 413, 500))
    install_openapi(app)
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from quantrun.errors import ErrorCode, QuantrunError
from quantrun.web.hints import for_web

PROBLEM_MEDIA_TYPE = "application/problem+json"
COMPONENTS = "#/components/schemas/"

#: What each error status means for a client of the API (the codes are in docs/errors.md).
STATUS_MEANINGS: dict[int, str] = {
    400: "The request is invalid: a missing or malformed parameter or form field (code "
    "USAGE_INVALID_OPTION, also for request validation), an unknown choice such as a "
    "strategy, timeframe or risk level, a Host the service does not answer to, or a comparison "
    "of fewer than two runs, of one run twice or of more than QUANTRUN_MAX_COMPARE_RUNS.",
    403: "Refused: run creation is switched off on this server (RUN_CREATION_DISABLED), or a "
    "cross-site browser request (CSRF_REJECTED).",
    404: "The run, artifact or job does not exist (RUN_NOT_FOUND, JOB_NOT_FOUND).",
    409: "The request conflicts with the resource's state (JOB_NOT_RETRYABLE, RUN_VERIFY_FAILED).",
    413: "The request body is larger than QUANTRUN_MAX_INPUT_BYTES (LIMIT_INPUT_SIZE).",
    422: "The uploaded data was rejected (an INPUT_* or CSV_* code).",
    429: "Too many POST requests from this client (LIMIT_RATE); wait Retry-After seconds.",
    500: "An unexpected error inside quantrun (INTERNAL, STORAGE_FAILED): a bug to report.",
    503: "The service cannot take new work now: the job queue is full (LIMIT_QUEUE_FULL), "
    "every preview slot stayed busy (LIMIT_CONCURRENT_BUILDS) or the kill switch is engaged "
    "(KILL_SWITCH_ENGAGED).",
    507: "RUNS_ROOT's disk has less free space than QUANTRUN_MIN_FREE_DISK_BYTES "
    "(LIMIT_DISK_FULL).",
}


class Problem(BaseModel):
    """The body of every error answer under ``/api/``: ``application/problem+json``."""

    model_config = ConfigDict(extra="forbid", title="Problem")

    code: ErrorCode = Field(description="Stable error code; renaming one is a breaking change.")
    title: str = Field(description="Short summary of the code, the same for every occurrence.")
    detail: str = Field(description="What went wrong in this request.")
    hint: str = Field(description="How to fix it.")
    status: int = Field(ge=400, le=599, description="The HTTP status, repeated.")
    type: str = Field(description="Where the code is documented: /docs/errors#<code>.")
    request_id: str = Field(description="Equals the X-Request-ID response header.")
    lines: list[int] = Field(
        default_factory=list,
        description="Offending input lines (at most 10); absent when none apply.",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Code-specific details (e.g. limit, retry_after); absent when empty.",
    )


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if not isinstance(rid, str):
        rid = uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def problem_body(exc: QuantrunError, request: Request) -> dict[str, Any]:
    body = for_web(exc.to_dict())
    body["status"] = exc.http_status
    body["type"] = f"/docs/errors#{str(exc.code).lower()}"
    body["request_id"] = request_id(request)
    return body


def problem_response(exc: QuantrunError, request: Request) -> JSONResponse:
    headers = {"X-Request-ID": request_id(request)}
    headers.update({k: str(v) for k, v in exc.extra.get("headers", {}).items()})
    body = problem_body(exc, request)
    # A copy: the exception's own ``extra`` keeps its headers should it be answered again.
    extra = {k: v for k, v in body.pop("extra", {}).items() if k != "headers"}
    if extra:
        body["extra"] = extra
    return JSONResponse(
        body, status_code=exc.http_status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


# --- the OpenAPI side -------------------------------------------------------------------------


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: these statuses answer with a :class:`Problem`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        headers: dict[str, Any] = {
            "X-Request-ID": {
                "description": "This request's id; the body's request_id.",
                "required": True,
                "schema": {"type": "string"},
            }
        }
        if status == 429:
            headers["Retry-After"] = {
                "description": "Seconds to wait before the next run request.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        out[status] = {
            "description": STATUS_MEANINGS[status],
            "headers": headers,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": COMPONENTS + "Problem"}}},
        }
    return out


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    content = response.get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return list(content) == ["application/json"] and ref == COMPONENTS + "HTTPValidationError"


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite FastAPI's generated ``schema`` in place so that it documents errors as served.

    FastAPI declares ``422 HTTPValidationError`` on every operation with parameters; the app
    answers those failures ``400`` problem+json instead (see ``on_validation_error``), so that
    declaration is replaced by the ``400`` :class:`Problem` response. The :class:`Problem`
    schema (and the ``ErrorCode`` enum it uses) joins the components.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=COMPONENTS + "{model}", mode="serialization")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if _is_fastapi_validation_error(responses.get("422", {})):
                del responses["422"]
                responses.setdefault("400", problem_responses(400)[400])
    if COMPONENTS + "HTTPValidationError" not in str(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)  # FastAPI's, used by HTTPValidationError only
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (``/openapi.json``, the docs page) apply :func:`document_problems`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override hook

"""One error shape for the web: ``application/problem+json`` with the stable code."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from quantrun.errors import QuantrunError

PROBLEM_MEDIA_TYPE = "application/problem+json"


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if not isinstance(rid, str):
        rid = uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def problem_body(exc: QuantrunError, request: Request) -> dict[str, Any]:
    body = exc.to_dict()
    body["status"] = exc.http_status
    body["type"] = f"/docs/errors#{str(exc.code).lower()}"
    body["request_id"] = request_id(request)
    return body


def problem_response(exc: QuantrunError, request: Request) -> JSONResponse:
    headers = {"X-Request-ID": request_id(request)}
    headers.update({k: str(v) for k, v in exc.extra.get("headers", {}).items()})
    body = problem_body(exc, request)
    body.get("extra", {}).pop("headers", None)
    if body.get("extra") == {}:
        body.pop("extra")
    return JSONResponse(
        body, status_code=exc.http_status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )

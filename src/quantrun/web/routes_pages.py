"""Server-rendered pages. Each page calls one view-model function (quantrun.web.views) and the
same data is its JSON twin at the same URL with ``?format=json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from quantrun.errors import QuantrunError
from quantrun.web.problems import problem_body

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def render(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
    """The page, or its JSON twin when ``?format=json`` is asked for."""
    if request.query_params.get("format") == "json":
        return JSONResponse(data, status_code=status)
    return templates.TemplateResponse(request, template, {"data": data}, status_code=status)


def error_page(request: Request, exc: QuantrunError) -> Response:
    body = problem_body(exc, request)
    if request.query_params.get("format") == "json":
        return JSONResponse(
            body, status_code=exc.http_status, media_type="application/problem+json"
        )
    return templates.TemplateResponse(
        request, "error.html", {"data": {"error": body}}, status_code=exc.http_status
    )

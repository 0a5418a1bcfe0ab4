"""How the web edge answers a failure, and the Jinja templates every HTML answer renders with.

:func:`error_response` is the one way a failure is answered, whoever meets it (the app's
exception handlers, the :mod:`~quantrun.web.guard` middleware): problem+json under ``/api/``,
the error page (or its JSON twin with ``?format=json``) elsewhere. It lives apart from the
page routes so the middleware and the app do not import the pages to answer an error.

``templates`` is the one Jinja environment; the page routes add their display filters to it
(:mod:`quantrun.web.routes_pages`). The error page uses none of them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from quantrun.errors import QuantrunError
from quantrun.web.problems import PROBLEM_MEDIA_TYPE, problem_body, problem_response

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def error_page(request: Request, exc: QuantrunError) -> Response:
    body = problem_body(exc, request)
    if request.query_params.get("format") == "json":
        return JSONResponse(body, status_code=exc.http_status, media_type=PROBLEM_MEDIA_TYPE)
    return templates.TemplateResponse(
        request, "error.html", {"data": {"error": body}}, status_code=exc.http_status
    )


def error_response(request: Request, exc: QuantrunError) -> Response:
    """The one way a failure is answered: problem+json under ``/api/``, the error page (or its
    JSON twin) elsewhere; headers the error asks for (Retry-After, Connection) on both."""
    if request.url.path.startswith("/api/"):
        return problem_response(exc, request)
    response = error_page(request, exc)
    for key, value in exc.extra.get("headers", {}).items():
        response.headers[key] = str(value)
    return response

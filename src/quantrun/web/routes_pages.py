"""Server-rendered pages. Each page calls one view-model function (quantrun.web.views) and the
same data is its JSON twin at the same URL with ``?format=json``.

The Jinja filters below only format values for display (numbers, units, timestamps); they never
compute anything a run depends on.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from quantrun.runs.builder import BUILD_STAGES
from quantrun.web.queries import comparison, context, runs_listing
from quantrun.web.responses import templates
from quantrun.web.views import (
    error_catalogue,
    job_detail,
    new_run_form,
    run_detail,
    strategies_page,
)

router = APIRouter(include_in_schema=False)

DASH = "—"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def fmt_number(value: Any, digits: int = 2) -> str:
    """``1234.5`` → ``1,234.50``; missing or non-numeric → an em dash."""
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    number = _finite(value)
    if number is None:
        return DASH
    return f"{number:,.{digits}f}"


def fmt_percent(value: Any, digits: int = 2) -> str:
    """A fraction as a percentage: ``-0.0188`` → ``-1.88%``."""
    number = _finite(value)
    if number is None:
        return DASH
    return f"{number * 100:,.{digits}f}%"


def fmt_ratio(value: Any) -> str:
    """Two to four decimals, fewer as the magnitude grows."""
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    number = _finite(value)
    if number is None:
        return DASH
    size = abs(number)
    digits = 2 if size >= 100 else 3 if size >= 1 else 4
    return f"{number:,.{digits}f}"


def fmt_count(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return DASH
    return f"{round(number):,d}"


def fmt_metric(value: Any, unit: str | None) -> str:
    """A metric value by its unit: fraction → %, ratio, currency, days, count."""
    if unit == "fraction":
        return fmt_percent(value)
    if unit == "ratio":
        return fmt_ratio(value)
    if unit == "currency":
        return fmt_number(value, 2)
    if unit == "days":
        return fmt_number(value, 2)
    if unit == "count":
        return fmt_count(value)
    return fmt_ratio(value)


def fmt_ts(value: Any) -> str:
    """``2024-01-01T00:00:00Z`` → ``2024-01-01 00:00:00 UTC``."""
    if not isinstance(value, str) or not value:
        return DASH
    if value.endswith("Z") and "T" in value:
        return value[:-1].replace("T", " ") + " UTC"
    return value


def fmt_bytes(value: Any) -> str:
    number = _finite(value)
    if number is None:
        return DASH
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(number) < 1024 or unit == "GiB":
            return f"{number:,.0f} {unit}" if unit == "B" else f"{number:,.1f} {unit}"
        number /= 1024
    return DASH  # pragma: no cover - the loop always returns


def fmt_params(params: Any) -> str:
    """``{"fast": 10, "slow": 30}`` → ``fast=10, slow=30``."""
    if not isinstance(params, dict) or not params:
        return ""
    return ", ".join(f"{k}={v}" for k, v in params.items())


def basename(value: Any) -> str:
    """The last part of a recorded source path (either separator), for display."""
    text = str(value or "")
    return text.replace("\\", "/").rsplit("/", 1)[-1] or text


def pretty_json(value: Any) -> str:
    """Indented JSON as plain text (autoescaped by the template like any other string)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one); the JSON
    switch and one-off flash messages are never carried along."""
    transient = {"format", "flash", "run"}
    params = {k: v for k, v in request.query_params.items() if k not in transient}
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


templates.env.filters.update(
    number=fmt_number,
    percent=fmt_percent,
    ratio=fmt_ratio,
    count=fmt_count,
    metric=fmt_metric,
    ts=fmt_ts,
    filesize=fmt_bytes,
    params=fmt_params,
    pretty_json=pretty_json,
    basename=basename,
)
templates.env.globals["query_with"] = query_with
templates.env.globals["build_stages"] = BUILD_STAGES


_ctx = context


def render(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
    """The page, or its JSON twin when ``?format=json`` is asked for."""
    if request.query_params.get("format") == "json":
        return JSONResponse(data, status_code=status)
    return templates.TemplateResponse(request, template, {"data": data}, status_code=status)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
def runs_page(
    request: Request, listing: Annotated[dict[str, Any], Depends(runs_listing)]
) -> Response:
    return render(request, "runs.html", listing)


@router.get("/compare")
def compare_page(
    request: Request, view: Annotated[dict[str, Any], Depends(comparison)]
) -> Response:
    return render(request, "compare.html", view)


@router.get("/runs/new")
def new_run_page(request: Request) -> Response:
    return render(request, "new_run.html", new_run_form(_ctx(request)))


@router.get("/strategies")
def strategies_list_page(request: Request) -> Response:
    return render(request, "strategies.html", strategies_page(_ctx(request)))


@router.get("/docs/errors")
def errors_page(request: Request) -> Response:
    return render(request, "errors.html", error_catalogue())


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> Response:
    return render(request, "run.html", run_detail(_ctx(request), run_id))


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> Response:
    return render(request, "job.html", job_detail(_ctx(request), job_id))

"""Request parsing shared by a page and its API twin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from quantrun.web.views import Context, runs_index
from quantrun.web.views_compare import compare_view


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def runs_listing(
    request: Request,
    symbol: str | None = None,
    strategy: str | None = None,
    status: str | None = None,
    sort: str = "created",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The run list view model for the query parameters of /runs and /api/v1/runs."""
    return runs_index(
        context(request),
        symbol=symbol,
        strategy=strategy,
        status=status,
        sort=sort,
        descending=order == "desc",
        page=page,
        size=size,
    )


def comparison(
    request: Request,
    runs: Annotated[
        list[str] | None,
        Query(
            description="The runs to compare: run ids or unique prefixes of 8+ hex characters, "
            "comma-separated (or the parameter repeated); the first is the reference."
        ),
    ] = None,
    fields: Annotated[
        str,
        Query(
            pattern="^(differing|all)$",
            description="Which input fields to list: those that differ, or all.",
        ),
    ] = "differing",
) -> dict[str, Any]:
    """The comparison view model for the query parameters of /compare and /api/v1/compare."""
    return compare_view(context(request), runs, fields)

"""``create_app(settings)``: the FastAPI service (REST API, pages, the job worker).

    app = create_app(Settings(runs_root="runs", enable_run_creation=True))

On start-up the registry is recovered and interrupted jobs are marked failed before the worker
starts; ``app.state.ready`` turns true only after that.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]  # ships no type information
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import get_logger
from quantrun.runs.jobs import sweep_partial_uploads
from quantrun.runs.registry import Registry
from quantrun.runs.worker import Worker
from quantrun.settings import Settings
from quantrun.version import __version__
from quantrun.web import routes_api, routes_pages, routes_sweeps
from quantrun.web.guard import Guard
from quantrun.web.problems import install_openapi, request_id
from quantrun.web.ratelimit import RateLimiter
from quantrun.web.requestlog import RequestLog
from quantrun.web.responses import error_response
from quantrun.web.views import Context

log = get_logger(__name__)

STATIC_DIR = Path(__file__).with_name("static")


def chart_library_path() -> Path:
    """plotly.js as shipped inside the plotly Python package (no CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def create_app(settings: Settings, *, start_worker: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        Registry(settings.runs_root, settings.artifacts_root).recover()
        sweep_partial_uploads(settings)
        worker = Worker(settings)
        app.state.worker = worker
        # Without run creation there is nothing to work on: a read-only server never executes
        # jobs that another server queued in the same RUNS_ROOT.
        start_worker_here = start_worker and settings.enable_run_creation
        if start_worker_here:
            worker.start()
        else:
            worker.store.recover()
        app.state.ready = True
        log.info("service.started", creation=settings.enable_run_creation)
        try:
            yield
        finally:
            app.state.ready = False
            if start_worker_here:
                worker.stop()
            log.info("service.stopped")

    app = FastAPI(
        title="quantrun",
        version=__version__,
        description="Local, deterministic backtesting workbench: runs, jobs and artifacts.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default loads a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = Context(settings)
    app.state.ready = False
    install_openapi(app)  # errors documented as served: 400 problem+json, not 422

    # Outermost last: RequestLog (id + log line) wraps Guard (host, CSRF, rate, body size).
    app.add_middleware(
        Guard, settings=settings, limiter=RateLimiter(settings.rate_limit_per_minute)
    )
    app.add_middleware(RequestLog)

    @app.exception_handler(QuantrunError)
    async def on_quantrun_error(request: Request, exc: QuantrunError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        failure = error(ErrorCode.USAGE_INVALID_OPTION, f"{where or 'request'}: {first['msg']}")
        return error_response(request, failure)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            failure = error(
                ErrorCode.ROUTE_NOT_FOUND, f"no page or endpoint at {request.url.path[:200]}"
            )
        elif exc.status_code == 405:
            failure = error(
                ErrorCode.USAGE_INVALID_OPTION, f"method {request.method} not allowed here"
            )
        else:
            failure = error(ErrorCode.USAGE_INVALID_OPTION, str(exc.detail)[:200])
        return error_response(request, failure)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("request.crashed", request_id=request_id(request), error=type(exc).__name__)
        return error_response(
            request, error(ErrorCode.INTERNAL, "unexpected error inside quantrun")
        )

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def chart_library() -> FileResponse:
        return FileResponse(
            chart_library_path(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/docs/openapi-swagger.json", include_in_schema=False)
    def swagger_schema() -> dict[str, Any]:
        # The bundled Swagger UI (4.x) reads OpenAPI 3.0 labels only; the schema itself is
        # unchanged. /openapi.json stays the authoritative 3.1 document.
        return app.openapi() | {"openapi": "3.0.3"}

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/docs/openapi-swagger.json",
            title="quantrun API",
            swagger_js_url="/static/vendor/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger/favicon-32x32.png",
        )

    app.mount(
        "/static/vendor/swagger",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger",
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes_api.router)
    app.include_router(routes_sweeps.api)
    app.include_router(routes_pages.router)
    app.include_router(routes_sweeps.pages)
    return app

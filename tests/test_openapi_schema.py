"""Schemathesis against the service's own OpenAPI schema: no 5xx, no response outside it.

The schema is loaded from the in-process ASGI app (``/openapi.json``, schemathesis runs the app's
lifespan) over a RUNS_ROOT seeded with one real run and one failed job. Every operation, GET and
POST (the multipart uploads too), is called with generated requests: positive ones (valid by
the schema) for all, negative ones where there is something to break (a query parameter or a
body). Each response must pass schemathesis's checks: no server error; a documented status
code; a documented content type; a body valid against the documented schema; the documented
headers. Hooks now and then swap in the seeded ids and a valid upload, so that the "found" and
"queued" branches are reached and not only the refusals.

The budget is fixed and deterministic: ``MAX_EXAMPLES`` per operation and mode, derandomised,
no example database (nothing is written into the repository), no deadline.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from conftest import HEADER, minute_rows
from quantrun.api import create_run, create_sweep
from quantrun.data.demo import write_demo_csv
from quantrun.runs.jobs import FAILED, JobStore, execute_job, store_upload
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings
from quantrun.web import create_app, routes_api, routes_sweeps
from quantrun.web.problems import PROBLEM_MEDIA_TYPE, Problem

MAX_EXAMPLES = 30
READY = "/api/v1/health/ready"
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # Generated requests are slow-ish and often filtered (multipart, path segments); the budget
    # above is the bound that matters here.
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


# --- the operations ---------------------------------------------------------------------------


def _routes() -> dict[tuple[str, str], APIRoute]:
    """Every (METHOD, path) the API router publishes; the served schema must list the same."""
    return {
        (method, route.path_format): route
        for route in [*routes_api.router.routes, *routes_sweeps.api.routes]
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }


def _has_query(dependant: Dependant) -> bool:
    return bool(dependant.query_params) or any(_has_query(d) for d in dependant.dependencies)


ROUTES = _routes()
OPERATIONS = sorted(ROUTES)


def _cases() -> list[Any]:
    """(method, path, mode) for every operation: positive requests for each; negative ones
    where there is something to break (a query parameter or a body: any string is a valid
    path segment, so path-only operations have no negative requests)."""
    cases = []
    for method, path in OPERATIONS:
        route = ROUTES[method, path]
        breakable = _has_query(route.dependant) or route.body_field is not None
        for mode in list(GenerationMode) if breakable else [GenerationMode.POSITIVE]:
            cases.append(pytest.param(method, path, mode, id=f"{method} {path} {mode}"))
    return cases


# --- the service ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """What a generated request may borrow so that it finds something or is accepted."""

    run_id: str
    artifacts: list[str]
    job_id: str
    csv: bytes
    sweep_id: str


def _seed(settings: Settings, workdir: Path) -> Seeded:
    csv = write_demo_csv(workdir / "demo.csv", days=2)
    run = create_run(
        str(csv),
        symbol="DEMOUSD",
        strategy="sma_crossover",
        params={"fast": 5, "slow": 20},
        settings=settings,
    )
    # A job that failed (its CSV lacks the volume column), so that retry can queue it again.
    bad = "\n".join([HEADER.replace(",volume", ""), *(r.rsplit(",", 1)[0] for r in minute_rows(3))])
    upload = store_upload(settings, io.BytesIO(bad.encode()), "bad.csv")
    request = RunCreateRequest(
        paths=[str(upload.path)],
        labels=[upload.filename],
        symbol="DEMOUSD",
        timeframe="15m",
        strategy="buy_and_hold",
    )
    job, _ = JobStore(settings).submit(request, upload.sha256)
    assert execute_job(settings, job["job_id"])["state"] == FAILED
    good = "\n".join([HEADER, *minute_rows(120)]) + "\n"
    sweep = create_sweep(
        str(csv),
        settings,
        grid=["fast=5,10", "slow=20"],
        symbol="DEMOUSD",
        strategy="sma_crossover",
    )
    return Seeded(
        run_id=run.run_id,
        artifacts=run.manifest.artifact_names,
        job_id=job["job_id"],
        csv=good.encode(),
        sweep_id=sweep.sweep_id,
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, Seeded]:
    workdir = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        runs_root=workdir / "runs-root",
        enable_run_creation=True,
        rate_limit_per_minute=0,
        allowed_hosts="*",  # schemathesis's ASGI client says Host: testserver
    )
    seeded = _seed(settings, workdir)
    return create_app(settings, start_worker=False), seeded


@pytest.fixture(scope="module")
def api_schema(service: tuple[FastAPI, Seeded]) -> Iterator[Any]:
    app, seeded = service
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    valid_forms = {
        "/api/v1/runs": {
            "file": seeded.csv,
            "symbol": "DEMOUSD",
            "strategy": "buy_and_hold",
            "timeframe": "15m",
            "params": "{}",
            "risk": "moderate",
        },
        "/api/v1/inspect": {"file": seeded.csv, "timeframe": "1m", "format": "auto"},
    }

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not path_parameters:
            return st.just(path_parameters)
        found = dict(path_parameters)
        if "run_id" in found:
            found["run_id"] = seeded.run_id
        if "job_id" in found:
            found["job_id"] = seeded.job_id
        if "sweep_id" in found:
            found["sweep_id"] = seeded.sweep_id
        choices = [path_parameters, found]
        if "name" in found:
            choices += [found | {"name": name} for name in seeded.artifacts]
        return st.sampled_from(choices)

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        operation = context.operation
        valid = valid_forms.get(operation.path) if operation is not None else None
        if valid is None or not isinstance(body, dict):
            return st.just(body)
        # The generated fields with a valid core, or the valid request alone.
        return st.sampled_from([body, body | valid, valid])

    yield schema


# --- the tests --------------------------------------------------------------------------------


def test_the_served_schema_lists_every_api_operation(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert sorted((op.method.upper(), op.path) for op in operations) == OPERATIONS


def test_errors_are_documented_as_served(service: tuple[FastAPI, Seeded]) -> None:
    """400 problem+json for request validation, never FastAPI's 422 HTTPValidationError."""
    app, _ = service
    document = app.openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Problem"]["additionalProperties"] is False
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert "422" not in responses, where
            if operation.get("parameters") or operation.get("requestBody"):
                problem = responses["400"]["content"][PROBLEM_MEDIA_TYPE]["schema"]
                assert problem == {"$ref": "#/components/schemas/Problem"}, where


@pytest.mark.parametrize(("method", "path", "mode"), _cases())
def test_operation_conforms_to_the_schema(
    api_schema: Any,
    service: tuple[FastAPI, Seeded],
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    app, _ = service
    operation = api_schema[path][method]

    @SETTINGS
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case[Any]) -> None:
        if path != READY:
            response = case.call_and_validate(checks=CHECKS)
        else:
            # Without a worker the service is rightly not ready: that documented 503, whose
            # body says why, is this endpoint's answer and no server error. All else is checked.
            response = case.call_and_validate(checks=CHECKS[1:])
            if response.status_code != 200:
                assert response.status_code == 503, response.text
                report = response.json()["checks"]
                assert report["recovery"]["ok"] and not report["worker"]["ok"], response.text
        if response.headers.get("content-type", [""])[0] == PROBLEM_MEDIA_TYPE:
            # The model is the schema's source; validating with it too keeps them one.
            problem = Problem.model_validate(response.json())
            assert problem.status == response.status_code
            assert problem.request_id == response.headers["x-request-id"][0]

    check()
    assert app.state.ready, "the app's lifespan did not run"

"""View models: one function per page, shared by the HTML page and its JSON twin.

Each function takes the :class:`Context` and plain arguments and returns JSON-ready data built
from the core API; templates only format what these return.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from quantrun.api import list_datasets, list_runs, list_strategies, open_run
from quantrun.data.dialect import Format
from quantrun.data.timeframe import TIMEFRAMES
from quantrun.engine.risk import RISK_LEVELS, costs_from
from quantrun.errors import CATALOGUE, ErrorCode, error
from quantrun.metrics import METRICS
from quantrun.runs.artifacts import candles, decimate
from quantrun.runs.jobs import JobStore
from quantrun.runs.killswitch import KillSwitch
from quantrun.runs.policy import creation_blocker
from quantrun.runs.reader import RunView
from quantrun.runs.request import DEFAULT_RISK_LEVEL, DEFAULT_TIMEFRAME, RunCreateRequest
from quantrun.settings import Settings
from quantrun.strategies.info import strategy_details
from quantrun.sweeps.cell_job import KIND as CELL_JOB_KIND
from quantrun.sweeps.cell_job import compare_url
from quantrun.web.forms import web_fields
from quantrun.web.hints import for_web

CHART_MAX_BARS = 5000
#: The run page lists at most this many timeline events, the first ones; the rest are paged in
#: its decision records (filtered by action) and are all in ``timeline.json`` (its version 1)
#: or the decision records file (version 2). A 1M-bar 1m run has tens of thousands of events:
#: listing them all made a 10 MB page.
TIMELINE_SHOWN = 500
SORTS = {
    "created": "created_at",
    "symbol": "symbol",
    "strategy": "strategy",
    "return": "total_return",
    "sharpe": "sharpe",
    "drawdown": "max_drawdown",
    "trades": "trades",
}
RUN_STATUSES = ("succeeded", "queued", "running", "failed")


#: How long a preview waits for a free preview slot before it is refused.
PREVIEW_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Context:
    settings: Settings
    #: Previews (POST /api/v1/inspect) read a whole upload into memory, like a build's ingest;
    #: at most ``max_concurrent_jobs`` run at once in this process (builds have their slots).
    previews: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        slots = threading.BoundedSemaphore(self.settings.max_concurrent_jobs)
        object.__setattr__(self, "previews", slots)

    @property
    def jobs(self) -> JobStore:
        return JobStore(self.settings)

    @contextlib.contextmanager
    def preview_slot(self) -> Iterator[None]:
        """Hold a preview slot, or LIMIT_CONCURRENT_BUILDS after PREVIEW_WAIT_SECONDS."""
        if not self.previews.acquire(timeout=PREVIEW_WAIT_SECONDS):
            raise error(
                ErrorCode.LIMIT_CONCURRENT_BUILDS,
                f"{self.settings.max_concurrent_jobs} file(s) are already being checked",
                extra={"limit": self.settings.max_concurrent_jobs},
            )
        try:
            yield
        finally:
            self.previews.release()


def creation_state(ctx: Context) -> dict[str, Any]:
    """Whether this server accepts new runs, and if not, why and how to change it: the
    creation policy's answer (kill switch, then the server's flag, then free disk) in words."""
    switch = KillSwitch(ctx.settings.runs_root).state()
    blocked = creation_blocker(ctx.settings, server=True)
    if blocked is None:
        reason = None
    elif blocked.code == ErrorCode.KILL_SWITCH_ENGAGED:
        # It stops every edge, the CLI included, whatever the flag says.
        reason = (
            f"Run creation is stopped by the kill switch: {switch.reason or 'no reason given'}"
            f" ({switch.actor or 'unknown'}, {switch.changed_at or 'time unknown'}). "
            "`quantrun killswitch off --reason TEXT` releases it."
        )
    elif blocked.code == ErrorCode.RUN_CREATION_DISABLED:
        reason = (
            "Run creation is switched off on this server. Start it with "
            "`quantrun serve --enable-run-creation` (or QUANTRUN_ENABLE_RUN_CREATION=1)."
        )
    else:
        reason = f"{blocked.detail}. {blocked.hint}"
    return {
        "enabled": reason is None,
        "reason": reason,
        "kill_switch": switch.to_dict(),
        # Only the per-server flag leaves the command line as a way to create runs.
        "cli_allowed": not switch.engaged,
    }


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    request = job.get("request", {})
    return {
        "job_id": job["job_id"],
        "state": job["state"],
        "stage": job.get("stage"),
        "created_at": job.get("created_at"),
        "updated_at": job.get("updated_at"),
        "started_at": job.get("started_at"),
        "finished_at": job.get("finished_at"),
        "attempts": job.get("attempts", 0),
        "run_id": job.get("run_id"),
        "created": job.get("created"),
        "error": for_web(job["error"]) if job.get("error") else None,
        "symbol": request.get("symbol"),
        "strategy": request.get("strategy"),
        "timeframe": request.get("timeframe"),
        "source_names": job.get("source_names") or [],
        "url": f"/jobs/{job['job_id']}",
        "run_url": f"/runs/{job['run_id']}" if job.get("run_id") else None,
    } | _sweep_fields(job)


def _sweep_fields(job: dict[str, Any]) -> dict[str, Any]:
    """A sweep job's own fields (its cells' progress, the sweep it made), a cell job's (the
    sweep, its cells, their runs, where to go when done); a run job has none."""
    if job.get("kind") == CELL_JOB_KIND:
        spec = job.get("spec") or {}
        origin, cells = str(spec.get("sweep_id")), list(spec.get("cells") or [])
        run_ids = job.get("run_ids")
        several = len(cells) > 1
        return {
            "kind": CELL_JOB_KIND,
            "sweep_id": origin,
            "cells": cells,
            "run_ids": run_ids,
            "from_sweep_url": f"/sweeps/{origin}",
            "compare_url": compare_url(origin, cells) if several and run_ids else None,
        }
    if job.get("kind") != "sweep":
        return {"kind": "run"}
    sweep_id = job.get("sweep_id")
    return {
        "kind": "sweep",
        "cells_done": job.get("cells_done"),
        "cells_total": job.get("cells_total"),
        "estimate": job.get("estimate"),
        "eta_seconds": job.get("eta_seconds"),
        "sweep_id": sweep_id,
        "sweep_url": f"/sweeps/{sweep_id}" if sweep_id else None,
    }


def runs_index(
    ctx: Context,
    *,
    symbol: str | None = None,
    strategy: str | None = None,
    status: str | None = None,
    sort: str = "created",
    descending: bool = True,
    page: int = 1,
    size: int = 50,
) -> dict[str, Any]:
    """Every run (and every job not yet succeeded) with filters, sorting and paging."""
    rows = [
        run.listing_row()
        for run in list_runs(
            ctx.settings, symbol=symbol or None, strategy=strategy or None, recover=False
        )
    ]
    if status and status != "succeeded":
        rows = []
    key = SORTS.get(sort, "created_at")
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: r["run_id"])
    present.sort(key=lambda r: r[key], reverse=descending)
    rows = present + missing
    total = len(rows)
    size = max(1, min(size, 500))
    pages = max(1, -(-total // size))
    page = max(1, min(page, pages))
    jobs = [
        job_summary(j)
        for j in ctx.jobs.all()
        if j["state"] != "succeeded"
        and (not status or j["state"] == status)
        and (not symbol or j["request"].get("symbol") == symbol)
        and (not strategy or j["request"].get("strategy") == strategy)
    ]
    return {
        "runs": rows[(page - 1) * size : page * size],
        "jobs": jobs,
        "total": total,
        "page": page,
        "pages": pages,
        "size": size,
        "filters": {"symbol": symbol, "strategy": strategy, "status": status},
        "sort": sort if sort in SORTS else "created",
        "descending": descending,
        "sorts": list(SORTS),
        "statuses": list(RUN_STATUSES),
        "strategies": [s.id for s in list_strategies(ctx.settings)],
        "creation": creation_state(ctx),
        "compare_limit": ctx.settings.max_compare_runs,
    }


#: Request fields the new-run page lays out itself (with their own labels and widgets); every
#: other web field of RunCreateRequest is rendered from its declaration under "Advanced".
PAGE_FIELDS = (
    "dataset",
    "symbol",
    "timeframe",
    "strategy",
    "params",
    "risk",
    "commission_bps",
    "slippage_bps",
    "cash",
    "start",
    "end",
    "base_timeframe",
    "format",
    "timezone",
    "sort",
    "drop_exact_duplicates",
)


def declared_fields(exclude: tuple[str, ...]) -> list[dict[str, Any]]:
    """The web fields of the run request not in ``exclude``, as the form renders them: name,
    label (the field's description), default, choices and input kind."""
    rows = []
    for declared in web_fields(RunCreateRequest, frozenset(exclude)):
        kind = "checkbox" if declared.info.annotation in (bool, "bool") else "text"
        rows.append(
            {
                "name": declared.name,
                "label": declared.description,
                "default": declared.default,
                "choices": list(declared.edge.choices()) if declared.edge.choices else None,
                "required": declared.required,
                "kind": kind,
            }
        )
    return rows


def new_run_form(ctx: Context) -> dict[str, Any]:
    """What the upload form offers: strategies with parameter models, risk levels, timeframes."""
    return {
        "strategies": [s.to_dict() for s in list_strategies(ctx.settings)],
        "risk_levels": {name: cfg.model_dump(mode="json") for name, cfg in RISK_LEVELS.items()},
        "timeframes": list(TIMEFRAMES),
        "default_timeframe": DEFAULT_TIMEFRAME,
        "formats": [f.value for f in Format],
        "default_risk_level": DEFAULT_RISK_LEVEL,
        "cost_defaults": costs_from().model_dump(mode="json"),
        "creation": creation_state(ctx),
        "max_input_bytes": ctx.settings.max_input_bytes,
        "declared_fields": declared_fields(PAGE_FIELDS),
        # Stored datasets (ingested or fetched) a run can use instead of an upload.
        "datasets": [d.to_dict() for d in list_datasets(ctx.settings)],
    }


def job_detail(ctx: Context, job_id: str) -> dict[str, Any]:
    return job_summary(ctx.jobs.get(job_id))


def _chart(view: RunView) -> dict[str, Any]:
    """Candles (downsampled on the server for display) plus entry/exit markers."""
    bars = candles(view.bars(), CHART_MAX_BARS)
    ts = bars.frame["ts"].cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    trades = view.trades()
    entries = trades.select("entry_ts", "entry_price", "direction")
    exits = trades.filter(pl.col("status") == "closed").select(
        "exit_ts", "exit_price", "exit_reason"
    )
    series = view.series()
    keep = decimate(series["equity"].to_numpy(), CHART_MAX_BARS)
    picked = series[keep]
    return {
        "bars": {
            "ts": ts.to_list(),
            "open": bars.frame["open"].to_list(),
            "high": bars.frame["high"].to_list(),
            "low": bars.frame["low"].to_list(),
            "close": bars.frame["close"].to_list(),
        },
        "downsampled": bars.downsampled,
        "bars_total": bars.total,
        "bars_shown": bars.frame.height,
        "entries": {
            "ts": entries["entry_ts"].to_list(),
            "price": entries["entry_price"].to_list(),
            "direction": entries["direction"].to_list(),
        },
        "exits": {
            "ts": exits["exit_ts"].to_list(),
            "price": exits["exit_price"].to_list(),
            "reason": exits["exit_reason"].to_list(),
        },
        "equity": {
            "ts": picked["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_list(),
            "equity": picked["equity"].to_list(),
            "drawdown": picked["drawdown"].to_list(),
        },
    }


def run_detail(ctx: Context, run_id: str) -> dict[str, Any]:
    """Everything the run workspace shows, read from the run's artifacts alone."""
    view = open_run(run_id, ctx.settings, recover=False)
    manifest = view.manifest
    specs = {m.id: m for m in METRICS}
    metrics = [
        {
            "id": metric_id,
            "label": metric["label"],
            "unit": metric["unit"],
            "value": metric["value"],
            "formula": specs[metric_id].formula if metric_id in specs else "",
            "convention": metric["convention"],
        }
        for metric_id, metric in view.metrics.items()
    ]
    actions = sorted(view.decisions_lazy().select("action").unique().collect()["action"].to_list())
    return {
        "run_id": view.run_id,
        "read_only": view.read_only,
        "identity": manifest.identity.model_dump(mode="json"),
        "summary": manifest.summary.model_dump(mode="json"),
        "risk": manifest.risk.model_dump(mode="json"),
        "costs": manifest.costs,
        "dataset": manifest.dataset.model_dump(mode="json"),
        "resampling": manifest.resampling.model_dump(mode="json"),
        "engine": manifest.engine.model_dump(mode="json"),
        "metrics": metrics,
        "quality": view.data_quality,
        **_timeline(view),
        "chart": _chart(view),
        "decision_actions": actions,
        "artifacts": [
            {**a, "url": f"/api/v1/runs/{view.run_id}/artifacts/{a['name']}"}
            for a in [
                *(artifact.model_dump(mode="json") for artifact in manifest.artifacts),
                {"name": "manifest.json", "media_type": "application/json"},
            ]
        ],
        "manifest": manifest.to_json(),
        # The code the run ran (runs made under identity schema 2 on keep it).
        "strategy_source": view.strategy_source(),
    }


def _timeline(view: RunView) -> dict[str, Any]:
    """The first :data:`TIMELINE_SHOWN` events, how many there are, and the file that holds
    all of them (``timeline.json`` under its version 1, the decision records from 2 on)."""
    events = view.timeline_events(TIMELINE_SHOWN)
    return {
        "timeline": events.frame.to_dicts(),
        "timeline_total": events.total,
        "timeline_file": events.artifact,
        "timeline_url": f"/api/v1/runs/{view.run_id}/artifacts/{events.artifact}",
    }


def decisions_page(
    ctx: Context, run_id: str, *, page: int = 1, size: int = 100, action: str | None = None
) -> dict[str, Any]:
    view = open_run(run_id, ctx.settings, recover=False)
    lazy = view.decisions_lazy()
    if action:
        lazy = lazy.filter(pl.col("action") == action)
    total = int(lazy.select(pl.len()).collect().item())
    size = max(1, min(size, 1000))
    pages = max(1, -(-total // size))
    page = max(1, min(page, pages))
    return {
        "run_id": view.run_id,
        "items": lazy.slice((page - 1) * size, size).collect().to_dicts(),
        "total": total,
        "page": page,
        "pages": pages,
        "size": size,
        "action": action,
    }


def error_catalogue() -> dict[str, Any]:
    """The error catalogue, for ``/docs/errors`` (the target of every problem's ``type``)."""
    return {
        "errors": [
            {
                "code": str(spec.code),
                "anchor": str(spec.code).lower(),
                "category": str(spec.category),
                "http_status": spec.http_status,
                "exit_code": spec.exit_code,
                "title": spec.title,
                "hint": spec.hint,
            }
            for spec in CATALOGUE.values()
        ]
    }


def strategies_page(ctx: Context) -> dict[str, Any]:
    """``/strategies`` and ``GET /api/v1/strategies``: every strategy a run can name (built-in
    and added) with its parameters, the sha256 of its code and the code itself. Strategies are
    added only with the CLI on this machine: the server never accepts code."""
    return {"strategies": [d.to_dict() for d in strategy_details(ctx.settings.layout)]}

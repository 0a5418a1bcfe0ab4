"""Settings: one frozen value built at the edge from the environment and flags.

The core never reads ``os.environ``; it receives a :class:`Settings`. ``SETTINGS_TABLE`` is the
declared table (name, environment variable, default, meaning) that the docs and tests read::

    settings = Settings.from_env(os.environ, runs_root="/tmp/qr")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout

ENV_PREFIX = "QUANTRUN_"


def default_runs_root() -> Path:
    """Where runs live unless told otherwise: ``~/.local/share/quantrun``."""
    return Path("~/.local/share/quantrun").expanduser()


class Settings(BaseModel):
    """Every tunable of quantrun. Immutable; pass it down, never reach for the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs_root: Path = Field(
        default_factory=default_runs_root,
        description="The single authoritative folder for datasets, runs and the registry.",
    )
    artifacts_root: Path | None = Field(
        default=None,
        description="Optional read-only folder of pre-built runs, listed beside RUNS_ROOT's.",
    )
    max_input_bytes: int = Field(
        default=1 << 30,
        gt=0,
        description="Largest input file accepted, in bytes (default 1 GiB).",
    )
    max_rows: int = Field(
        default=20_000_000,
        gt=0,
        description="Most data rows accepted in one ingest (default 20,000,000).",
    )
    max_line_bytes: int = Field(
        default=1 << 20,
        gt=0,
        description="Longest line accepted in an input file, in bytes (default 1 MiB).",
    )
    max_columns: int = Field(
        default=256,
        gt=0,
        description="Most columns accepted in an input file (default 256).",
    )
    enable_run_creation: bool = Field(
        default=False,
        description="Whether the web service accepts new runs (POST /api/v1/runs, /runs/new).",
    )
    max_concurrent_jobs: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Runs built at the same time in one RUNS_ROOT: CLI, API and web worker "
        "together (the web worker also starts at most this many jobs).",
    )
    max_queued_jobs: int = Field(
        default=100,
        ge=1,
        description="Jobs that may wait in the queue before new ones are refused.",
    )
    max_compare_runs: int = Field(
        default=20,
        ge=2,
        le=200,
        description="Most runs one comparison takes (`runs compare`, /compare, "
        "GET /api/v1/compare); more are refused with LIMIT_COMPARE_RUNS.",
    )
    max_sweep_cells: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="Most cells one sweep may have (`sweeps create`, POST /api/v1/sweeps); a "
        "bigger grid is refused with LIMIT_SWEEP_CELLS before any work.",
    )
    sweep_workers: int = Field(
        default=0,
        ge=0,
        le=512,
        description="Worker processes a local sweep uses when --workers is not given; 0 = the "
        "machine's cores.",
    )
    rate_limit_per_minute: int = Field(
        default=30,
        ge=0,
        description="Run-creation requests (POST) one client may make per minute; 0 = no limit.",
    )
    allowed_hosts: str = Field(
        default="127.0.0.1,localhost,[::1]",
        pattern=r"^[A-Za-z0-9.\-\[\]:*,]*$",
        description="Comma-separated Host names the web service answers to (DNS-rebinding "
        "defence); '*' allows any.",
    )
    min_free_disk_bytes: int = Field(
        default=256 << 20,
        ge=0,
        description="Below this much free space on RUNS_ROOT's disk, new runs and uploads are "
        "refused (LIMIT_DISK_FULL) and /health/ready answers 503 (default 256 MiB).",
    )
    binance_base_url: str = Field(
        default="https://data.binance.vision",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Base URL of Binance's public data archive, read by `quantrun data fetch "
        "binance` (a mirror, or a local server in tests).",
    )
    fetch_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds a fetch waits for an archive host to connect or to send more bytes "
        "before the attempt counts as failed.",
    )
    fetch_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Times a fetch retries a transient failure (timeout, refused or dropped "
        "connection, HTTP 5xx or 429) before giving up.",
    )
    fetch_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Wait before a fetch's first retry, doubled for each next one.",
    )
    strategy_check_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds the checks of a strategy's code (`strategies check`, `strategies "
        "add`) may take in their own process before it is stopped (STRATEGY_CHECK_TIMEOUT).",
    )
    strategy_time_limit_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86_400,
        description="Seconds a user's strategy may spend computing a run's signals before the "
        "run is stopped (STRATEGY_TIMEOUT); enforced where the build runs on a main thread (CLI, "
        "web jobs, sweep workers).",
    )
    log_level: str = Field(
        default="warning",
        pattern="^(debug|info|warning|error)$",
        description="Structured log level on stderr: debug, info, warning or error.",
    )

    @property
    def layout(self) -> Layout:
        """The folders and files under ``runs_root``."""
        return Layout(self.runs_root)

    @property
    def allowed_host_names(self) -> tuple[str, ...]:
        """``allowed_hosts`` as lower-case names without ports."""
        return tuple(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Build from ``QUANTRUN_*`` variables; explicit ``overrides`` (flags) win over them."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw not in (None, ""):
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            raise error(
                ErrorCode.SETTINGS_INVALID,
                f"setting {field} ({ENV_PREFIX}{field.upper()}): {first['msg']}",
            ) from None


@dataclass(frozen=True)
class SettingDoc:
    name: str
    env: str
    default: str
    description: str


def settings_table() -> list[SettingDoc]:
    """The declared settings table, for docs and `--help`."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = "~/.local/share/quantrun" if name == "runs_root" else str(field.default)
        rows.append(SettingDoc(name, ENV_PREFIX + name.upper(), default, field.description or ""))
    return rows

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
    enable_run_creation: bool = Field(
        default=False,
        description="Whether the web service accepts new runs (POST /api/v1/runs, /runs/new).",
    )
    max_concurrent_jobs: int = Field(
        default=1, ge=1, le=64, description="Jobs the web worker runs at the same time."
    )
    max_queued_jobs: int = Field(
        default=100,
        ge=1,
        description="Jobs that may wait in the queue before new ones are refused.",
    )
    log_level: str = Field(
        default="warning",
        pattern="^(debug|info|warning|error)$",
        description="Structured log level on stderr: debug, info, warning or error.",
    )

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

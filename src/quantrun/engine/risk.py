"""Risk levels and costs: named presets that expand to concrete numbers.

``RISK_LEVELS`` is the declared table; a custom risk file is a JSON object with the same
fields. The expanded :class:`RiskConfig` and :class:`Costs` go into every run's manifest::

    risk = risk_from_level("moderate")
    risk.position_fraction == 0.5
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quantrun.errors import ErrorCode, error


class RiskConfig(BaseModel):
    """Percentages are in percent (5.0 means 5 %); null switches a gate off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position_fraction: float = Field(
        gt=0, le=1, description="Share of equity committed on each entry (1 = all in)."
    )
    stop_loss_pct: float | None = Field(
        gt=0, lt=100, description="Exit when price moves this % against the entry fill."
    )
    take_profit_pct: float | None = Field(
        gt=0, le=10_000, description="Exit when price moves this % in favour of the entry fill."
    )
    max_drawdown_halt_pct: float | None = Field(
        gt=0,
        lt=100,
        description="Flatten and block new entries for the rest of the run once equity is this % "
        "below its peak.",
    )
    allow_short: bool = Field(description="Whether a strategy's short signals may be taken.")


#: The named presets. Documented in docs/risk.md; changing one changes run ids.
RISK_LEVELS: dict[str, RiskConfig] = {
    "conservative": RiskConfig(
        position_fraction=0.25,
        stop_loss_pct=2.0,
        take_profit_pct=4.0,
        max_drawdown_halt_pct=10.0,
        allow_short=False,
    ),
    "moderate": RiskConfig(
        position_fraction=0.5,
        stop_loss_pct=5.0,
        take_profit_pct=10.0,
        max_drawdown_halt_pct=20.0,
        allow_short=False,
    ),
    "aggressive": RiskConfig(
        position_fraction=1.0,
        stop_loss_pct=10.0,
        take_profit_pct=None,
        max_drawdown_halt_pct=35.0,
        allow_short=True,
    ),
}


def risk_from_level(name: str) -> RiskConfig:
    try:
        return RISK_LEVELS[name]
    except KeyError:
        raise error(
            ErrorCode.RISK_LEVEL_UNKNOWN,
            f"no risk level {name!r}; known: {', '.join(RISK_LEVELS)}",
        ) from None


def risk_from_mapping(raw: Any, source: str = "risk config") -> RiskConfig:
    try:
        return RiskConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(object)'}: {e['msg']}" for e in exc.errors()
        )
        raise error(ErrorCode.RISK_CONFIG_INVALID, f"{source}: {problems}") from None


def risk_from_file(path: Path) -> RiskConfig:
    """Read a custom risk config (JSON with the :class:`RiskConfig` fields)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(ErrorCode.INPUT_NOT_FOUND, f"risk file {path.name!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(
            ErrorCode.RISK_CONFIG_INVALID, f"risk file {path.name!r} is not JSON: {exc}"
        ) from None
    return risk_from_mapping(raw, f"risk file {path.name!r}")


class Costs(BaseModel):
    """Trading costs and starting capital. Basis points of fill notional, on every fill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_bps: float = Field(10.0, ge=0, le=1000, description="Commission per fill, bps.")
    slippage_bps: float = Field(0.0, ge=0, le=1000, description="Adverse price move per fill, bps.")
    initial_cash: float = Field(10_000.0, gt=0, le=1e15, description="Starting cash.")


def costs_from(**values: Any) -> Costs:
    try:
        return Costs(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise error(ErrorCode.COSTS_INVALID, problems) from None

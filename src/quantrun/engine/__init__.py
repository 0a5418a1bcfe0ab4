"""The simulation engine: risk gates, the compiled kernel, decision records."""

from quantrun.engine.risk import RISK_LEVELS, Costs, RiskConfig, risk_from_file, risk_from_level
from quantrun.engine.simulate import ENGINE_VERSION, SimulationResult, simulate

__all__ = [
    "ENGINE_VERSION",
    "RISK_LEVELS",
    "Costs",
    "RiskConfig",
    "SimulationResult",
    "risk_from_file",
    "risk_from_level",
    "simulate",
]

"""Reference runs: real requests whose manifests were recorded before a refactor, so a test can
rebuild them and prove that every run id and artifact byte is unchanged.

A manifest lists every artifact's size and sha256, so equal manifest bytes mean equal
artifacts. Each case is built from inside a working folder with relative paths, so the source
path recorded in the manifest is the same on every machine. Regenerate deliberately, only after
a change meant to alter run bytes (then old runs must keep verifying through their versions)::

    .venv/bin/python tests/reference_runs.py [CASE ...]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantrun.api import create_run, ingest_file
from quantrun.data.demo import write_demo_csv
from quantrun.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reference_manifests"
REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
REAL_MONTHS = ("DOTUSDT-1m-2025-11.csv", "LINKUSDT-1m-2023-02.csv", "LTCUSDT-1m-2026-02.csv")
DEMO_CSV = "demo/DEMOUSD-1m-demo.csv"
SHORT_CSV = "golden-DEMOUSD-1m.csv"
RISK_FILE = "risk-custom.json"
RISK_CUSTOM = {
    "position_fraction": 0.8,
    "stop_loss_pct": 3.0,
    "take_profit_pct": None,
    "max_drawdown_halt_pct": 15.0,
    "allow_short": True,
}


@dataclass(frozen=True)
class Case:
    """One reference run: its name, the request's fields, and whether it needs shared data."""

    name: str
    fields: dict[str, Any]
    real: bool = False
    ingest_first: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


#: The first reference runs were made with the first version of their strategy, under identity
#: schema 1 (before the strategy's source hash joined the identity), manifest schema 1
#: (decision records as JSON lines, bars always copied) and resampling rules 1 (volume summed
#: by polars' group-by); later versions change the rules, so those cases pin all four (the
#: manifest records them, not the request).
V1 = {"strategy_version": "1", "identity_schema": 1, "artifact_schema": 1, "resample_rules": 1}


def _cases() -> list[Case]:
    sma = {"strategy": "sma_crossover", "params": {"fast": 10, "slow": 30}} | V1
    cases = [
        # `make demo`: ingest, then the 10/30 crossover on 15m bars at moderate risk.
        Case(
            "demo",
            {"paths": [DEMO_CSV], "symbol": "DEMOUSD", "timeframe": "15m", "risk": "moderate"}
            | sma,
            ingest_first=True,
        ),
        Case(
            "golden",
            {"paths": [SHORT_CSV], "symbol": "DEMOUSD", "timeframe": "15m", "risk": "moderate"}
            | sma,
        ),
        Case(
            "bollinger-1h-aggressive-costs",
            {
                "paths": [DEMO_CSV],
                "symbol": "DEMOUSD",
                "strategy": "bollinger_reversion",
                **V1,
                "timeframe": "1h",
                "risk": "aggressive",
                "commission_bps": 5.0,
                "slippage_bps": 2.5,
                "cash": 25_000.0,
            },
        ),
        Case(
            "donchian-4h-window",
            {
                "paths": [DEMO_CSV],
                "symbol": "DEMOUSD",
                "strategy": "donchian_breakout",
                **V1,
                "timeframe": "4h",
                "params": {"entry": 12, "exit": 6},
                "start": "2024-01-05T00:00:00Z",
                "end": "2024-01-25T00:00:00+00:00",
                "risk": "conservative",
            },
        ),
        Case(
            "rsi-5m-risk-file",
            {
                "paths": [SHORT_CSV],
                "symbol": "DEMOUSD",
                "strategy": "rsi_reversion",
                **V1,
                "timeframe": "5m",
                "risk": None,
                "risk_file": RISK_FILE,
            },
        ),
        # The Python API with a risk config and the risk level left at its default: the
        # request records both (the config wins), as every API run made so far does.
        Case(
            "buy-and-hold-1d-risk-config",
            {
                "paths": [DEMO_CSV],
                "symbol": "DEMOUSD",
                "strategy": "buy_and_hold",
                **V1,
                "timeframe": "1d",
                "risk_config": RISK_CUSTOM,
            },
        ),
    ]
    for month in REAL_MONTHS:
        symbol = month.split("-", 1)[0]
        cases.append(
            Case(
                f"real-{symbol}",
                {"paths": [month], "symbol": symbol, "timeframe": "15m", "risk": "moderate"} | sma,
                real=True,
            )
        )
    # Recorded under the versions current on 2026-12-04 (identity schema 2, manifest schema 2,
    # sma_crossover v2; issue 17): a 1m run whose bars are its dataset's (no bars.parquet), the
    # same within a window, and a resampled run that keeps its own bars.parquet; they were made
    # before resampling rules 2 (D52), so they pin rules 1.
    current = {
        "strategy_version": "2",
        "identity_schema": 2,
        "artifact_schema": 2,
        "resample_rules": 1,
    }
    cases += [
        Case(
            "current-demo-1m-bars-in-dataset",
            {"paths": [DEMO_CSV], "symbol": "DEMOUSD", "timeframe": "1m", "risk": "moderate"}
            | sma
            | current,
        ),
        Case(
            "current-LINKUSDT-1m-window",
            {
                "paths": [REAL_MONTHS[1]],
                "symbol": "LINKUSDT",
                "timeframe": "1m",
                "strategy": "rsi_reversion",
                "start": "2023-02-10T00:00:00Z",
                "end": "2023-02-20T00:00:00Z",
                "risk": "aggressive",
            }
            | current,
            real=True,
        ),
        Case(
            "current-DOTUSDT-15m",
            {"paths": [REAL_MONTHS[0]], "symbol": "DOTUSDT", "timeframe": "15m", "risk": "moderate"}
            | sma
            | current,
            real=True,
        ),
        # Recorded under resampling rules 2 (D52, volume added in row order): a 4h run whose
        # buckets of 240 rows polars' group-by split even on one thread under rules 1.
        Case(
            "rules2-DOTUSDT-4h",
            {
                "paths": [REAL_MONTHS[0]],
                "symbol": "DOTUSDT",
                "timeframe": "4h",
                "strategy": "donchian_breakout",
                "risk": "moderate",
            }
            | current
            | {"strategy_version": "1", "resample_rules": 2},
            real=True,
        ),
    ]
    # Recorded under manifest schema 3 (D56, 2026-12-05: timeline.json version 2 says where the
    # events are instead of listing them), identity schema 2 and resampling rules 2.
    schema3 = {"identity_schema": 2, "artifact_schema": 3, "resample_rules": 2}
    cases += [
        Case(
            "schema3-LINKUSDT-1m",
            {
                "paths": [REAL_MONTHS[1]],
                "symbol": "LINKUSDT",
                "timeframe": "1m",
                "strategy": "sma_crossover",
                "strategy_version": "2",
                "params": {"fast": 5, "slow": 20},
                "risk": "aggressive",
            }
            | schema3,
            real=True,
        ),
        Case(
            "schema3-demo-1h-window",
            {
                "paths": [DEMO_CSV],
                "symbol": "DEMOUSD",
                "timeframe": "1h",
                "strategy": "rsi_reversion",
                "strategy_version": "2",
                "start": "2024-01-03T00:00:00Z",
                "end": "2024-01-20T00:00:00Z",
                "risk": "moderate",
            }
            | schema3,
        ),
    ]
    return cases


CASES = _cases()


def prepare(workdir: Path) -> None:
    """Write the demo data and the risk file the cases read, under ``workdir``."""
    write_demo_csv(workdir / DEMO_CSV)
    write_demo_csv(workdir / SHORT_CSV, days=3)
    (workdir / RISK_FILE).write_text(json.dumps(RISK_CUSTOM), encoding="utf-8")


def build(
    case: Case, workdir: Path, runs_root: Path, create: Callable[..., Any] = create_run
) -> Any:
    """Create ``case``'s run from inside its working folder (the real data's own folder for
    the real months, ``workdir`` otherwise) and return the API's result."""
    where = REAL_DATA if case.real else workdir
    settings = Settings(runs_root=runs_root)
    previous = Path.cwd()
    os.chdir(where)
    try:
        fields = dict(case.fields)
        paths = fields.pop("paths")
        if case.ingest_first:
            ingest_file(paths, settings, symbol=fields["symbol"])
        return create(paths, settings=settings, **fields)
    finally:
        os.chdir(previous)


def main(names: list[str]) -> int:
    """Record the named cases (every case without names)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "work"
        prepare(workdir)
        for case in CASES:
            if names and case.name not in names:
                continue
            if case.real and not REAL_DATA.is_dir():
                sys.stdout.write(f"skipped {case.name}: no {REAL_DATA}\n")
                continue
            result = build(case, workdir, Path(tmp) / "root")
            shutil.copyfile(result.path / "manifest.json", FIXTURES / f"{case.name}.json")
            sys.stdout.write(f"{case.name}: {result.run_id}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The demo: the embedded dataset written as a CSV, ingested, and the demo run created.

The run is a 10/30 SMA crossover on 15-minute bars at the moderate risk level, built from the
same :class:`RunCreateRequest` as any other run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantrun.data.demo import DEMO_SYMBOL, write_demo_csv
from quantrun.data.ingest import IngestResult, ingest
from quantrun.data.request import IngestRequest
from quantrun.runs.builder import RunResult, create_run
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings

DEMO_STRATEGY = "sma_crossover"
DEMO_PARAMS: dict[str, Any] = {"fast": 10, "slow": 30}
DEMO_TIMEFRAME = "15m"


@dataclass(frozen=True)
class DemoResult:
    csv_path: Path
    ingest: IngestResult
    run: RunResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "csv_path": str(self.csv_path),
            "ingest": self.ingest.to_dict(),
            "run": self.run.to_dict(),
        }


def demo_request(csv_path: Path) -> RunCreateRequest:
    """The demo run's request on the demo CSV at ``csv_path``."""
    return RunCreateRequest(
        paths=[str(csv_path)],
        symbol=DEMO_SYMBOL,
        strategy=DEMO_STRATEGY,
        params=DEMO_PARAMS,
        timeframe=DEMO_TIMEFRAME,
    )


def run_demo(settings: Settings, directory: Path) -> DemoResult:
    """Write the embedded demo CSV into ``directory``, ingest it and create the demo run."""
    csv_path = write_demo_csv(directory / f"{DEMO_SYMBOL}-1m-demo.csv")
    ingested = ingest(IngestRequest(paths=[str(csv_path)], symbol=DEMO_SYMBOL), settings)
    return DemoResult(csv_path, ingested, create_run(demo_request(csv_path), settings))

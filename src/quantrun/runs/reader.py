"""Reading a published run: manifest, metrics, trades, decisions and series as frames.

view = RunView.open(registry, run_id)
view.metrics["sharpe"]["value"], view.trades(), view.decisions(action="fill")
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from quantrun.errors import ErrorCode, error
from quantrun.metrics import metric_ids
from quantrun.runs.manifest import Manifest, ManifestProblem, load_manifest, verify_artifacts
from quantrun.runs.registry import Registry

#: The artifact a run keeps its strategy's code in (identity schema 2 on).
STRATEGY_SOURCE_FILE = "strategy_source.json"


@dataclass(frozen=True)
class RunView:
    run_id: str
    path: Path
    manifest: Manifest
    read_only: bool

    @classmethod
    def open(cls, registry: Registry, run_id: str) -> RunView:
        """Open a listed run by full id or unique prefix (8+ hex characters)."""
        run_id = registry.resolve_id(run_id)
        path = registry.run_path(run_id)
        try:
            manifest = load_manifest(path)
        except ManifestProblem as problem:
            raise error(ErrorCode.RUN_VERIFY_FAILED, f"run {run_id[:12]}: {problem}") from None
        read_only = registry.artifacts_root is not None and path.is_relative_to(
            registry.artifacts_root
        )
        return cls(run_id, path, manifest, read_only)

    def artifact_path(self, name: str) -> Path:
        """Only names the manifest lists; never a path outside the run folder."""
        names = {*self.manifest.artifact_names, "manifest.json"}
        if name not in names:
            raise error(
                ErrorCode.RUN_NOT_FOUND, f"run {self.run_id[:12]} has no artifact {name[:100]!r}"
            )
        path = self.path / name
        # A symlink planted as a run folder or in one must not lead a download elsewhere.
        if (
            self.path.is_symlink()
            or path.is_symlink()
            or not path.resolve().is_relative_to(self.path.resolve())
        ):
            raise error(
                ErrorCode.RUN_VERIFY_FAILED,
                f"run {self.run_id[:12]}: artifact {name} is not a file inside the run folder",
            )
        return path

    def read_bytes(self, name: str) -> bytes:
        return self.artifact_path(name).read_bytes()

    def _json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    @property
    def metrics(self) -> dict[str, Any]:
        """Metric id -> value and convention, in the metric table's order."""
        data: dict[str, Any] = self._json("metrics.json")["metrics"]
        order = {metric_id: i for i, metric_id in enumerate(metric_ids())}
        return dict(sorted(data.items(), key=lambda kv: order.get(kv[0], len(order))))

    @property
    def timeline(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json("timeline.json")
        return data

    @property
    def data_quality(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json("data_quality.json")
        return data

    def trades(self) -> pl.DataFrame:
        return pl.read_csv(io.BytesIO(self.read_bytes("trades.csv")), try_parse_dates=False)

    def decisions(self, action: str | None = None) -> pl.DataFrame:
        lazy = self.decisions_lazy()
        if action is not None:
            lazy = lazy.filter(pl.col("action") == action)
        return lazy.collect()

    def decisions_lazy(self) -> pl.LazyFrame:
        """The decision records as a lazy frame: filter and page without reading them all."""
        path = self.artifact_path("decision_records.jsonl")
        if path.stat().st_size == 0:
            return pl.LazyFrame(
                {"seq": [], "action": []}, schema={"seq": pl.Int64, "action": pl.String}
            )
        return pl.scan_ndjson(path)

    def series(self) -> pl.DataFrame:
        return pl.read_parquet(self.artifact_path("series.parquet"))

    def bars(self) -> pl.DataFrame:
        return pl.read_parquet(self.artifact_path("bars.parquet"))

    def strategy_source(self) -> dict[str, Any] | None:
        """The strategy code the run kept (``strategy_source.json``), or None for a run made
        before runs kept their code."""
        if STRATEGY_SOURCE_FILE not in self.manifest.artifact_names:
            return None
        data: dict[str, Any] = self._json(STRATEGY_SOURCE_FILE)
        return data

    def media_type(self, name: str) -> str:
        """The media type the manifest records for an artifact (the manifest is JSON)."""
        types = {a.name: a.media_type for a in self.manifest.artifacts}
        return types.get(name) or "application/json"

    def verify(self) -> list[str]:
        """Problems re-hashing the artifacts against the manifest (empty when all match)."""
        return verify_artifacts(self.path, self.manifest)

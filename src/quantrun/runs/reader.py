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

from quantrun.data.dialect import FIELDS
from quantrun.data.quality import micros_of
from quantrun.data.store import DatasetStore
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.metrics import metric_ids
from quantrun.runs.artifacts import TIMELINE_SCHEMA, decision_records_frame, timeline_events
from quantrun.runs.manifest import Manifest, ManifestProblem, load_manifest, verify_artifacts
from quantrun.runs.registry import Registry

#: The artifact a run keeps its strategy's code in (identity schema 2 on).
STRATEGY_SOURCE_FILE = "strategy_source.json"
#: The decision records as columns (manifest schema 2 on); ``decision_records.jsonl`` before.
RECORDS_PARQUET = "decision_records.parquet"


@dataclass(frozen=True)
class TimelineEvents:
    """Trade events read from a run (:meth:`RunView.timeline_events`)."""

    frame: pl.DataFrame
    #: How many events the run has (``frame`` may hold the first few only).
    total: int
    #: The artifact holding all of them.
    artifact: str


@dataclass(frozen=True)
class RunView:
    run_id: str
    path: Path
    manifest: Manifest
    read_only: bool
    #: The RUNS_ROOT (or read-only artifacts root) the run is in: where its dataset is stored.
    root: Path

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
        root = registry.artifacts_root if read_only else registry.root
        assert root is not None
        return cls(run_id, path, manifest, read_only, root)

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
        """``timeline.json`` as written: version 1 lists the events, version 2 (manifest
        schema 3 on) says where they are; :meth:`timeline_events` reads them from both."""
        data: dict[str, Any] = self._json("timeline.json")
        return data

    def timeline_events(self, limit: int | None = None) -> TimelineEvents:
        """The first ``limit`` (all: None) trade events (fills, stops, targets, halts,
        expiries) as one frame whatever the run's schema (``ts`` as ISO-8601 text, a missing
        price as null), how many there are and the file holding them all: ``timeline.json``
        (its version 1 lists them) or the decision records with those actions (version 2)."""
        data = self.timeline
        if data.get("schema_version", 1) < 2:
            events: list[dict[str, Any]] = data["events"]
            shown = pl.DataFrame(events[:limit], schema=TIMELINE_SCHEMA)
            return TimelineEvents(shown, len(events), "timeline.json")
        lazy = timeline_events(self.decisions_lazy())
        where = data["events_in"]
        frame = (lazy if limit is None else lazy.head(limit)).collect()
        return TimelineEvents(frame, int(where["count"]), str(where["artifact"]))

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
        """The decision records as a lazy frame: filter and page without reading them all.
        One shape whatever the manifest schema (``ts`` as ISO-8601 text, a NaN as null)."""
        if RECORDS_PARQUET in self.manifest.artifact_names:
            return decision_records_frame(pl.scan_parquet(self.artifact_path(RECORDS_PARQUET)))
        path = self.artifact_path("decision_records.jsonl")
        if path.stat().st_size == 0:
            return pl.LazyFrame(
                {"seq": [], "action": []}, schema={"seq": pl.Int64, "action": pl.String}
            )
        return pl.scan_ndjson(path)

    def series(self) -> pl.DataFrame:
        return pl.read_parquet(self.artifact_path("series.parquet"))

    def bars(self) -> pl.DataFrame:
        """The bars the run simulated: its ``bars.parquet``, or (manifest schema 2, a run on
        the data's own timeframe) the stored dataset's bars within the run's first and last
        bar, read verified (DATASET_CORRUPT, DATASET_NOT_FOUND) and shaped as ``bars.parquet``
        (``bar_count`` 1, nothing ``partial``)."""
        if not self.manifest.bars_in_dataset:
            return pl.read_parquet(self.artifact_path("bars.parquet"))
        loaded = DatasetStore(self.root).load_for_run(self.manifest.dataset.dataset_id)
        summary = self.manifest.summary
        first, last = micros_of(summary.first_bar), micros_of(summary.last_bar)
        bars = loaded.bars.filter((pl.col("ts") >= first) & (pl.col("ts") <= last))
        if loaded.content_sha256 != self.manifest.dataset.content_sha256 or (
            bars.height != summary.bars
        ):
            raise error(
                ErrorCode.RUN_VERIFY_FAILED,
                f"run {self.run_id[:12]}: its dataset {loaded.dataset_id[:12]} no longer holds "
                "the bars the run simulated",
            )
        return bars.select(
            pl.col("ts").cast(pl.Datetime("us", "UTC")),
            *[pl.col(name).cast(pl.Float64) for name in FIELDS[1:]],
            pl.lit(1, pl.Int64).alias("bar_count"),
            pl.lit(False).alias("partial"),
        )

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
        """Problems re-hashing the artifacts against the manifest (empty when all match); a run
        whose bars are its dataset's also checks that dataset (stored, intact, holding them)."""
        problems = verify_artifacts(self.path, self.manifest)
        if self.manifest.bars_in_dataset:
            try:
                self.bars()
            except QuantrunError as exc:
                dataset = self.manifest.dataset.dataset_id[:12]
                problems.append(f"bars (in dataset {dataset}): {exc.code}: {exc.detail}")
        return problems

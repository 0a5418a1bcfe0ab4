"""The artifact set of a run: each file's bytes, built deterministically in memory.

``ARTIFACTS`` is the declared table (name, schema version, media type, what it holds) that the
manifest, the docs (docs/contracts.md) and the web edge read. Bytes depend only on the run's
inputs and the locked library versions: no wall-clock time, host name or absolute path.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from quantrun.canonical import Records, canonical_file_bytes
from quantrun.data.quality import iso
from quantrun.engine.simulate import SimulationResult
from quantrun.runs.export import safe_frame
from quantrun.runs.manifest import MANIFEST_SCHEMA_VERSION

TIMELINE_MAX_POINTS = 2000


@dataclass(frozen=True)
class ArtifactSpec:
    name: str
    media_type: str
    description: str
    #: The manifest schemas from which on the file's own format moved, each with the format
    #: version it moved to, in order; before the first, a file is its version 1.
    moved: tuple[tuple[int, int], ...] = ()
    #: The first and the last manifest schema that write the file (None: every later one).
    schemas: tuple[int, int | None] = (1, None)

    def written_under(self, manifest_schema: int) -> bool:
        first, last = self.schemas
        return first <= manifest_schema and (last is None or manifest_schema <= last)

    def version_under(self, manifest_schema: int) -> int:
        """The file's format version in a run of manifest schema ``manifest_schema`` (what the
        manifest records as the artifact's ``schema_version``)."""
        version = 1
        for since, moved_to in self.moved:
            if manifest_schema >= since:
                version = moved_to
        return version

    @property
    def schema_version(self) -> int:
        """The file's format version in the runs made now."""
        return self.version_under(MANIFEST_SCHEMA_VERSION)


ARTIFACTS: tuple[ArtifactSpec, ...] = (
    ArtifactSpec("manifest.json", "application/json", "inputs, versions and every artifact's hash"),
    ArtifactSpec(
        "decision_records.jsonl",
        "application/x-ndjson",
        "one JSON object per engine event: signal, order, clip, block, fill, stop, halt",
        schemas=(1, 1),
    ),
    ArtifactSpec(
        "decision_records.parquet",
        "application/vnd.apache.parquet",
        "the decision records as columns (manifest schema 2 on): one row per engine event",
        schemas=(2, None),
    ),
    ArtifactSpec("metrics.json", "application/json", "every metric with its convention"),
    ArtifactSpec(
        "timeline.json",
        "application/json",
        "equity, drawdown and position downsampled for display; the trade events (version 1) or"
        " where they are (version 2, manifest schema 3 on: the decision records)",
        moved=((3, 2),),
    ),
    ArtifactSpec("data_quality.json", "application/json", "the dataset's quality report"),
    ArtifactSpec("trades.csv", "text/csv", "one row per trade"),
    ArtifactSpec(
        "bars.parquet",
        "application/vnd.apache.parquet",
        "the bars simulated (manifest schema 2 on: only when they are not the stored"
        " dataset's bars)",
    ),
    ArtifactSpec(
        "series.parquet",
        "application/vnd.apache.parquet",
        "equity, drawdown and position at every bar close",
    ),
    ArtifactSpec(
        "strategy_source.json",
        "application/json",
        "the strategy's code the run ran, with its sha256 (identity schema 2 on)",
    ),
)
ARTIFACT_NAMES = tuple(a.name for a in ARTIFACTS)
SPECS = {a.name: a for a in ARTIFACTS}


def artifact_names(schema: int, *, bars: bool = True) -> tuple[str, ...]:
    """The files a run of manifest schema ``schema`` holds, in the manifest's order (``bars``:
    whether it has its own ``bars.parquet``; a run of schema 2 or later on its data's own
    timeframe has not). ``strategy_source.json`` is there from identity schema 2 on."""
    return tuple(
        spec.name
        for spec in ARTIFACTS
        if spec.written_under(schema) and (bars or spec.name != "bars.parquet")
    )


def _iso_column(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias(name)


def decision_records_bytes(records: pl.DataFrame) -> bytes:
    frame = records.with_columns(_iso_column("ts"))
    sink = io.BytesIO()
    frame.write_ndjson(sink)
    return sink.getvalue()


def _nan_as_null(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column with NaN written as null, as the JSON lines of ``decision_records.jsonl``
    write it (structs field by field)."""
    column = pl.col(name)
    if dtype.is_float():
        return column.fill_nan(None)
    if isinstance(dtype, pl.Struct):
        if not dtype.fields:  # a strategy without indicators: null, as the JSON lines say
            return pl.lit(None).alias(name)
        fields = [
            pl.field(f.name).fill_nan(None) if f.dtype.is_float() else pl.field(f.name)
            for f in dtype.fields
        ]
        return column.struct.with_fields(fields)
    return column


def decision_records_parquet_bytes(records: pl.DataFrame) -> bytes:
    """``decision_records.parquet`` (manifest schema 2): the records ``decision_records.jsonl``
    holds, as columns: ``ts`` a UTC timestamp, NaN as null. A tenth of the JSON lines' size
    and a third of their encoding time at 1m scale."""
    frame = records.select(
        _nan_as_null(name, dtype) for name, dtype in records.schema.items()
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    sink = io.BytesIO()
    frame.rechunk().write_parquet(sink, compression="zstd", compression_level=1, statistics=True)
    return sink.getvalue()


def decision_records_frame(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``decision_records.parquet`` read back as ``decision_records.jsonl`` reads: ``ts`` as
    ISO-8601 text, so every reader sees one shape whatever the run's manifest schema."""
    return frame.with_columns(_iso_column("ts"))


def trades_csv_bytes(trades: pl.DataFrame) -> bytes:
    frame = safe_frame(trades.with_columns(_iso_column("entry_ts"), _iso_column("exit_ts")))
    sink = io.BytesIO()
    frame.write_csv(sink, line_terminator="\n", null_value="")
    return sink.getvalue()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    # One chunk per column first: polars lays out a multi-chunk frame's pages by its chunks,
    # and a parallel group-by's chunk boundaries vary from call to call.
    sink = io.BytesIO()
    frame.rechunk().with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).write_parquet(
        sink, compression="zstd", compression_level=1, statistics=True
    )
    return sink.getvalue()


def series_frame(sim: SimulationResult) -> pl.DataFrame:
    return pl.DataFrame(
        {"ts": sim.ts, "equity": sim.equity, "drawdown": sim.drawdown, "position": sim.position}
    )


def decimate(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices keeping each chunk's min and max (so peaks and troughs survive), sorted."""
    n = values.size
    if n <= max_points:
        return np.arange(n)
    chunks = max_points // 2
    edges = np.linspace(0, n, chunks + 1).astype(np.int64)
    keep = [0, n - 1]
    for lo, hi in itertools.pairwise(edges):
        part = values[lo:hi]
        keep.append(lo + int(np.argmin(part)))
        keep.append(lo + int(np.argmax(part)))
    return np.unique(np.array(keep, dtype=np.int64))


@dataclass(frozen=True)
class Candles:
    """Bars for display: at most ``max_bars`` candles, each merging ``step`` bars (open of the
    first, high max, low min, close of the last); ``ts`` as epoch µs."""

    frame: pl.DataFrame
    total: int
    downsampled: bool


def candles(bars: pl.DataFrame, max_bars: int) -> Candles:
    """``bars`` (``ts`` a UTC datetime or epoch µs) merged into at most ``max_bars`` candles,
    so a chart of a million bars stays responsive while every high and low still shows."""
    if bars.schema["ts"] != pl.Int64:
        bars = bars.with_columns(pl.col("ts").dt.epoch("us"))
    n = bars.height
    step = max(1, -(-n // max_bars))
    if step > 1:
        bucket = pl.int_range(0, n, dtype=pl.Int64) // step
        bars = (
            bars.with_columns(bucket.alias("_b"))
            .group_by("_b", maintain_order=True)
            .agg(
                pl.col("ts").first(),
                pl.col("open").first(),
                pl.col("high").max(),
                pl.col("low").min(),
                pl.col("close").last(),
            )
        )
    return Candles(bars, n, step > 1)


#: The decision records that are the timeline's events, and the fields an event has with the
#: types they are read as (``ts`` as ISO-8601 text, as :func:`decision_records_frame` gives it).
TIMELINE_ACTIONS = ("fill", "stop_loss", "take_profit", "halt", "expire")
TIMELINE_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "ts": pl.String(),
    "action": pl.String(),
    "reason": pl.String(),
    "price": pl.Float64(),
    "quantity": pl.Float64(),
    "position_after": pl.Float64(),
}
TIMELINE_FIELDS = tuple(TIMELINE_SCHEMA)
#: Where a version-2 ``timeline.json`` says its events are.
TIMELINE_EVENTS_IN = "decision_records.parquet"
#: iso() agrees with numpy's whole-second ISO text for these (4-digit years, no fraction).
_ISO_FAST_RANGE = (0, 7_258_118_400_000_000)  # 1970-01-01 .. 2200-01-01


def _iso_list(micros: np.ndarray) -> list[str]:
    """``[iso(t) for t in micros]``, vectorised when every stamp is a whole second in range."""
    stamps = np.asarray(micros, dtype=np.int64)
    low, high = _ISO_FAST_RANGE
    if stamps.size and (stamps.min() < low or stamps.max() >= high or (stamps % 1_000_000).any()):
        return [iso(int(t)) for t in stamps]
    text = np.datetime_as_string(stamps.astype("datetime64[us]"), unit="s")
    return [t + "Z" for t in text.tolist()]


def timeline(sim: SimulationResult, version: int) -> dict[str, Any]:
    """``timeline.json``: the downsampled equity, drawdown and position and the trade events.
    Version 1 lists the events (one object per fill, stop, target, halt, expiry); version 2
    (manifest schema 3 on) says how many there are and where: they are the decision records
    with those actions, which the run holds anyway (:func:`timeline_events`)."""
    keep = decimate(sim.equity, TIMELINE_MAX_POINTS)
    chosen = sim.records.filter(pl.col("action").is_in(TIMELINE_ACTIONS))
    value: dict[str, Any] = {
        "schema_version": version,
        "points": {
            "sampling": f"min/max per chunk, at most {TIMELINE_MAX_POINTS} points",
            "bars": int(sim.equity.size),
            "ts": _iso_list(sim.ts[keep]),
            "equity": sim.equity[keep].astype(np.float64).tolist(),
            "drawdown": sim.drawdown[keep].astype(np.float64).tolist(),
            "position": sim.position[keep].astype(np.float64).tolist(),
        },
    }
    if version >= 2:
        value["events_in"] = {
            "artifact": TIMELINE_EVENTS_IN,
            "actions": list(TIMELINE_ACTIONS),
            "count": chosen.height,
        }
        return value
    columns = {name: chosen[name].to_list() for name in TIMELINE_FIELDS}
    columns["ts"] = _iso_list(chosen["ts"].to_numpy())
    # A NaN price (no fill price) is written as null.
    columns["price"] = chosen["price"].fill_nan(None).to_list()
    # Written as the list of event objects it stands for, without building them (Records).
    value["events"] = Records(columns)
    return value


def timeline_events(records: pl.LazyFrame) -> pl.LazyFrame:
    """The timeline's events from decision records read as :func:`decision_records_frame`
    gives them (``ts`` as ISO text, NaN as null): what version 1 of ``timeline.json`` lists."""
    return records.filter(pl.col("action").is_in(TIMELINE_ACTIONS)).select(TIMELINE_FIELDS)


def json_bytes(value: Any) -> bytes:
    """Canonical JSON file bytes (``canonical_file_bytes``), built by the fast encoder."""
    return canonical_file_bytes(value)

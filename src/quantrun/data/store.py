"""The dataset store: canonical bars, content-addressed, stored once under RUNS_ROOT.

Layout::

    RUNS_ROOT/datasets/<dataset_id>/
        bars.parquet        ts timestamp[us, UTC], open high low close volume float64; zstd
        data_quality.json   the quality report (canonical JSON)
        dataset.json        descriptor, content hash, row count, file hashes, the input
                            files it was first stored from (and, fetched, their archives'
                            URLs and sha256s) (written last)

``dataset_id`` is the sha256 of the canonical JSON of the bars' content hash and the dataset
descriptor (symbol, base timeframe, assumed zone, repairs). A folder is built in
``RUNS_ROOT/staging/`` and renamed into place: it is either absent or complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from quantrun.canonical import canonical_file_bytes, canonical_hash, sha256_hex
from quantrun.data.dialect import FIELDS
from quantrun.durable import fsync_dir, write_bytes
from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout
from quantrun.staging import staging_dir

DATASET_SCHEMA_VERSION = 1
BARS_FILE = "bars.parquet"
QUALITY_FILE = "data_quality.json"
META_FILE = "dataset.json"
#: What ``dataset.json`` records of each input file (a fetched one adds its archive's
#: ``provider``, ``url``, ``archive``, ``archive_sha256`` and ``archive_bytes``).
SOURCE_FIELDS = ("name", "bytes", "sha256", "format", "has_header", "rows")
_HEX_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


def content_hash(bars: pl.DataFrame) -> str:
    """sha256 over the little-endian bytes of each canonical column, in schema order. A column
    held in several chunks (as Parquet row groups decode) is hashed a chunk at a time: the same
    bytes in the same order, without first copying them into one array."""
    digest = hashlib.sha256()
    for name in FIELDS:
        digest.update(name.encode())
        for chunk in bars[name].get_chunks():
            column = np.ascontiguousarray(chunk.to_numpy())
            little = column.astype(column.dtype.newbyteorder("<"), copy=False)
            digest.update(little.data)
    return digest.hexdigest()


def dataset_id_for(content_sha256: str, descriptor: dict[str, Any]) -> str:
    return canonical_hash(
        {
            "schema_version": DATASET_SCHEMA_VERSION,
            "content_sha256": content_sha256,
            "descriptor": descriptor,
        }
    )


def parquet_bytes(bars: pl.DataFrame) -> bytes:
    """Deterministic Parquet bytes for canonical ``bars`` (ts as timestamp[us, UTC]).

    polars' writer compresses columns in parallel; its output depends only on the data and the
    locked polars version (checked by a test).
    """
    frame = bars.select(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        *[pl.col(f).cast(pl.Float64) for f in FIELDS[1:]],
    )
    sink = io.BytesIO()
    frame.write_parquet(sink, compression="zstd", compression_level=1, statistics=True)
    return sink.getvalue()


@dataclass(frozen=True)
class StoredDataset:
    dataset_id: str
    path: Path
    created: bool
    meta: dict[str, Any]


@dataclass(frozen=True)
class DatasetInfo:
    """A stored dataset as listed. ``sources`` and ``origin`` are what ``dataset.json``
    records of where the bars came from (absent from datasets stored before they were
    recorded): each input file, with its archive's URL and sha256 when it was fetched, and the
    provider and request of a fetch."""

    dataset_id: str
    symbol: str | None
    timeframe: str
    rows: int
    first_bar: str
    last_bar: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    origin: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "rows": self.rows,
            "first_bar": self.first_bar,
            "last_bar": self.last_bar,
            "sources": self.sources,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class LoadedDataset:
    """A stored dataset, verified, with everything a run records of it: its bars (``ts`` as
    Int64 epoch µs), its quality report (and the report file's bytes, which a run copies) and
    its recorded sources."""

    dataset_id: str
    content_sha256: str
    descriptor: dict[str, Any]
    bars: pl.DataFrame
    quality: dict[str, Any]
    quality_bytes: bytes
    sources: list[dict[str, Any]]
    origin: dict[str, Any] | None

    @property
    def symbol(self) -> str | None:
        symbol: str | None = self.descriptor["symbol"]
        return symbol

    @property
    def timeframe(self) -> str:
        timeframe: str = self.descriptor["timeframe"]
        return timeframe

    def manifest_sources(self) -> list[dict[str, Any]]:
        """The sources as a run manifest lists them (``dataset.sources``): ``path`` is the
        archive's URL for a fetched file and the file's name otherwise (``dataset.json`` keeps
        no local path); a fetched file adds ``url`` and ``archive_sha256``."""
        out = []
        for source in self.sources:
            listed = {key: source[key] for key in SOURCE_FIELDS}
            listed["path"] = source.get("url") or source["name"]
            if "url" in source:
                listed["url"] = source["url"]
                listed["archive_sha256"] = source["archive_sha256"]
            out.append(listed)
        return out


class DatasetStore:
    """Reads and publishes datasets under ``runs_root/datasets``."""

    def __init__(self, runs_root: Path) -> None:
        self.runs_root = runs_root
        layout = Layout(runs_root)
        self.root = layout.datasets
        self.staging = layout.staging

    def path_of(self, dataset_id: str) -> Path:
        return self.root / dataset_id

    def exists(self, dataset_id: str) -> bool:
        return (self.path_of(dataset_id) / META_FILE).is_file()

    def publish(
        self,
        dataset_id: str,
        bars: pl.DataFrame,
        quality: dict[str, Any],
        meta: dict[str, Any],
        encoded: bytes | None = None,
    ) -> StoredDataset:
        """Write the dataset once; if it is already stored, keep the stored one.

        ``encoded`` is ``parquet_bytes(bars)`` when the caller already has it."""
        final = self.path_of(dataset_id)
        if self.exists(dataset_id):
            return StoredDataset(dataset_id, final, False, self.read_meta(dataset_id))
        try:
            with staging_dir(self.runs_root, "dataset") as work:
                parquet = encoded if encoded is not None else parquet_bytes(bars)
                return self._publish_from(work, dataset_id, final, parquet, quality, meta)
        except OSError as exc:
            raise error(
                ErrorCode.STORAGE_FAILED,
                f"could not store dataset {dataset_id[:12]}: {exc.strerror or type(exc).__name__}",
            ) from None

    def _publish_from(
        self,
        work: Path,
        dataset_id: str,
        final: Path,
        parquet: bytes,
        quality: dict[str, Any],
        meta: dict[str, Any],
    ) -> StoredDataset:
        files = {BARS_FILE: parquet, QUALITY_FILE: canonical_file_bytes(quality)}
        # The files are hashed on a worker (hashlib releases the GIL) while they are written.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quantrun-hash") as pool:
            digests = {name: pool.submit(sha256_hex, data) for name, data in files.items()}
            for name, data in files.items():
                write_bytes(work / name, data)
        full_meta = dict(meta)
        full_meta["files"] = {
            name: {"bytes": len(data), "sha256": digests[name].result()}
            for name, data in files.items()
        }
        write_bytes(work / META_FILE, canonical_file_bytes(full_meta))
        fsync_dir(work)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            work.rename(final)
        except OSError:
            if self.exists(dataset_id):  # another writer won the race: same content
                return StoredDataset(dataset_id, final, False, self.read_meta(dataset_id))
            raise
        fsync_dir(self.root)
        return StoredDataset(dataset_id, final, True, full_meta)

    def read_meta(self, dataset_id: str) -> dict[str, Any]:
        path = self.path_of(dataset_id) / META_FILE
        try:
            meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise error(ErrorCode.DATASET_NOT_FOUND, f"no dataset {dataset_id!r}") from None
        return meta

    def resolve(self, dataset_id: str) -> str:
        """The full id of a stored dataset from its id or a unique prefix of at least 8 hex
        characters; DATASET_NOT_FOUND otherwise (never a path outside the store)."""
        wanted = dataset_id.strip().lower()
        if not _HEX_PREFIX.match(wanted):
            raise error(
                ErrorCode.DATASET_NOT_FOUND,
                f"{dataset_id[:70]!r} is not a dataset id (8 to 64 hexadecimal characters)",
            )
        if len(wanted) == 64 and self.exists(wanted):
            return wanted
        found = (
            [p.name for p in self.root.iterdir() if p.name.startswith(wanted)]
            if self.root.is_dir()
            else []
        )
        found = [name for name in found if self.exists(name)]
        if len(found) != 1:
            what = "no stored dataset" if not found else f"{len(found)} stored datasets"
            raise error(ErrorCode.DATASET_NOT_FOUND, f"{what} match {dataset_id[:70]!r}")
        return found[0]

    def load_for_run(self, dataset_id: str) -> LoadedDataset:
        """A stored dataset by id (or unique prefix), verified: its files match the hashes
        ``dataset.json`` records, and its bars hash to its content hash and id
        (DATASET_CORRUPT otherwise). What ``runs create --dataset`` builds from."""
        full = self.resolve(dataset_id)
        meta = self.read_meta(full)
        folder = self.path_of(full)
        blobs: dict[str, bytes] = {}
        for name in (BARS_FILE, QUALITY_FILE):
            try:
                blobs[name] = (folder / name).read_bytes()
            except OSError:
                raise _corrupt(full, f"{name} is missing") from None
        # Datasets stored before file hashes were recorded have none: their bars are still
        # checked against the content hash and the id below.
        recorded_files = meta.get("files")
        # The files are hashed on a worker (hashlib releases the GIL) while this thread decodes
        # the bars and hashes their content; a file that differs from its record is reported
        # as such even when it also fails to decode.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quantrun-verify") as pool:
            digests = {name: pool.submit(sha256_hex, data) for name, data in blobs.items()}
            bars: pl.DataFrame | None = None
            content = ""
            try:
                decoded = pl.read_parquet(io.BytesIO(blobs[BARS_FILE]))
                bars = decoded.with_columns(pl.col("ts").dt.epoch("us"))
                content = content_hash(bars)
            except Exception:  # a damaged file: named below, by its hash if one is recorded
                bars = None
            if recorded_files is not None:
                for name, digest in digests.items():
                    try:
                        recorded = recorded_files[name]["sha256"]
                    except (KeyError, TypeError):
                        raise _corrupt(full, f"{name} is unrecorded") from None
                    if digest.result() != recorded:
                        raise _corrupt(full, f"{name} differs from the hash dataset.json records")
        descriptor = meta.get("descriptor")
        if (
            bars is None
            or content != meta.get("content_sha256")
            or not isinstance(descriptor, dict)
            or dataset_id_for(content, descriptor) != full
        ):
            raise _corrupt(full, "its bars or descriptor no longer hash to its id")
        return LoadedDataset(
            dataset_id=full,
            content_sha256=content,
            descriptor=descriptor,
            bars=bars,
            quality=json.loads(blobs[QUALITY_FILE]),
            quality_bytes=blobs[QUALITY_FILE],
            sources=list(meta.get("sources", [])),
            origin=meta.get("origin"),
        )

    def list(self) -> list[DatasetInfo]:
        """Summaries of every complete dataset folder (a folder without dataset.json is skipped),
        oldest data first."""
        rows: list[DatasetInfo] = []
        if not self.root.is_dir():
            return rows
        for folder in sorted(self.root.iterdir()):
            try:
                meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
                rows.append(
                    DatasetInfo(
                        dataset_id=meta["dataset_id"],
                        symbol=meta["descriptor"]["symbol"],
                        timeframe=meta["descriptor"]["timeframe"],
                        rows=meta["rows"],
                        first_bar=meta["first_bar"],
                        last_bar=meta["last_bar"],
                        sources=list(meta.get("sources", [])),
                        origin=meta.get("origin"),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(rows, key=lambda r: (r.first_bar, r.dataset_id))

    def read_quality(self, dataset_id: str) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(
            (self.path_of(dataset_id) / QUALITY_FILE).read_text(encoding="utf-8")
        )
        return report

    def load_bars(self, dataset_id: str) -> pl.DataFrame:
        """Canonical bars with ``ts`` as Int64 epoch µs."""
        path = self.path_of(dataset_id) / BARS_FILE
        if not path.is_file():
            raise error(ErrorCode.DATASET_NOT_FOUND, f"no dataset {dataset_id!r}")
        frame = pl.read_parquet(path)
        return frame.with_columns(pl.col("ts").dt.epoch("us"))


def _corrupt(dataset_id: str, why: str) -> Exception:
    return error(ErrorCode.DATASET_CORRUPT, f"dataset {dataset_id[:16]}: {why}")


__all__ = [
    "DatasetStore",
    "LoadedDataset",
    "StoredDataset",
    "content_hash",
    "dataset_id_for",
]

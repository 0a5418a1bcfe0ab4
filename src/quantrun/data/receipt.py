"""Ingest receipts: which stored dataset given input bytes and ingest options made, so a second
ingest of the same file(s) with the same options loads that dataset instead of parsing and
checking the file again (docs/decisions.md D50)::

    RUNS_ROOT/receipts/<total input bytes>-<key>.json

The ``key`` is the sha256 of the canonical JSON of everything that decides an ingest's outcome
(:func:`receipt_key`): each input file's sha256 and size in order, every
:class:`~quantrun.data.request.IngestRequest` field but the paths, the input limits of the
settings, and the rules (:data:`INGEST_RULES_VERSION`, quantrun's version, the dataset schema
and the parser's version). Equal keys mean the same bytes read the same way by the same code, so
the same outcome: the checks already passed on exactly these bytes, and the dataset they made is
stored. The total input bytes in the name let a lookup skip hashing the inputs when no receipt
could match.

A receipt is a pointer, never trusted for data: the dataset it names is loaded by
:meth:`~quantrun.data.store.DatasetStore.load_for_run`, which checks every file against the hashes
``dataset.json`` records and the bars against the content hash and the id. It records only what
an ingest reports beyond the dataset: each input's format, header, row count and time column, the
timestamp kinds and the session handling. It is written atomically after every successful ingest
(failing to write it is STORAGE_FAILED, like any storage failure); a missing, unreadable or
mismatching one means a full ingest, which writes it again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import mmap
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantrun.canonical import canonical_file_bytes, canonical_hash
from quantrun.data.store import DATASET_SCHEMA_VERSION
from quantrun.durable import replace_file
from quantrun.errors import ErrorCode, error
from quantrun.logs import get_logger
from quantrun.version import __version__

if TYPE_CHECKING:
    from quantrun.data.request import IngestRequest
    from quantrun.settings import Settings

log = get_logger(__name__)

RECEIPT_SCHEMA_VERSION = 1
#: Bump when reading, validation, the repairs or the quality report change in a way that could
#: give the same bytes and options another dataset (quantrun's version is in the key as well).
INGEST_RULES_VERSION = 1
#: What a receipt records of each input file (a :class:`~quantrun.data.source.SourceFile` without
#: its path and name, which come from the request each time).
INPUT_FIELDS = ("bytes", "sha256", "format", "has_header", "rows")
#: The settings that can refuse an input: a receipt made under other limits does not answer.
LIMIT_FIELDS = ("max_input_bytes", "max_rows", "max_line_bytes", "max_columns")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Receipt:
    """A stored receipt, read back and checked against the inputs hashed now."""

    key: str
    dataset_id: str
    #: Per input file: :data:`INPUT_FIELDS` and, when recorded, ``time_column``.
    inputs: list[dict[str, Any]]
    timestamp_kinds: list[str]
    #: What the ingest reported of sessions (``Inspection.sessions``), None when nothing.
    sessions: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": RECEIPT_SCHEMA_VERSION,
            "key": self.key,
            "dataset_id": self.dataset_id,
            "inputs": self.inputs,
            "timestamp_kinds": self.timestamp_kinds,
            "sessions": self.sessions,
        }


@dataclass(frozen=True)
class Inputs:
    """The input files as hashed now: (bytes, sha256) each, in order, and the receipt name."""

    digests: list[tuple[int, str]]
    name: str


def receipt_key(request: IngestRequest, settings: Settings, digests: list[tuple[int, str]]) -> str:
    """The sha256 naming everything that decides the outcome of ingesting these bytes."""
    return canonical_hash(
        {
            "receipt_schema_version": RECEIPT_SCHEMA_VERSION,
            "ingest_rules_version": INGEST_RULES_VERSION,
            "quantrun_version": __version__,
            "dataset_schema_version": DATASET_SCHEMA_VERSION,
            "polars_version": importlib.metadata.version("polars"),
            "inputs": [{"bytes": size, "sha256": digest} for size, digest in digests],
            "options": request.model_dump(mode="json", exclude={"paths"}),
            "limits": {name: getattr(settings, name) for name in LIMIT_FIELDS},
        }
    )


def file_sha256(path: Path) -> tuple[int, str]:
    """(bytes, sha256) of the file at ``path``: a regular file is mapped and hashed in one
    call, which releases the GIL for the whole file (read a chunk at a time, the hashing
    thread queued for the GIL after every chunk behind the numba import of the warm-up
    thread); anything else (and an empty file, which cannot be mapped) a chunk at a time."""
    with path.open("rb", buffering=0) as stream:
        info = os.fstat(stream.fileno())
        if info.st_size and stat.S_ISREG(info.st_mode):
            try:
                with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    return len(mapped), hashlib.sha256(mapped).hexdigest()
            except (OSError, ValueError):  # not mappable here: read it
                pass
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray(_HASH_CHUNK)
        view = memoryview(buffer)
        while count := stream.readinto(buffer):
            digest.update(view[:count])
            size += count
    return size, digest.hexdigest()


def hash_inputs(request: IngestRequest, settings: Settings) -> Inputs | None:
    """The inputs hashed and the name their receipt would have; None when no receipt could
    answer (no input, a path that is not a file, over the size limit, or no receipt of that
    total size), so the caller does a full ingest, which reports any error."""
    receipts = settings.layout.receipts
    paths = [Path(p) for p in request.paths]
    if not paths or not receipts.is_dir():
        return None
    try:
        sizes = [p.stat().st_size for p in paths if p.is_file()]
    except OSError:
        return None
    total = sum(sizes)
    if len(sizes) != len(paths) or total > settings.max_input_bytes:
        return None
    if next(receipts.glob(f"{total}-*.json"), None) is None:
        return None
    try:
        digests = [file_sha256(p) for p in paths]
    except OSError:
        return None
    return Inputs(digests, f"{total}-{receipt_key(request, settings, digests)}")


def read_receipt(inputs: Inputs, settings: Settings) -> Receipt | None:
    """The receipt for ``inputs``, checked; None when there is none or it does not fit."""
    path = settings.layout.receipt(inputs.name)
    try:
        raw = json.loads(path.read_bytes())
        receipt = Receipt(
            key=str(raw["key"]),
            dataset_id=str(raw["dataset_id"]),
            inputs=[dict(item) for item in raw["inputs"]],
            timestamp_kinds=[str(kind) for kind in raw["timestamp_kinds"]],
            sessions=None if raw["sessions"] is None else dict(raw["sessions"]),
        )
        fits = (
            raw["schema_version"] == RECEIPT_SCHEMA_VERSION
            and inputs.name.endswith(f"-{receipt.key}")
            and len(receipt.inputs) == len(inputs.digests)
            and all(
                (item["bytes"], item["sha256"]) == digest
                and all(field in item for field in INPUT_FIELDS)
                for item, digest in zip(receipt.inputs, inputs.digests, strict=True)
            )
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("receipt.unreadable", receipt=path.name, error=type(exc).__name__)
        return None
    if not fits:
        log.warning("receipt.mismatch", receipt=path.name)
        return None
    return receipt


def write_receipt(
    request: IngestRequest, settings: Settings, receipt_inputs: list[dict[str, Any]], **fields: Any
) -> None:
    """Record, atomically (temp file, fsync, rename), the dataset a successful ingest of
    ``request`` stored or found. ``receipt_inputs``: each input's :data:`INPUT_FIELDS` (and
    time column). A receipt that cannot be written is a storage failure like any other
    (STORAGE_FAILED); the dataset stays stored and the next ingest reads the file again."""
    digests = [(int(item["bytes"]), str(item["sha256"])) for item in receipt_inputs]
    key = receipt_key(request, settings, digests)
    receipt = Receipt(key=key, inputs=receipt_inputs, **fields)
    path = settings.layout.receipt(f"{sum(size for size, _ in digests)}-{key}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, canonical_file_bytes(receipt.to_json()))
    except OSError as exc:
        raise error(
            ErrorCode.STORAGE_FAILED,
            f"could not record the ingest receipt of dataset {receipt.dataset_id[:12]}: "
            f"{exc.strerror or type(exc).__name__}",
        ) from None

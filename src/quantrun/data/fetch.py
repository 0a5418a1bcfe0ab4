"""Fetch: a provider's archives, verified and cached, ingested as one dataset.

For each archive the request covers (:meth:`Provider.archives`), in order:

1. the cache (``RUNS_ROOT/cache/<provider>/`` in the host's layout) is asked first: an archive
   kept there beside its published checksum, and still matching it, is used without any
   network access;
2. otherwise its published checksum is fetched, then the archive, into a staging folder; its
   sha256 is compared with the published one and its members checked *before anything is
   unzipped*; only then is it moved into the cache (zip first, checksum last, each by an
   atomic rename), so the cache holds verified archives only.

Then every archive's one CSV is unzipped into a staging folder and handed to the same strict
:func:`~quantrun.data.ingest.ingest` as a local file, with the provider's dialect, producing one
dataset whose ``dataset.json`` records each archive's URL and sha256. The dataset id is the one
the same bars have from a local CSV (provenance is outside the id).

Failures raise a stable code and store no dataset and no partial file: staging folders are
removed whatever happens (a Ctrl-C included), and archives verified before a failure stay
cached, so the same request again resumes::

    result = fetch(BinanceFetchRequest(market="um", symbol="BTCUSDT", from_period="2024-01",
                                       to_period="2024-03"), settings)
    result.dataset_id, result.downloaded
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from quantrun.data.download import CHUNK, Transport
from quantrun.data.ingest import IngestResult, Provenance, QualitySummary, ingest, source_records
from quantrun.data.provider import (
    Archive,
    FetchProgress,
    FetchRequest,
    Provider,
    provider_class,
    public_url,
)
from quantrun.data.request import IngestRequest
from quantrun.durable import fsync_dir, fsync_file, replace_file
from quantrun.errors import Category, ErrorCode, QuantrunError, error
from quantrun.logs import get_logger
from quantrun.settings import Settings
from quantrun.staging import staging_dir

log = get_logger(__name__)

CHECKSUM_SUFFIX = ".CHECKSUM"


@dataclass(frozen=True)
class FetchedArchive:
    """One archive of a fetch, verified: where it is cached and whether it was downloaded."""

    archive: Archive
    sha256: str
    bytes: int
    downloaded: bool
    path: Path

    def provenance(self, provider: str) -> dict[str, Any]:
        """What the dataset records of this archive beside its CSV's own record."""
        return {
            "provider": provider,
            "url": public_url(self.archive.url),
            "archive": self.archive.name,
            "archive_sha256": self.sha256,
            "archive_bytes": self.bytes,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.archive.name,
            "period": self.archive.period,
            "url": public_url(self.archive.url),
            "sha256": self.sha256,
            "bytes": self.bytes,
            "downloaded": self.downloaded,
        }


@dataclass(frozen=True)
class FetchResult:
    """The dataset a fetch stored (or found stored) and the archives it came from."""

    provider: str
    origin: dict[str, Any]
    archives: list[FetchedArchive]
    ingested: IngestResult
    sources: list[dict[str, Any]]

    @property
    def dataset_id(self) -> str:
        return self.ingested.dataset_id

    @property
    def created(self) -> bool:
        return self.ingested.created

    @property
    def path(self) -> Path:
        return self.ingested.path

    @property
    def downloaded(self) -> int:
        """How many archives came over the network (0 when all were cached)."""
        return sum(a.downloaded for a in self.archives)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "request": self.origin,
            "dataset_id": self.dataset_id,
            "created": self.created,
            "path": str(self.path),
            "archives": [a.to_dict() for a in self.archives],
            "downloaded": self.downloaded,
            "sources": self.sources,
            "quality": QualitySummary.of(self.ingested.quality).to_dict(),
        }


class ArchiveCache:
    """Verified archives of one provider under ``RUNS_ROOT/cache/<provider>/``, each beside
    its published checksum file. An entry counts only while the archive still matches it."""

    def __init__(self, folder: Path, provider: Provider) -> None:
        self.folder = folder
        self.provider = provider

    def path(self, archive: Archive) -> Path:
        parts = PurePosixPath(archive.cache_path).parts
        if not parts or archive.cache_path.startswith("/") or ".." in parts:
            raise error(ErrorCode.INTERNAL, f"unsafe cache path for {archive.name!r}")
        return self.folder.joinpath(*parts)

    def lookup(self, archive: Archive) -> FetchedArchive | None:
        path = self.path(archive)
        checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
        try:
            expected = self.provider.parse_checksum(archive, checksum.read_bytes())
            size, actual = _hash_file(path)
        except (OSError, QuantrunError):
            return None
        if actual != expected:
            return None
        return FetchedArchive(archive, actual, size, False, path)

    def put(self, archive: Archive, staged: Path, published: bytes) -> Path:
        """Move a verified archive in, then write its checksum beside it (the entry's commit
        point: an archive without its checksum is not an entry)."""
        final = self.path(archive)
        final.parent.mkdir(parents=True, exist_ok=True)
        fsync_file(staged)
        staged.replace(final)
        fsync_dir(final.parent)
        replace_file(final.with_name(final.name + CHECKSUM_SUFFIX), published)
        return final


def fetch(
    provider_name: str,
    request: FetchRequest,
    settings: Settings,
    *,
    progress: FetchProgress | None = None,
    transport: Transport | None = None,
) -> FetchResult:
    """Fetch ``request``'s archives from the provider called ``provider_name`` and store them
    as one dataset. See the module docstring."""
    cls = provider_class(provider_name)
    if not isinstance(request, cls.request_model):
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"a {provider_name} fetch takes a {cls.request_model.__name__}",
        )
    provider = cls.from_settings(settings)
    report = progress or FetchProgress()
    transport = transport or Transport.from_settings(settings)
    cache = ArchiveCache(settings.layout.provider_cache(provider.name), provider)
    archives = provider.archives(request)
    report.planned(archives)
    fetched: list[FetchedArchive] = []
    for archive in archives:
        hit = cache.lookup(archive)
        if hit is not None:
            log.info("fetch.cached", archive=archive.name)
            report.cached(archive)
            fetched.append(hit)
            continue
        try:
            fetched.append(_download(provider, archive, cache, transport, settings, report))
        except OSError as exc:  # writing staging or the cache (the network's are caught inside)
            raise _storage_failed(exc) from None
    report.ingesting()
    try:
        return _ingest(provider, request, fetched, settings)
    except OSError as exc:
        raise _storage_failed(exc) from None


def _storage_failed(exc: OSError) -> QuantrunError:
    return error(
        ErrorCode.STORAGE_FAILED,
        f"could not write a fetched archive under RUNS_ROOT: {exc.strerror or type(exc).__name__}",
    )


def _download(
    provider: Provider,
    archive: Archive,
    cache: ArchiveCache,
    transport: Transport,
    settings: Settings,
    report: FetchProgress,
) -> FetchedArchive:
    with staging_dir(settings.runs_root, f"fetch-{provider.name}") as work:
        try:
            expected, published = provider.fetch_checksum(archive, transport)
        except QuantrunError as exc:
            if exc.code is ErrorCode.FETCH_NOT_FOUND:  # name the archive, not its checksum
                exc.detail = (
                    f"{archive.name} is not published: {public_url(archive.checksum_url)} "
                    f"answered HTTP {exc.extra.get('status', 404)}"
                )
            raise
        staged = work / "archive.zip"
        size, actual = provider.fetch(archive, staged, transport, report.downloading(archive))
        if actual != expected:
            raise error(
                ErrorCode.FETCH_CHECKSUM_MISMATCH,
                f"{archive.name} has sha256 {actual[:16]}…, the host publishes "
                f"{expected[:16]}… ({public_url(archive.url)})",
                extra={"url": public_url(archive.url), "expected": expected, "actual": actual},
            )
        provider.member(archive, staged, settings.max_input_bytes)
        final = cache.put(archive, staged, published)
    log.info("fetch.downloaded", archive=archive.name, bytes=size)
    report.verified(archive)
    return FetchedArchive(archive, actual, size, True, final)


def _ingest(
    provider: Provider, request: FetchRequest, fetched: list[FetchedArchive], settings: Settings
) -> FetchResult:
    members = [provider.member(f.archive, f.path, settings.max_input_bytes) for f in fetched]
    total = sum(info.file_size for info in members)
    if total > settings.max_input_bytes:
        raise error(
            ErrorCode.LIMIT_INPUT_SIZE,
            f"the archives unzip to {total:,} bytes; the limit is {settings.max_input_bytes:,} "
            "bytes",
            hint="Fetch a shorter range, or raise QUANTRUN_MAX_INPUT_BYTES if this machine can "
            "take it.",
            extra={"bytes": total, "limit": settings.max_input_bytes},
        )
    origin = provider.describe(request)
    provenance = Provenance(origin, [f.provenance(provider.name) for f in fetched])
    with staging_dir(settings.runs_root, f"fetch-{provider.name}-csv") as work:
        paths = [str(_unzip(f, info, work)) for f, info in zip(fetched, members, strict=True)]
        ingest_request = IngestRequest(
            paths=paths, symbol=request.symbol, timeframe=request.interval, format=provider.dialect
        )
        try:
            ingested = ingest(ingest_request, settings, provenance=provenance)
        except QuantrunError as exc:
            if exc.category is Category.INPUT:
                raise _rows_refused(exc, provider, fetched) from None
            raise
    sources = source_records(ingested.inspection.sources, provenance)
    log.info("fetch.stored", dataset_id=ingested.dataset_id, archives=len(fetched))
    return FetchResult(provider.name, origin, fetched, ingested, sources)


def _unzip(fetched: FetchedArchive, info: zipfile.ZipInfo, folder: Path) -> Path:
    """The archive's CSV, written under ``folder`` by its own (checked) name."""
    target = folder / fetched.archive.member
    try:
        with (
            zipfile.ZipFile(fetched.path) as bundle,
            bundle.open(info) as source,
            target.open("xb") as sink,
        ):
            shutil.copyfileobj(source, sink, CHUNK)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError):
        raise error(
            ErrorCode.FETCH_ARCHIVE_INVALID,
            f"{fetched.archive.name} could not be unzipped ({public_url(fetched.archive.url)})",
        ) from None
    return target


def _rows_refused(
    exc: QuantrunError, provider: Provider, fetched: list[FetchedArchive]
) -> QuantrunError:
    """An archive's rows failed a check: the same code and lines as for a local file, with
    the archives' addresses and what the user can do."""
    exc.extra = exc.extra | {"archives": [public_url(f.archive.url) for f in fetched]}
    exc.hint = (
        f"{exc.hint} `quantrun data fetch` reads archives as published and repairs nothing; "
        f"their verified copies stay under RUNS_ROOT/cache/{provider.name} (unzip one to see "
        "the rows named, or to `quantrun data ingest` it with a repair)."
    )
    return exc


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()

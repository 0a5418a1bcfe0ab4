"""Providers: public archives fetched, verified and handed to the same strict ingest as a file.

A provider adapter is the small part that differs from one data host to the next. It says

- which archives cover a requested range (:meth:`Provider.archives`: one per month or day);
- where an archive and its published checksum live, and how to fetch them
  (:meth:`Provider.fetch_checksum`, :meth:`Provider.fetch`; the defaults use the shared HTTP
  transport of ``data/download.py``: timeout, retries with backoff, truncation checks);
- how to read the published checksum (:meth:`Provider.parse_checksum`);
- which member of the archive is the data (:meth:`Provider.member`) and the CSV dialect it is
  written in (:attr:`Provider.dialect`).

Everything else (the cache under RUNS_ROOT, checksum verification before anything is unzipped,
staging, the ingest, the provenance recorded with the dataset) is ``data/fetch.py``'s and the
same for every provider. A provider's request is a :class:`FetchRequest` subclass whose fields
drive ``quantrun data fetch <provider>`` the way every request model drives its edges.

Light on purpose (no polars): the CLI imports this module and the adapters at start-up to
derive its commands. ``docs/providers.md`` shows how to add one.
"""

from __future__ import annotations

import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quantrun.data.dialect import Format
from quantrun.data.timeframe import TIMEFRAMES
from quantrun.errors import ErrorCode, error
from quantrun.fields import Edge

if TYPE_CHECKING:
    from quantrun.data.download import Transport
    from quantrun.settings import Settings

__all__ = [
    "SILENT",
    "Archive",
    "DownloadHook",
    "FetchProgress",
    "FetchRequest",
    "Provider",
    "provider_class",
    "provider_name_of",
    "providers",
    "public_url",
]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
#: A published checksum line: ``<sha256>  <file name>`` (sha256sum's text and binary forms).
_CHECKSUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *]?(\S+)\s*$")


def _timeframe_names() -> list[str]:
    return list(TIMEFRAMES)


def _parse_period(value: str, daily: bool, flag: str) -> date:
    """``YYYY-MM`` (the month's first day) or, with ``daily``, ``YYYY-MM-DD``."""
    pattern, form = (_DAY, "YYYY-MM-DD") if daily else (_MONTH, "YYYY-MM")
    match = pattern.match(value.strip())
    if match is None:
        other = " (a day needs --daily)" if not daily and _DAY.match(value.strip()) else ""
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"{flag} {value[:40]!r} is not {form}{other}",
            hint="Give months as 2024-01 (monthly archives) or days as 2024-01-15 with --daily.",
        )
    parts = [int(p) for p in match.groups()]
    try:
        return date(parts[0], parts[1], parts[2] if daily else 1)
    except ValueError:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION, f"{flag} {value[:40]!r} is not a calendar date"
        ) from None


class FetchRequest(BaseModel):
    """What to fetch: one symbol's archives over a range of months (or days). A provider
    subclasses it with its own fields (a market, say); every field reaches the CLI's
    ``data fetch <provider>`` options through its declaration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(description="Instrument as the provider names it, e.g. BTCUSDT.")
    interval: Annotated[str, Edge(choices=_timeframe_names)] = Field(
        default="1m",
        description="Bar length of the archives; the dataset's base timeframe.",
    )
    from_period: Annotated[str, Edge(flag="--from")] = Field(
        description="First month (YYYY-MM), or first day (YYYY-MM-DD) with --daily.",
    )
    to_period: Annotated[str | None, Edge(flag="--to")] = Field(
        default=None,
        description="Last month or day, included (default: the first).",
    )
    daily: bool = Field(default=False, description="Fetch daily archives instead of monthly.")

    @model_validator(mode="after")
    def _range(self) -> FetchRequest:
        self.periods()
        return self

    def periods(self) -> list[str]:
        """Every period from ``from_period`` to ``to_period``, in order (``2024-01``, or
        ``2024-01-15`` when daily)."""
        first = _parse_period(self.from_period, self.daily, "--from")
        last = _parse_period(self.to_period or self.from_period, self.daily, "--to")
        if last < first:
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"--to {self.to_period} is before --from {self.from_period}",
            )
        periods: list[str] = []
        current = first
        while current <= last:
            if self.daily:
                periods.append(current.isoformat())
                current += timedelta(days=1)
            else:
                periods.append(current.strftime("%Y-%m"))
                current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
        return periods


@dataclass(frozen=True)
class Archive:
    """One published archive: where it is, its checksum file, and what it must hold."""

    #: The archive's file name (``BTCUSDT-1m-2024-01.zip``).
    name: str
    #: The period it covers (``2024-01`` or ``2024-01-15``).
    period: str
    #: Its address, and its published checksum's.
    url: str
    checksum_url: str
    #: Where it is kept under the provider's cache folder (the host's own layout).
    cache_path: str
    #: The one file it must hold (``BTCUSDT-1m-2024-01.csv``).
    member: str


def public_url(url: str) -> str:
    """``url`` as it may be shown and recorded: without user name, password, query or
    fragment (a mirror's credentials never reach a message, a log or a dataset)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class DownloadHook(Protocol):
    """Told how one download goes: its expected size (None when the host does not say), then
    each chunk's size. Raising from it (KeyboardInterrupt, say) stops the download."""

    def started(self, total: int | None) -> None: ...

    def advanced(self, size: int) -> None: ...


class _Silent:
    def started(self, total: int | None) -> None:
        return None

    def advanced(self, size: int) -> None:
        return None


SILENT: DownloadHook = _Silent()


class FetchProgress:
    """What a fetch reports as it goes; every method does nothing here. The CLI's progress
    bars subclass it. An exception raised from a method (KeyboardInterrupt) stops the fetch
    as a Ctrl-C would: partial files are removed."""

    def planned(self, archives: Sequence[Archive]) -> None:
        """The archives the request covers, before any is looked at."""

    def cached(self, archive: Archive) -> None:
        """``archive`` was found in the cache, verified: nothing to download."""

    def downloading(self, archive: Archive) -> DownloadHook:
        """``archive`` is about to be downloaded; the hook hears its size and each chunk."""
        return SILENT

    def verified(self, archive: Archive) -> None:
        """``archive`` was downloaded, verified and moved into the cache."""

    def ingesting(self) -> None:
        """Every archive is ready; the CSVs are unzipped and ingested."""


class Provider(ABC):
    """A source of public archives. Subclasses set :attr:`name`, :attr:`request_model` and
    :attr:`dialect`, and implement :meth:`archives`, :meth:`parse_checksum` and
    :meth:`from_settings`; the other methods have defaults that fit a static HTTP host."""

    #: The provider's name: its cache folder and its ``data fetch`` command.
    name: ClassVar[str]
    #: One line for ``data fetch --help``.
    summary: ClassVar[str]
    #: The request model its command and API calls take.
    request_model: ClassVar[type[FetchRequest]]
    #: The CSV dialect of the archives' member files.
    dialect: ClassVar[Format]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """The adapter configured from settings (its base URL, say)."""

    @abstractmethod
    def archives(self, request: FetchRequest) -> list[Archive]:
        """The archives that cover ``request``'s range, in time order. Pure: no I/O (a
        period the host never published is found when its download answers 404)."""

    @abstractmethod
    def parse_checksum(self, archive: Archive, published: bytes) -> str:
        """The lower-case sha256 the host publishes for ``archive``; FETCH_CHECKSUM_MISMATCH
        when the checksum file cannot be read or names another file."""

    def fetch_checksum(self, archive: Archive, transport: Transport) -> tuple[str, bytes]:
        """Fetch and read the published checksum: (sha256, the checksum file's bytes)."""
        published = transport.get(archive.checksum_url)
        return self.parse_checksum(archive, published), published

    def fetch(
        self, archive: Archive, destination: Path, transport: Transport, hook: DownloadHook
    ) -> tuple[int, str]:
        """Download the archive to ``destination`` (a new file): (bytes, sha256)."""
        return transport.download(archive.url, destination, hook)

    def member(self, archive: Archive, path: Path, max_bytes: int) -> zipfile.ZipInfo:
        """The archive's data member, checked: a zip holding exactly ``archive.member`` (a
        plain name, no folders), no larger than ``max_bytes`` once unzipped."""
        try:
            with zipfile.ZipFile(path) as bundle:
                infos = bundle.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise error(
                ErrorCode.FETCH_ARCHIVE_INVALID,
                f"{archive.name} is not a readable zip archive ({public_url(archive.url)})",
            ) from None
        names = [info.filename for info in infos]
        if names != [archive.member]:
            shown = ", ".join(repr(n[:80]) for n in names[:5]) or "nothing"
            raise error(
                ErrorCode.FETCH_ARCHIVE_INVALID,
                f"{archive.name} holds {shown}; expected only {archive.member!r} "
                f"({public_url(archive.url)})",
                extra={"members": [n[:200] for n in names[:20]]},
            )
        info = infos[0]
        if info.file_size > max_bytes:
            raise error(
                ErrorCode.LIMIT_INPUT_SIZE,
                f"{archive.member} unzips to {info.file_size:,} bytes; the limit is "
                f"{max_bytes:,} bytes",
                extra={"bytes": info.file_size, "limit": max_bytes},
            )
        return info

    def checksum_from_line(self, archive: Archive, published: bytes) -> str:
        """The sha256 of a ``sha256sum``-style line naming ``archive.name`` (a helper for
        :meth:`parse_checksum`)."""
        text = published.decode("utf-8", "replace").strip()
        lines = [line for line in text.splitlines() if line.strip()]
        match = _CHECKSUM_LINE.match(lines[0]) if len(lines) == 1 else None
        if match is None or match.group(2) != archive.name:
            raise error(
                ErrorCode.FETCH_CHECKSUM_MISMATCH,
                f"the published checksum of {archive.name} is not one line "
                f"'<sha256>  {archive.name}' ({public_url(archive.checksum_url)})",
            )
        return match.group(1).lower()

    def describe(self, request: FetchRequest) -> dict[str, Any]:
        """What the dataset records of the request (the provider and its fields)."""
        return {"provider": self.name, **request.model_dump(mode="json")}


def providers() -> dict[str, type[Provider]]:
    """Every registered provider by name. A new adapter adds one line here."""
    from quantrun.data.binance import BinanceProvider

    return {cls.name: cls for cls in (BinanceProvider,)}


def provider_name_of(request: FetchRequest) -> str:
    """The name of the provider whose request model ``request`` is."""
    for name, cls in providers().items():
        if type(request) is cls.request_model:
            return name
    raise error(
        ErrorCode.USAGE_INVALID_OPTION,
        f"no provider takes a {type(request).__name__}; pass the provider's name",
    )


def provider_class(name: str) -> type[Provider]:
    """The provider called ``name``; USAGE_INVALID_OPTION for an unknown one."""
    known = providers()
    if name not in known:
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"unknown provider {name[:40]!r}; known: {', '.join(sorted(known))}",
        )
    return known[name]

"""HTTP downloads for providers: a timeout, retries with backoff, truncation checks, progress.

Standard library only (``urllib.request``). A transient failure (a timeout, a refused, reset
or dropped connection, HTTP 5xx, 408 or 429, a body shorter than its ``Content-Length``) is
retried ``retries`` times, waiting ``backoff``, then twice that, and so on; what is left
becomes one stable code naming the URL:

    FETCH_NOT_FOUND     HTTP 404 or 410 (never retried)
    FETCH_TRUNCATED     the body ended early on the last attempt
    FETCH_UNREACHABLE   anything else (no connection, timeouts, other HTTP statuses)

A download is written to a new file the caller names (in a staging folder) and hashed as it
arrives; the caller verifies and moves it. Nothing here decides what a file means.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from quantrun.data.provider import SILENT, DownloadHook, public_url
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import get_logger
from quantrun.version import __version__

if TYPE_CHECKING:
    from quantrun.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")

#: Most bytes read at a time (as soon as any arrive); how often the progress hook hears.
CHUNK = 1 << 16
#: The most a small file (a checksum) may be.
SMALL_FILE_BYTES = 1 << 16
#: HTTP statuses worth another attempt.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Transient(Exception):
    """One failed attempt that another may fix."""

    def __init__(self, reason: str, truncated: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.truncated = truncated


@dataclass(frozen=True)
class Transport:
    """GET with a timeout and retries. ``sleep`` is replaceable for tests."""

    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0
    max_bytes: int = 1 << 30
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Transport:
        return cls(
            timeout=settings.fetch_timeout_seconds,
            retries=settings.fetch_retries,
            backoff=settings.fetch_backoff_seconds,
            max_bytes=settings.max_input_bytes,
        )

    def get(self, url: str, limit: int = SMALL_FILE_BYTES) -> bytes:
        """A small file's bytes (a published checksum)."""

        def once() -> bytes:
            chunks: list[bytes] = []
            self._stream(url, limit, SILENT, chunks.append)
            return b"".join(chunks)

        return self._retried(url, once)

    def download(self, url: str, destination: Path, hook: DownloadHook = SILENT) -> tuple[int, str]:
        """Stream ``url`` into ``destination`` (created anew on each attempt): (bytes,
        sha256). On failure the file may be left partial: it lives in the caller's staging
        folder, which is removed whatever happens."""

        def once() -> tuple[int, str]:
            digest = hashlib.sha256()
            with destination.open("wb") as sink:

                def write(chunk: bytes) -> None:
                    sink.write(chunk)
                    digest.update(chunk)

                size = self._stream(url, self.max_bytes, hook, write)
            return size, digest.hexdigest()

        return self._retried(url, once)

    # -- one attempt --------------------------------------------------------------------------
    def _stream(
        self, url: str, limit: int, hook: DownloadHook, sink: Callable[[bytes], object]
    ) -> int:
        """One GET of ``url``, each chunk handed to ``sink``; the bytes received."""
        address, headers = _without_credentials(url)
        headers["User-Agent"] = f"quantrun/{__version__}"
        request = urllib.request.Request(address, headers=headers)
        try:
            response = _opener(url).open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _status_error(url, exc.code, exc.reason) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _Transient(_reason(exc)) from None
        with response:
            length = _content_length(response.headers.get("Content-Length"))
            if length is not None and length > limit:
                raise _too_large(url, length, limit)
            hook.started(length)
            received = 0
            while True:
                try:
                    chunk = response.read1(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(_reason(exc), truncated=received > 0) from None
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise _too_large(url, received, limit)
                sink(chunk)
                hook.advanced(len(chunk))
        if length is not None and received != length:
            raise _Transient(f"received {received:,} of {length:,} bytes", truncated=True)
        return received

    def _retried(self, url: str, attempt: Callable[[], T]) -> T:
        failure: _Transient | None = None
        for number in range(self.retries + 1):
            if number:
                self.sleep(self.backoff * 2 ** (number - 1))
            try:
                return attempt()
            except _Transient as exc:
                failure = exc
                log.info("fetch.retry", url=public_url(url), attempt=number + 1, reason=exc.reason)
        assert failure is not None
        attempts = self.retries + 1
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        if failure.truncated:
            raise error(
                ErrorCode.FETCH_TRUNCATED,
                f"{public_url(url)}: the download was cut short ({failure.reason}; {tries})",
                extra={"url": public_url(url)},
            )
        raise error(
            ErrorCode.FETCH_UNREACHABLE,
            f"{public_url(url)}: {failure.reason} ({tries})",
            extra={"url": public_url(url)},
        )


def _without_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without a user name and password, and the Basic authorisation header that
    carries them instead (urllib does not read them from the address)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    netloc = parts.netloc.rsplit("@", 1)[1]
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    header = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=netloc)), {"Authorization": header}


def _opener(url: str) -> urllib.request.OpenerDirector:
    """urllib's default opener (which honours the usual proxy variables), without proxies
    for a loopback host."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _status_error(url: str, status: int, reason: str) -> Exception:
    shown = public_url(url)
    if status in (404, 410):
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        return error(
            ErrorCode.FETCH_NOT_FOUND,
            f"{name} is not published: {shown} answered HTTP {status}",
            extra={"url": shown, "status": status},
        )
    if status in TRANSIENT_STATUSES:
        return _Transient(f"HTTP {status} {reason}".strip())
    return error(
        ErrorCode.FETCH_UNREACHABLE,
        f"{shown} answered HTTP {status} {reason}".strip(),
        extra={"url": shown, "status": status},
    )


def _reason(exc: BaseException) -> str:
    """A short, path-free reason for a failed attempt."""
    inner: BaseException = exc
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        inner = exc.reason
    if isinstance(inner, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, socket.gaierror):
        return "host name not found"
    if isinstance(inner, ConnectionResetError):
        return "connection reset"
    if isinstance(inner, http.client.RemoteDisconnected):
        return "the host closed the connection"
    if isinstance(inner, http.client.IncompleteRead):
        return "the host closed the connection early"
    if isinstance(inner, urllib.error.URLError):
        return str(inner.reason)[:120]
    return type(inner).__name__


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _too_large(url: str, size: int, limit: int) -> QuantrunError:
    return error(
        ErrorCode.LIMIT_INPUT_SIZE,
        f"{public_url(url)} is {size:,} bytes or more; the limit is {limit:,} bytes",
        extra={"bytes": size, "limit": limit},
    )

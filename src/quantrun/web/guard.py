"""The service's gate: every HTTP request passes these checks before any route sees it.

In order, each failure answered with the stable code (problem+json under ``/api/``, the error
page elsewhere):

1. **Host allowlist** (``HOST_NOT_ALLOWED``): the ``Host`` header must name an allowed host, so a
   DNS-rebinding page (evil.example resolving to 127.0.0.1) cannot read or write the service.
2. **Cross-site requests** (``CSRF_REJECTED``) on state-changing methods: a request carrying
   browser markers (``Origin`` or ``Sec-Fetch-Site``) must be same-origin *and* carry the
   ``X-Quantrun-Client`` header, which a cross-site form cannot send and a cross-site script
   cannot send without a CORS preflight this service never grants. Scripts (curl, httpx) send
   no browser markers and are not affected.
3. **Rate limit** (``LIMIT_RATE``, 429 + ``Retry-After``) on ``POST /api/v1/...``, per peer
   address, checked before the body is read.
4. **Body size** (``LIMIT_INPUT_SIZE``, 413) on every request with a body: a declared
   ``Content-Length`` over the limit is refused before a byte is read; a chunked (or lying)
   body is counted as it streams and cut off at the limit. Nothing is buffered beyond the
   limit and nothing is left on disk (the form parser's spool file is anonymous).

Every answer, refusals included, also carries :data:`SECURITY_HEADERS`.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.logs import get_logger
from quantrun.settings import Settings
from quantrun.web.ratelimit import RateLimiter
from quantrun.web.responses import error_response

log = get_logger(__name__)

CLIENT_HEADER = "x-quantrun-client"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})
#: Room for the form fields and multipart framing around an upload of ``max_input_bytes``.
FORM_OVERHEAD = 64 * 1024
RATE_LIMITED_PREFIX = "/api/v1/"


def host_name(host_header: str) -> str:
    """``Host`` without its port, lower-case: ``LocalHost:8000`` → ``localhost``,
    ``[::1]:8000`` → ``[::1]``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.split(":", 1)[0]


class _BodyTooLarge(Exception):
    pass


#: On every answer: no MIME sniffing (an artifact is never run as a script), no framing (the
#: upload form cannot be clickjacked), no Referer with run ids to other sites.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"same-origin"),
)


def _with_security_headers(send: Send) -> Send:
    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
        await send(message)

    return secured


class Guard:
    """Pure ASGI middleware (no buffering of bodies, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp, settings: Settings, limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        self.allowed = settings.allowed_host_names
        self.body_limit = settings.max_input_bytes + FORM_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        request = Request(scope)
        try:
            self._check_host(request)
            if request.method in UNSAFE_METHODS:
                self._check_origin(request)
                self._check_rate(request)
            self._check_declared_length(request)
        except QuantrunError as exc:
            await self._answer(scope, send, exc)
            return
        await self._call_counted(scope, receive, send)

    # -- checks -----------------------------------------------------------------------------
    def _check_host(self, request: Request) -> None:
        if "*" in self.allowed:
            return
        name = host_name(request.headers.get("host", ""))
        if name not in self.allowed:
            raise error(
                ErrorCode.HOST_NOT_ALLOWED,
                f"host {name[:100]!r} is not one this service answers to",
            )

    def _check_origin(self, request: Request) -> None:
        fetch_site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if fetch_site is None and origin is None:
            return  # not a browser: a script or the CLI's own client
        if fetch_site is not None and fetch_site.lower() not in SAME_ORIGIN_FETCH:
            raise error(ErrorCode.CSRF_REJECTED, f"a {fetch_site[:40]} request was refused")
        if origin is not None:
            host = request.headers.get("host", "").lower()
            if origin == "null" or urlsplit(origin.lower()).netloc != host:
                raise error(ErrorCode.CSRF_REJECTED, f"origin {origin[:100]!r} is not this service")
        if CLIENT_HEADER not in request.headers:
            raise error(
                ErrorCode.CSRF_REJECTED,
                "a browser request without the X-Quantrun-Client header was refused",
            )

    def _check_rate(self, request: Request) -> None:
        if not request.url.path.startswith(RATE_LIMITED_PREFIX):
            return
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.take(client)
        if wait > 0:
            seconds = self.limiter.retry_after(wait)
            log.info("request.rate_limited", client=client, retry_after=seconds)
            raise error(
                ErrorCode.LIMIT_RATE,
                f"more than {self.settings.rate_limit_per_minute} requests a minute; "
                f"try again in {seconds} s",
                extra={"retry_after": seconds, "headers": {"Retry-After": seconds}},
            )

    def _check_declared_length(self, request: Request) -> None:
        raw = request.headers.get("content-length")
        if raw is None:
            return
        try:
            declared = int(raw)
        except ValueError:
            raise error(ErrorCode.USAGE_INVALID_OPTION, "invalid Content-Length") from None
        if declared > self.body_limit:
            raise self._too_large()

    def _too_large(self) -> QuantrunError:
        limit = self.settings.max_input_bytes
        return error(
            ErrorCode.LIMIT_INPUT_SIZE,
            f"upload is larger than the limit of {limit:,} bytes",
            extra={"limit": limit, "headers": {"Connection": "close"}},
        )

    # -- streaming --------------------------------------------------------------------------
    async def _call_counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting body bytes; past the limit, answer 413 and stop the app."""
        received = 0
        started = False
        cut_off = False

        async def counted_receive() -> Message:
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit:
                    cut_off = True
                    raise _BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if cut_off:
                return  # the 413 has been (or will be) sent; the app's answer is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception:
            if not cut_off:
                raise
        if cut_off and not started:
            log.info("request.body_cut_off", limit=self.settings.max_input_bytes)
            await self._answer(scope, send, self._too_large())

    async def _answer(self, scope: Scope, send: Send, exc: QuantrunError) -> None:
        response = error_response(Request(scope), exc)

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        with contextlib.suppress(OSError):
            await response(scope, no_body, send)

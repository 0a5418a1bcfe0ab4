"""Request ids and one structured log line per request.

Every request gets a fresh id, bound to the log context (so the core's log lines carry it)
and returned as ``X-Request-ID``. When the answer is sent, ``request.finished`` is logged with
method, route path, status, bytes and duration — never the query string's values, headers,
cookies or bodies.
"""

from __future__ import annotations

import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantrun.logs import bound, get_logger

log = get_logger(__name__)


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        sent = 0

        async def logged_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        client = scope.get("client")
        with bound(request_id=request_id):
            try:
                await self.app(scope, receive, logged_send)
            finally:
                log.info(
                    "request.finished",
                    method=scope.get("method"),
                    path=str(scope.get("path", ""))[:200],
                    status=status or 500,
                    bytes=sent,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                    client=client[0] if client else None,
                )

"""Structured logs: JSON lines through the standard ``logging`` machinery.

Core modules log with ``get_logger(__name__)``; nothing is printed until an edge calls
:func:`configure` (so a notebook importing quantrun stays quiet). Never log secrets or the
contents of an upload: log ids, counts and codes.

structlog (about 0.1 s to import: it pulls in asyncio and its console renderer) is imported by
the first record that is actually written, or the first :func:`bound` block: a command whose
logs all fall below the configured level (the default, ``warning``, for a successful run)
never imports it. A record below the level is dropped before structlog would see it; structlog
would run its processors and then drop it in ``logging``, printing nothing either (D49).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_processors: list[Any] | None = None


def _structlog_processors() -> list[Any]:
    global _processors
    if _processors is None:
        import structlog

        # Built whole, then assigned: two threads racing here build two equal lists.
        _processors = [
            # Ids bound for the current request or job (:func:`bound`).
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(sort_keys=True),
        ]
    return _processors


class Logger:
    """A structlog ``stdlib.BoundLogger`` writing JSON through ``logging.getLogger(name)``,
    built on the first record the standard logger would write."""

    __slots__ = ("_bound", "_std")

    def __init__(self, name: str) -> None:
        self._std = logging.getLogger(name)
        self._bound: Any = None

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if not self._std.isEnabledFor(level):
            return
        if self._bound is None:
            import structlog

            self._bound = structlog.wrap_logger(
                self._std,
                processors=_structlog_processors(),
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        getattr(self._bound, method)(event, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "error", event, fields)


def get_logger(name: str) -> Logger:
    """A logger writing JSON through ``logging.getLogger(name)``."""
    return Logger(name)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Every record written inside the block carries ``ids`` (a request's or a job's id)."""
    import structlog

    with structlog.contextvars.bound_contextvars(**ids):
        yield


def configure(level: str, stream: TextIO | None = None) -> None:
    """Send quantrun's logs at ``level`` and above to ``stream`` (stderr by default)."""
    logger = logging.getLogger("quantrun")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def preload() -> None:
    """Import structlog now (a long-lived process that starts commands, the daemon, pays it
    once for all of them)."""
    _structlog_processors()

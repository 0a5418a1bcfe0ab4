"""Structured logs: JSON lines through the standard ``logging`` machinery.

Core modules log with ``get_logger(__name__)``; nothing is printed until an edge calls
:func:`configure` (so a notebook importing quantrun stays quiet). Never log secrets or the
contents of an upload: log ids, counts and codes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_PROCESSORS: list[Any] = [
    # Ids bound for the current request or job (structlog.contextvars.bound_contextvars).
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.JSONRenderer(sort_keys=True),
]


def get_logger(name: str) -> Any:
    """A structlog logger writing JSON through ``logging.getLogger(name)``."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=_PROCESSORS,
        wrapper_class=structlog.stdlib.BoundLogger,
    )


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

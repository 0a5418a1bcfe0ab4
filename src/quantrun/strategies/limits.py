"""A time limit for a user's strategy code: a run whose signals hang is stopped.

The limit uses the process's real-time interval timer (``SIGALRM``), so it holds where the
build runs on the main thread: the CLI, a web job's worker process, a sweep's worker process.
Elsewhere (a build on another thread) no limit applies; the setting's documentation says so.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from quantrun.errors import ErrorCode, error


class _Expired(BaseException):
    """Raised inside the user's code when the limit expires (a BaseException, so a user's
    ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise STRATEGY_TIMEOUT if the block runs longer than ``seconds`` (None: no limit)."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise error(
            ErrorCode.STRATEGY_TIMEOUT,
            f"{what} did not finish within {seconds:g} s",
            extra={"limit_seconds": seconds},
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

"""A per-client token bucket for the API's run-creation requests.

Each client (peer address) has a bucket of ``per_minute`` tokens that refills continuously at
``per_minute / 60`` tokens a second; a request takes one token or is refused with the whole
seconds to wait until the next one::

    limiter = RateLimiter(per_minute=30)
    wait = limiter.take("127.0.0.1")     # 0.0 = allowed, otherwise seconds until a token

In memory and per process: a restart forgives everyone, which is fine for a local service.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

#: Buckets idle this long are full again and are dropped, so memory stays bounded.
IDLE_SECONDS = 120.0
MAX_CLIENTS = 10_000


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def take(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when allowed, else the seconds until one is free."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                self._prune(now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def retry_after(self, wait: float) -> int:
        """The Retry-After header value: whole seconds, at least 1."""
        return max(1, math.ceil(wait))

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= MAX_CLIENTS:
            return
        for client, (_tokens, last) in list(self._buckets.items()):
            if now - last > IDLE_SECONDS:
                del self._buckets[client]

"""Build slots: at most ``max_concurrent_jobs`` runs are built at once in one RUNS_ROOT.

The limit lives at the builder, so every edge obeys it — the CLI, the Python API and the web
worker alike, across processes. A slot is an OS file lock on ``control/build-slots/slot-<k>``;
it is released when the holder exits or dies, so a killed build never leaks one::

    with BuildSlots(runs_root, 2).hold(wait=0.0):     # refuse at once when all are busy
        ...
    with BuildSlots(runs_root, 2).hold(wait=None):    # wait (the web worker's jobs)
        ...
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from quantrun.errors import ErrorCode, error
from quantrun.layout import Layout

POLL_SECONDS = 0.2


class BuildSlots:
    def __init__(self, runs_root: Path, count: int) -> None:
        self.folder = Layout(runs_root).build_slots
        self.count = count

    def _try_each(self) -> FileLock | None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for k in range(self.count):
                lock = FileLock(str(self.folder / f"slot-{k}.lock"), timeout=0)
                try:
                    lock.acquire()
                except Timeout:
                    continue
                return lock
        except OSError as exc:
            raise error(
                ErrorCode.STORAGE_FAILED,
                f"could not take a build slot: {exc.strerror or type(exc).__name__}",
            ) from None
        return None

    def busy(self) -> int:
        """How many slots are held right now (by any process)."""
        if not self.folder.is_dir():
            return 0
        held = 0
        for k in range(self.count):
            lock = FileLock(str(self.folder / f"slot-{k}.lock"), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                held += 1
            else:
                lock.release()
        return held

    @contextlib.contextmanager
    def hold(
        self,
        wait: float | None = 0.0,
        on_wait: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[None]:
        """Hold a slot for the ``with`` body. ``wait`` seconds at most (None: until one is
        free), then LIMIT_CONCURRENT_BUILDS. ``on_wait`` is called once if we have to wait."""
        deadline = None if wait is None else time.monotonic() + wait
        lock = self._try_each()
        if lock is None and on_wait is not None:
            on_wait()
        while lock is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise error(
                    ErrorCode.LIMIT_CONCURRENT_BUILDS,
                    f"{self.count} run(s) are already being built in this RUNS_ROOT",
                    extra={"limit": self.count},
                )
            sleep(POLL_SECONDS)
            lock = self._try_each()
        try:
            yield
        finally:
            lock.release()

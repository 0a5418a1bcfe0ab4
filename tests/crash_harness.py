"""Fault injection for run creation: intercept one filesystem primitive at a time.

In-process (tests/test_registry_faults.py), :func:`injected` patches a primitive so that every
call touching a RUNS_ROOT first runs a hook, which counts the call, raises ``OSError`` at the
Nth one, or ends the process there. As a script it creates one run in a fresh interpreter and,
when asked, dies with ``os._exit(137)`` (a simulated crash: no ``finally``, no flush, no
cleanup) just before or just after the Nth call of a primitive::

    python tests/crash_harness.py ROOT CSV [--fast 5 --slow 20] [--ready] [--stretch 0.02]
        [--primitive rename --match /runs/ --at 1 --when after]

On success it prints one JSON object ``{"run_id", "created", "index_writes"}`` on stdout. With
``--ready`` it first prints ``ready`` and waits for a line on stdin, so a test can start several
creators at the same instant, or time a SIGKILL from the start of the creation itself.

Primitives (the names the tests enumerate):

``write_bytes``, ``fsync_dir``, ``replace_file``
    the functions of :mod:`quantrun.durable`, patched in every ``quantrun`` module that
    imported them (``from quantrun.durable import ...`` binds a module-level name);
``rename``
    ``pathlib.Path.rename`` whose target lies in ``ROOT/runs`` or ``ROOT/datasets`` (the
    dataset and run publication renames);
``mkdir``
    ``pathlib.Path.mkdir`` of ``ROOT`` or anything under it (filelock's own parent-directory
    creation included);
``os_replace``
    ``os.replace`` whose destination is under ``ROOT`` (the index commit);
``fsync``
    ``os.fsync`` of a descriptor whose path (``/proc/self/fd``) is under ``ROOT``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import pathlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The modules that bind a durable function (``from quantrun.durable import ...``) are imported
# here, not on first use: one first imported while a primitive is patched would keep the patch
# for good (quantrun.api imports its modules lazily).
import quantrun.data.receipt
import quantrun.data.store
import quantrun.durable
import quantrun.runs.builder
from quantrun.api import create_run
from quantrun.runs.registry import Registry
from quantrun.settings import Settings

PRIMITIVES = (
    "write_bytes",
    "fsync_dir",
    "replace_file",
    "rename",
    "mkdir",
    "os_replace",
    "fsync",
)
DURABLE_FUNCTIONS = ("write_bytes", "fsync_dir", "replace_file")
CRASH_STATUS = 137

SYMBOL = "BTCUSDT"
STRATEGY = "sma_crossover"
TIMEFRAME = "5m"

#: Called with (call number from 1, the path the call touches), before or after the real call.
Hook = Callable[[int, str], None]


def noop(n: int, what: str) -> None:
    return None


def _under(path: str | os.PathLike[str], root: Path) -> bool:
    absolute = Path(path).absolute()
    return absolute == root or absolute.is_relative_to(root)


def _fd_path(fd: int) -> str:
    try:
        return str(Path(f"/proc/self/fd/{fd}").readlink())
    except OSError:
        return ""


def _durable_bindings(name: str) -> list[tuple[Any, Any]]:
    """Every (module, original) where a loaded quantrun module binds durable.<name>."""
    original = getattr(quantrun.durable, name)
    found = []
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "quantrun" or module_name.startswith("quantrun.")):
            continue
        if getattr(module, name, None) is original:
            found.append((module, original))
    return found


@contextlib.contextmanager
def injected(
    primitive: str,
    root: Path,
    before: Hook = noop,
    after: Hook = noop,
) -> Iterator[list[str]]:
    """Patch ``primitive`` while the block runs; yield the list of the calls it counted.

    Only calls touching ``root`` are counted (and hooked). ``before`` may raise or end the
    process, in which case the real call never happens.
    """
    if primitive not in PRIMITIVES:
        raise ValueError(f"unknown primitive {primitive!r}")
    root = root.absolute()
    real_root = root.resolve()
    calls: list[str] = []

    def counted(what: str) -> int:
        calls.append(what)
        return len(calls)

    restore: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, replacement: Any) -> None:
        restore.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    if primitive in DURABLE_FUNCTIONS:
        bindings = _durable_bindings(primitive)
        original = bindings[0][1]

        def durable_wrapper(path: Path, *args: Any, **kwargs: Any) -> Any:
            if not _under(path, root):
                return original(path, *args, **kwargs)
            n = counted(f"{primitive} {path}")
            before(n, str(path))
            result = original(path, *args, **kwargs)
            after(n, str(path))
            return result

        for module, _ in bindings:
            patch(module, primitive, durable_wrapper)
    elif primitive == "rename":
        real_rename = pathlib.Path.rename
        targets = (root / "runs", root / "datasets")

        def rename_wrapper(self: Path, target: Any) -> Any:
            parent = Path(target).absolute().parent
            if parent not in targets:
                return real_rename(self, target)
            n = counted(f"rename {self} -> {target}")
            before(n, str(target))
            result = real_rename(self, target)
            after(n, str(target))
            return result

        patch(pathlib.Path, "rename", rename_wrapper)
    elif primitive == "mkdir":
        real_mkdir = pathlib.Path.mkdir

        def mkdir_wrapper(self: Path, *args: Any, **kwargs: Any) -> None:
            if not _under(self, root):
                real_mkdir(self, *args, **kwargs)
                return
            n = counted(f"mkdir {self}")
            before(n, str(self))
            real_mkdir(self, *args, **kwargs)
            after(n, str(self))

        patch(pathlib.Path, "mkdir", mkdir_wrapper)
    elif primitive == "os_replace":
        real_replace = os.replace

        def replace_wrapper(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if not isinstance(dst, str | os.PathLike) or not _under(dst, root):
                real_replace(src, dst, *args, **kwargs)
                return
            n = counted(f"os.replace {src} -> {dst}")
            before(n, str(dst))
            real_replace(src, dst, *args, **kwargs)
            after(n, str(dst))

        patch(os, "replace", replace_wrapper)
    else:  # fsync
        real_fsync = os.fsync

        def fsync_wrapper(fd: Any) -> None:
            target = _fd_path(fd) if isinstance(fd, int) else ""
            if not target or not _under(target, real_root):
                real_fsync(fd)
                return
            n = counted(f"fsync {target}")
            before(n, target)
            real_fsync(fd)
            after(n, target)

        patch(os, "fsync", fsync_wrapper)
    try:
        yield calls
    finally:
        for owner, name, value in reversed(restore):
            setattr(owner, name, value)


def _nth_matching(at: int, match: str) -> Callable[[str], bool]:
    """A predicate true exactly at the ``at``-th call whose description contains ``match``."""
    seen = [0]

    def hit(what: str) -> bool:
        if match not in what:
            return False
        seen[0] += 1
        return seen[0] == at

    return hit


def fail_at(at: int, match: str = "") -> Hook:
    """A hook raising ``OSError(EIO)`` (a disk error) at the ``at``-th (matching) call."""
    hit = _nth_matching(at, match)

    def hook(n: int, what: str) -> None:
        if hit(what):
            raise OSError(errno.EIO, f"injected failure #{at}", what)

    return hook


def crash_at(at: int, match: str = "") -> Hook:
    """A hook ending the process at the ``at``-th (matching) call: no cleanup runs."""
    hit = _nth_matching(at, match)

    def hook(n: int, what: str) -> None:
        if hit(what):
            os._exit(CRASH_STATUS)

    return hook


def pause(seconds: float) -> Hook:
    """A hook sleeping before every call (stretches time; changes nothing else)."""

    def hook(n: int, what: str) -> None:
        time.sleep(seconds)

    return hook


def write_wave_csv(path: Path, rows: int = 400, phase: float = 0.0) -> Path:
    """``rows`` valid 1-minute bars from 2024-01-01 whose closes swing (so SMAs cross)."""
    t0_ms = 1_704_067_200_000
    lines = ["time,open,high,low,close,volume"]
    for i in range(rows):
        o = 100 + 8 * math.sin(i / 12 + phase) + i * 0.01
        c = 100 + 8 * math.sin((i + 1) / 12 + phase) + (i + 1) * 0.01
        h, low = max(o, c) + 0.3, min(o, c) - 0.3
        lines.append(f"{t0_ms + i * 60_000},{o:.4f},{h:.4f},{low:.4f},{c:.4f},{10 + i % 7}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def create(csv: Path, root: Path, fast: int = 5, slow: int = 20) -> dict[str, Any]:
    """Create the test run (sma_crossover fast/slow on 5m bars) under ``root``."""
    result = create_run(
        [str(csv)],
        symbol=SYMBOL,
        strategy=STRATEGY,
        params={"fast": fast, "slow": slow},
        timeframe=TIMEFRAME,
        # The races test the registry, so every creator must get a build slot at once.
        settings=Settings(runs_root=root, max_concurrent_jobs=64),
    )
    return {"run_id": result.run_id, "created": result.created}


@contextlib.contextmanager
def counting_index_writes() -> Iterator[list[int]]:
    """Count this process's index writes (each must bump the generation by exactly one)."""
    writes: list[int] = []
    real = Registry._write_index

    def wrapper(self: Registry, runs: dict[str, Any], generation: int) -> None:
        real(self, runs, generation)
        writes.append(generation)

    Registry._write_index = wrapper  # type: ignore[method-assign]
    try:
        yield writes
    finally:
        Registry._write_index = real  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create one run; optionally crash on the way.")
    parser.add_argument("root", type=Path)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--fast", type=int, default=5)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--primitive", choices=PRIMITIVES, default=None, help="crash in this")
    parser.add_argument("--at", type=int, default=1, help="at its Nth (matching) call, from 1")
    parser.add_argument("--match", default="", help="count only calls whose path contains this")
    parser.add_argument("--when", choices=("before", "after"), default="before")
    parser.add_argument(
        "--stretch",
        type=float,
        default=0.0,
        help="sleep this long (s) before every fsync under ROOT: widens the write phase so a "
        "SIGKILL at a random instant lands in it more often",
    )
    parser.add_argument(
        "--ready",
        action="store_true",
        help="print 'ready' once imported, then wait for a line on stdin before creating",
    )
    args = parser.parse_args(argv)
    if args.ready:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdin.readline()
    with contextlib.ExitStack() as stack:
        writes = stack.enter_context(counting_index_writes())
        if args.stretch > 0:
            stack.enter_context(injected("fsync", args.root, pause(args.stretch)))
        if args.primitive is not None:
            hook = crash_at(args.at, args.match)
            hooks = {"before": hook} if args.when == "before" else {"after": hook}
            stack.enter_context(injected(args.primitive, args.root, **hooks))
        outcome = create(args.csv, args.root, args.fast, args.slow)
    outcome["index_writes"] = len(writes)
    sys.stdout.write(json.dumps(outcome) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

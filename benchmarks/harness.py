"""What the benchmark scripts share: where results go, the machine they ran on, the statistics
of a case's samples, one timed fresh process, and the round-robin order of the cases.

    for rep, case in round_robin(cases, repeat=3, warmup=1):
        finished = run_process(argv(case))      # wall time and peak RSS of a fresh process
        if rep >= 0:                            # negative: an untimed warm-up round
            samples[case].append(finished.wall_s)
    summary = {case: stats(values) for case, values in samples.items()}

The scripts run as ``python benchmarks/<script>.py`` (so this folder is on ``sys.path``);
``tests/`` reaches them through pytest's ``pythonpath`` (pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_DIR = HERE / "out"

T = TypeVar("T")


def package_versions(packages: Iterable[str]) -> dict[str, str | None]:
    """Installed versions in this interpreter; None for a package that is not installed."""
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def machine(packages: Iterable[str]) -> dict[str, Any]:
    """Where a benchmark ran: platform, CPUs (all and usable by this process), Python, and the
    versions of ``packages`` in this interpreter."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "python": platform.python_version(),
        "packages": package_versions(packages),
    }


def stats(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of a case's samples (what every table shows)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def spread(figures: dict[str, float] | None, digits: int = 2, scale: float = 1.0) -> str:
    """A :func:`stats` result as ``median (min-max)``, each times ``scale`` (1e3: ms from s);
    ``-`` when there is none."""
    if figures is None:
        return "-"
    median, low, high = (figures[key] * scale for key in ("median", "min", "max"))
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def write_json(path: Path, value: Any) -> None:
    """A result as indented JSON at ``path`` (its folder made if need be)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def rss_mib(maxrss: int) -> float:
    """``ru_maxrss`` in MiB: it is KiB on Linux, bytes on macOS."""
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


#: Variables of this (agent or CI) shell that a user's shell does not set and that change what
#: a timed process does: without ``.pyc`` files every import of quantrun's own (editable)
#: modules compiles their source again (about 0.2 s a process), and unbuffered output writes
#: every line separately. Timed processes run without them.
NOT_A_USERS_SHELL = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a timed process: this one without :data:`NOT_A_USERS_SHELL`, plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_USERS_SHELL}
    return env | extra


@dataclass(frozen=True)
class Finished:
    """A child process, reaped: its exit code, output, wall time and peak RSS."""

    code: int
    stdout: str
    stderr: str
    wall_s: float  # spawn to reap, measured here
    maxrss_mib: float  # the child's peak RSS (os.wait4)
    started_epoch: float = 0.0  # time.time() just before the spawn (a child's own wall-clock
    # time.time() minus this: how long after its spawn something happened in it)


def run_process(
    argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> Finished:
    """Run ``argv`` as a fresh process, timed from just before the spawn to the reap with
    ``os.wait4`` (which also gives its peak RSS), in :func:`user_env` plus ``env``. Output goes
    to temporary files, not pipes, so a chatty child never blocks on a full pipe."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started_epoch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=err, cwd=cwd, env=user_env(**(env or {}))
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped here: Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    return Finished(code, stdout, stderr, wall, rss_mib(usage.ru_maxrss), started_epoch)


def round_robin(
    cases: Sequence[T], repeat: int, warmup: int, label: str = ""
) -> Iterator[tuple[int, T]]:
    """``(repetition, case)`` pairs: ``warmup`` untimed rounds (negative repetitions), then
    ``repeat`` timed ones; every round runs each case once, starting one case further along
    each time, so drift on the machine spreads over all cases. A line is printed as each
    round ends."""
    prefix = f"{label}: " if label else ""
    for rep in range(-warmup, repeat):
        shift = rep % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            yield rep, case
        what = "warm-up" if rep < 0 else f"repetition {rep + 1}/{repeat}"
        print(f"  {prefix}{what} done", flush=True)


def parse_sized_args(
    argv: list[str] | None,
    *,
    doc: str | None,
    noun: str,
    repeat: int,
    out: Path,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The options of the single-dataset benchmarks: ``--rows`` (default 1,000,000), ``--repeat``
    (default ``repeat``), ``--warmup`` (default 1), ``--quick`` (100,000 ``noun``, 3
    repetitions) and ``--out`` (the JSON, default ``out``); ``more`` adds a script's own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    if more is not None:
        more(parser)
    parser.add_argument("--rows", type=int, default=None, help=f"{noun} (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=None, help=f"repetitions (default {repeat})")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--quick", action="store_true", help=f"100,000 {noun}, 3 repetitions")
    parser.add_argument("--out", type=Path, default=out, help="JSON path")
    args = parser.parse_args(argv)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.repeat = args.repeat or (3 if args.quick else repeat)
    return args

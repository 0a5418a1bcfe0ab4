"""Shared fixtures: small CSV builders and an isolated RUNS_ROOT per test."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from quantrun.settings import Settings

# A daemon the developer started (`quantrun daemon start`) must not run the suite's CLI
# processes: tests that want one start their own and turn this back on (tests/test_daemon.py).
os.environ["QUANTRUN_DAEMON"] = "off"

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
HEADER = "time,open,high,low,close,volume"

# 2024-01-01T00:00:00Z in epoch milliseconds.
T0_MS = 1_704_067_200_000


def minute_rows(n: int, start_ms: int = T0_MS, price: float = 100.0) -> list[str]:
    """``n`` valid 1-minute rows with epoch-ms timestamps and a gentle price walk."""
    rows = []
    for i in range(n):
        o = price + i * 0.5
        c = o + (0.25 if i % 2 == 0 else -0.25)
        h = max(o, c) + 0.5
        low = min(o, c) - 0.5
        rows.append(f"{start_ms + i * 60_000},{o},{h},{low},{c},{10 + i}")
    return rows


CsvWriter = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> CsvWriter:
    """Write lines (header first unless header=None) to a new CSV file and return its path."""
    counter = {"n": 0}

    def _write(
        rows: Sequence[str],
        header: str | None = HEADER,
        name: str | None = None,
        newline: str = "\n",
        encoding: str = "utf-8",
    ) -> Path:
        counter["n"] += 1
        path = tmp_path / "inputs" / (name or f"input{counter['n']}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ([header] if header is not None else []) + list(rows)
        path.write_bytes((newline.join(lines) + newline).encode(encoding))
        return path

    return _write


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    return tmp_path / "runs-root"


@pytest.fixture
def settings(runs_root: Path) -> Settings:
    return Settings(runs_root=runs_root)


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (relative), for 'nothing was written' assertions."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


#: Lock files a build takes before it reads its input (docs/settings.md, build slots): they
#: coordinate processes and hold no data, so a refused build may leave them.
SLOT_LOCKS = re.compile(r"^control(/build-slots(/slot-\d+\.lock)?)?$")


def written(root: Path) -> list[str]:
    """``tree(root)`` without the build-slot lock files: what a refused build must not leave."""
    return [p for p in tree(root) if not SLOT_LOCKS.match(p)]

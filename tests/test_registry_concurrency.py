"""Several processes creating runs in one RUNS_ROOT at the same instant (DESIGN.md section 5):
no lost index entry, no duplicate folder, one id per request, exactly one ``created=True`` per
run, and an index generation bumped once per index write (none lost, none skipped).

Each creator is tests/crash_harness.py with ``--ready``: it imports everything, says ``ready``
and waits; the test then releases all of them together. ``--stretch`` makes each fsync slower,
so the creators' writes (and index updates) overlap as much as possible.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import crash_harness as harness
from quantrun.api import check_registry, list_runs
from quantrun.runs.manifest import verify_run_folder
from quantrun.runs.registry import INDEX_FILE, INDEX_SCHEMA_VERSION, Registry
from quantrun.settings import Settings

TIMEOUT = 90.0
STRETCH = 0.02

X, Y, Z, W = (5, 20), (3, 12), (8, 30), (4, 16)  # (fast, slow) of four different runs


@pytest.fixture(scope="module")
def wave_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harness.write_wave_csv(tmp_path_factory.mktemp("inputs") / "wave.csv")


@pytest.fixture(scope="module")
def reference_ids(
    tmp_path_factory: pytest.TempPathFactory, wave_csv: Path
) -> dict[tuple[int, int], str]:
    """Each request's run id, computed alone in another RUNS_ROOT."""
    root = tmp_path_factory.mktemp("reference") / "root"
    return {p: str(harness.create(wave_csv, root, *p)["run_id"]) for p in (X, Y, Z, W)}


@contextlib.contextmanager
def creators(
    root: Path, csv: Path, requests: list[tuple[int, int]]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One harness process per request, all waiting for 'go'; always killed and reaped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for fast, slow in requests:
            command = [sys.executable, str(Path(harness.__file__)), str(root), str(csv)]
            command += ["--fast", str(fast), "--slow", str(slow), "--ready"]
            # Sleeping before each fsync widens every window, the index write's included.
            command += ["--stretch", str(STRETCH)]
            procs.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    bufsize=0,
                    env=env,
                )
            )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=TIMEOUT)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def wait_ready(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    line = b""
    deadline = time.monotonic() + TIMEOUT
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"creator {proc.pid} never became ready"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 1)
            assert chunk, f"creator {proc.pid} exited before it was ready"
            line += chunk
    assert line == b"ready\n"


def race(root: Path, csv: Path, requests: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Run one creator per request, released together; their JSON results, in order."""
    with creators(root, csv, requests) as procs:
        for proc in procs:
            wait_ready(proc)
        for proc in procs:  # as close together as the pipes allow
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err.decode(errors="replace")
            results.append(json.loads(out.decode().splitlines()[-1]))
    return results


def raw_index(root: Path) -> dict[str, Any]:
    """index.json exactly as the creators left it (read before any recovery)."""
    data: dict[str, Any] = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
    assert data["schema_version"] == INDEX_SCHEMA_VERSION
    return data


def check_round(
    root: Path,
    requests: list[tuple[int, int]],
    results: list[dict[str, Any]],
    reference_ids: dict[tuple[int, int], str],
    generation_before: int,
    already: set[str],
) -> None:
    # Every process got the id its request has when created alone.
    for request, result in zip(requests, results, strict=True):
        assert result["run_id"] == reference_ids[request], (request, result)
    ids = {reference_ids[r] for r in requests}
    # Exactly one creator reported created=True for each new run, none for existing ones.
    created = Counter(r["run_id"] for r in results if r["created"])
    assert created == Counter({run_id: 1 for run_id in ids - already}), results

    # The index as the creators left it: no lost entry, one bump per write.
    index = raw_index(root)
    expected = ids | already
    assert set(index["runs"]) == expected
    writes = sum(r["index_writes"] for r in results)
    assert index["generation"] == generation_before + writes, (index["generation"], results)
    # Each write added at least one run (nothing else changed), except that on a fresh
    # RUNS_ROOT the first recovery may write an empty index (a missing index is generation 0).
    assert 1 <= writes <= len(ids - already) + (0 if already else 1)

    # No duplicate folder, nothing left over, every run verifies.
    folders = sorted(p.name for p in (root / "runs").iterdir())
    assert folders == sorted(expected)
    for run_id in folders:
        verify_run_folder(root / "runs" / run_id, expected_run_id=run_id)
    assert sorted(p.name for p in (root / "datasets").iterdir()) == [
        json.loads((root / "runs" / folders[0] / "manifest.json").read_text())["dataset"][
            "dataset_id"
        ]
    ]
    report = Registry(root).recover()
    assert not report.changed, report.to_dict()
    assert sorted(p.name for p in (root / "staging").iterdir()) == []
    assert not (root / "quarantine").exists()
    settings = Settings(runs_root=root)
    assert sorted(r.run_id for r in list_runs(settings)) == sorted(expected)
    assert check_registry(settings).ok


def test_concurrent_creators_in_one_runs_root(
    tmp_path: Path, wave_csv: Path, reference_ids: dict[tuple[int, int], str]
) -> None:
    root = tmp_path / "root"

    # Round 1, a RUNS_ROOT that does not exist yet: two creators of X, one of Y, one of Z.
    first = [X, X, Y, Z]
    results = race(root, wave_csv, first)
    check_round(root, first, results, reference_ids, generation_before=0, already=set())

    # Round 2, the same RUNS_ROOT: X and Y exist; W is new and wanted twice.
    generation = raw_index(root)["generation"]
    already = {reference_ids[r] for r in first}
    second = [W, X, W, Y]
    results = race(root, wave_csv, second)
    check_round(root, second, results, reference_ids, generation, already)

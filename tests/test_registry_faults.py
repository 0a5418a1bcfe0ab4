"""Crash safety of run creation (DESIGN.md section 5): a failure or a crash at any instant
leaves a valid index, no partial run in any listing, a staging area recovery clears, and a
retry that gives the same run id in exactly one folder.

- every call of every filesystem primitive during one creation fails in turn (OSError);
- crashes (``os._exit``) at chosen points in a subprocess (tests/crash_harness.py);
- SIGKILL at seeded random instants (``QUANTRUN_CRASH_SEED``, ``QUANTRUN_SIGKILL_ITERATIONS``);
- torn or garbage index, manifest and artifact files;
- a read-only ARTIFACTS_ROOT that is listed and opened but never written.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import crash_harness as harness
from conftest import tree
from quantrun.api import check_registry, list_runs, open_run, verify_run
from quantrun.cli import main
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.runs.manifest import MANIFEST_FILE, ManifestProblem, verify_run_folder
from quantrun.runs.registry import INDEX_FILE, INDEX_SCHEMA_VERSION, Registry, is_run_id
from quantrun.settings import Settings

HARNESS = Path(harness.__file__)
SUBPROCESS_TIMEOUT = 60.0
DEFAULT_SEED = 20240601
SEED = int(os.environ.get("QUANTRUN_CRASH_SEED", DEFAULT_SEED))
SIGKILL_ITERATIONS = int(os.environ.get("QUANTRUN_SIGKILL_ITERATIONS", "12"))

SEED_PARAMS = ((5, 20), (3, 12))  # the two runs of the seeded root (from wave.csv)


# -- helpers ------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for subprocesses: no QUANTRUN_* setting leaks in from outside."""
    return {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}


def run_folders(root: Path) -> list[str]:
    runs = root / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def staging_entries(root: Path) -> list[str]:
    staging = root / "staging"
    return sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []


def listed(settings: Settings) -> list[str]:
    """Run ids ``list_runs`` shows (it recovers first, as every command does)."""
    return sorted(row.run_id for row in list_runs(settings))


def read_index(root: Path) -> dict[str, Any]:
    """index.json, which must be valid JSON of the registry's shape."""
    data = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    assert data["schema_version"] == INDEX_SCHEMA_VERSION
    assert isinstance(data["generation"], int) and data["generation"] >= 1
    assert isinstance(data["runs"], dict)
    assert all(is_run_id(run_id) for run_id in data["runs"])
    return data


def assert_nothing_partial(root: Path) -> None:
    """What any instant must look like, before any recovery: an index that is absent or
    valid and lists only complete runs; complete folders only in runs/ and datasets/."""
    for name in run_folders(root):
        assert is_run_id(name), f"stray entry runs/{name}"
        try:
            verify_run_folder(root / "runs" / name, expected_run_id=name)
        except ManifestProblem as problem:
            pytest.fail(f"partial run folder runs/{name}: {problem}")
    datasets = root / "datasets"
    if datasets.is_dir():
        for folder in datasets.iterdir():
            assert (folder / "dataset.json").is_file(), f"partial dataset {folder.name}"
    if (root / INDEX_FILE).exists():
        for run_id in read_index(root)["runs"]:
            assert (root / "runs" / run_id / MANIFEST_FILE).is_file(), f"{run_id} listed, no run"


def assert_recovered(root: Path) -> None:
    """Recovery leaves a valid index and an empty staging area."""
    Registry(root).recover()
    if root.exists():
        read_index(root)
    assert staging_entries(root) == []


def assert_clean(settings: Settings, expected: list[str]) -> None:
    """After a successful creation: exactly the expected runs, each in one folder, verifying."""
    root = settings.runs_root
    assert run_folders(root) == sorted(expected)
    assert listed(settings) == sorted(expected)
    report = check_registry(settings)
    assert report.ok, report
    assert report.runs == len(expected)
    assert staging_entries(root) == []
    assert not (root / "quarantine").exists()


def assert_clean_but_quarantine(settings: Settings, expected: list[str]) -> None:
    """Like :func:`assert_clean`, where quarantine/ holds an earlier damaged copy."""
    root = settings.runs_root
    assert run_folders(root) == sorted(expected)
    assert listed(settings) == sorted(expected)
    assert check_registry(settings).ok
    assert staging_entries(root) == []


@contextlib.contextmanager
def reaped(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    """Whatever happens in the block, every child is killed (if still running) and reaped."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=SUBPROCESS_TIMEOUT)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def start_harness(root: Path, csv: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HARNESS), str(root), str(csv), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=child_env(),
    )


def read_line(proc: subprocess.Popen[bytes], timeout: float = SUBPROCESS_TIMEOUT) -> bytes:
    """One line of the child's stdout, without reading past it; fails on timeout or EOF."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"child {proc.pid} printed no line within {timeout} s"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 1)
            assert chunk, f"child {proc.pid} closed stdout after {line!r}"
            line += chunk
    return line


# -- shared inputs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    return {
        "wave": harness.write_wave_csv(folder / "wave.csv"),
        "wave2": harness.write_wave_csv(folder / "wave2.csv", rows=300, phase=1.0),
    }


@pytest.fixture(scope="module")
def seeded_root(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path]) -> Path:
    """A RUNS_ROOT holding two runs of wave.csv; tests work on copies of it."""
    root = tmp_path_factory.mktemp("seeded") / "root"
    for fast, slow in SEED_PARAMS:
        assert harness.create(inputs["wave"], root, fast, slow)["created"]
    return root


@pytest.fixture
def seeded(seeded_root: Path, tmp_path: Path) -> Settings:
    root = tmp_path / "root"
    shutil.copytree(seeded_root, root)
    return Settings(runs_root=root)


def seeded_ids(settings: Settings) -> list[str]:
    ids = listed(settings)
    assert len(ids) == len(SEED_PARAMS)
    return ids


# -- 1. a failure at every call of every primitive ----------------------------------------


@dataclass(frozen=True)
class CallPoint:
    primitive: str
    n: int  # the call number within this primitive, from 1
    what: str  # the path it touched
    after_commit: bool  # made after the run folder was renamed into runs/


@pytest.fixture(scope="module")
def call_plan(
    tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path]
) -> tuple[str, list[CallPoint]]:
    """Spy on every primitive at once during one creation on a fresh RUNS_ROOT: the run id
    and every call, in order, each marked as before or after the commit point."""
    root = tmp_path_factory.mktemp("spy") / "root"
    sequence: list[tuple[str, int, str]] = []
    committed_at: list[int] = []

    def spy(primitive: str) -> harness.Hook:
        def before(n: int, what: str) -> None:
            sequence.append((primitive, n, what))

        return before

    def on_rename(n: int, what: str) -> None:
        if Path(what).parent.name == "runs":
            committed_at.append(len(sequence))

    with contextlib.ExitStack() as stack:
        for primitive in harness.PRIMITIVES:
            after = on_rename if primitive == "rename" else harness.noop
            stack.enter_context(harness.injected(primitive, root, spy(primitive), after))
        outcome = harness.create(inputs["wave"], root)
    assert outcome["created"]
    assert len(committed_at) == 1
    points = [
        CallPoint(primitive, n, what, i >= committed_at[0])
        for i, (primitive, n, what) in enumerate(sequence)
    ]
    return str(outcome["run_id"]), points


def test_the_spy_sees_every_primitive_and_the_commit(
    call_plan: tuple[str, list[CallPoint]],
) -> None:
    _, points = call_plan
    counts = {p: sum(1 for c in points if c.primitive == p) for p in harness.PRIMITIVES}
    assert all(counts.values()), counts
    renames = [c for c in points if c.primitive == "rename"]
    assert [Path(c.what).parent.name for c in renames] == ["datasets", "runs"]
    assert not renames[1].after_commit  # failing the publish rename itself commits nothing
    after = {c.primitive for c in points if c.after_commit}
    # After the rename: fsync of runs/, then the index under the lock (temp file, fsync,
    # os.replace, fsync of RUNS_ROOT) and the lock's own mkdir calls.
    assert after == set(harness.PRIMITIVES) - {"rename"}


@pytest.mark.parametrize("primitive", harness.PRIMITIVES)
def test_a_storage_failure_at_any_call_is_reported_and_leaves_no_trace(
    primitive: str,
    call_plan: tuple[str, list[CallPoint]],
    inputs: dict[str, Path],
    tmp_path: Path,
) -> None:
    run_id, plan = call_plan
    points = [p for p in plan if p.primitive == primitive]
    outcomes = []
    for point in points:
        label = f"{primitive} call #{point.n} ({point.what})"
        root = tmp_path / f"{primitive}-{point.n}"
        settings = Settings(runs_root=root)
        with (
            harness.injected(primitive, root, harness.fail_at(point.n)) as calls,
            pytest.raises(QuantrunError) as caught,
        ):
            harness.create(inputs["wave"], root)
        assert len(calls) >= point.n, f"{label}: the creation took another path"
        assert caught.value.code == ErrorCode.STORAGE_FAILED, f"{label}: {caught.value!r}"

        # The instant after the failure, before any recovery.
        assert_nothing_partial(root)
        committed = (root / "runs" / run_id / MANIFEST_FILE).is_file()
        assert committed == point.after_commit, label
        # Every command recovers first: a committed run is listed, nothing else is.
        assert listed(settings) == ([run_id] if committed else []), label
        assert_recovered(root)

        # The same creation without the fault: same id, one folder, verifying.
        again = harness.create(inputs["wave"], root)
        assert again == {"run_id": run_id, "created": not committed}, label
        assert_clean(settings, [run_id])
        outcomes.append(f"#{point.n} {'after' if committed else 'before'} commit")
    sys.stdout.write(f"{primitive}: STORAGE_FAILED at {', '.join(outcomes)}\n")


def test_a_stale_index_temp_file_of_a_crashed_process_does_not_block_writes(
    seeded: Settings, inputs: dict[str, Path]
) -> None:
    """A process that died between writing the index temp file and replacing the index left
    ``.index.json.<pid>.tmp``; a later process that gets the same pid must still write."""
    root = seeded.runs_root
    ids = seeded_ids(seeded)
    (root / f".{INDEX_FILE}.{os.getpid()}.tmp").write_bytes(b'{"half an ind')
    other = root / f".{INDEX_FILE}.999999999.tmp"  # another dead writer's
    other.write_bytes(b'{"half')
    created = harness.create(inputs["wave2"], root)
    assert created["created"]
    assert created["run_id"] in read_index(root)["runs"]
    assert_clean(seeded, [*ids, created["run_id"]])
    assert not other.exists()  # recovery (under the registry lock) swept it
    assert sorted(p.name for p in root.glob(f".{INDEX_FILE}.*")) == []


# -- 2. simulated crashes in a subprocess -------------------------------------------------


@dataclass(frozen=True)
class CrashPoint:
    name: str
    primitive: str
    match: str  # crash at the first (or CRASH_AT-th) call whose path contains this
    when: str  # before or after the real call
    staged: bool  # a staging folder is left behind for recovery to clear
    committed: bool  # the run is published (listed after recovery)
    added: bool  # recovery adds it to the index (the index write was lost)


def _crash(name: str, primitive: str, match: str, when: str, outcome: str) -> CrashPoint:
    return CrashPoint(
        name,
        primitive,
        match,
        when,
        "staged" in outcome,
        "committed" in outcome,
        "added" in outcome,
    )


CRASH_POINTS = (
    _crash("staging-the-dataset", "write_bytes", "/staging/dataset-", "before", "staged"),
    _crash("dataset-published", "rename", "/datasets/", "after", ""),
    _crash("staging-the-run", "write_bytes", "/staging/run-", "before", "staged"),
    _crash("run-staged-not-fsynced", "fsync_dir", "/staging/run-", "before", "staged"),
    _crash("run-staged-not-renamed", "rename", "/runs/", "before", "staged"),
    _crash("renamed-no-index", "rename", "/runs/", "after", "committed added"),
    _crash("index-temp-not-replaced", "os_replace", INDEX_FILE, "before", "committed added"),
    _crash("index-replaced-not-fsynced", "os_replace", INDEX_FILE, "after", "committed"),
)
CRASH_AT = {"staging-the-dataset": 2, "staging-the-run": 4}  # else the first matching call


@pytest.fixture(scope="module")
def crashed(
    seeded_root: Path, inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, int, str]]:
    """Each crash point in its own copy of the seeded root: a subprocess creates the wave2
    run and exits with status 137 there (two at a time). Name -> (root, status, stderr)."""
    base = tmp_path_factory.mktemp("crashes")
    pending = list(CRASH_POINTS)
    results: dict[str, tuple[Path, int, str]] = {}
    while pending:
        batch, pending = pending[:2], pending[2:]
        procs = []
        for point in batch:
            root = base / point.name
            shutil.copytree(seeded_root, root)
            extra = ["--primitive", point.primitive, "--match", point.match]
            extra += ["--at", str(CRASH_AT.get(point.name, 1)), "--when", point.when]
            procs.append((point, root, start_harness(root, inputs["wave2"], *extra)))
        with reaped(*(proc for _, _, proc in procs)):
            for point, root, proc in procs:
                _, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
                results[point.name] = (root, proc.returncode, err.decode(errors="replace"))
    return results


@pytest.fixture(scope="module")
def wave2_run_id(tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path]) -> str:
    root = tmp_path_factory.mktemp("reference") / "root"
    return str(harness.create(inputs["wave2"], root)["run_id"])


@pytest.mark.parametrize("point", CRASH_POINTS, ids=lambda p: p.name)
def test_a_crash_at_any_point_recovers(
    point: CrashPoint,
    crashed: dict[str, tuple[Path, int, str]],
    wave2_run_id: str,
    seeded_root: Path,
    inputs: dict[str, Path],
) -> None:
    root, status, stderr = crashed[point.name]
    assert status == harness.CRASH_STATUS, f"the crash point was not reached: {stderr}"
    settings = Settings(runs_root=root)
    before = sorted(read_index(seeded_root)["runs"])

    assert_nothing_partial(root)  # the crash instant
    report = Registry(root).recover()
    assert not report.rebuilt_index
    assert report.quarantined == [] and report.dropped == []
    assert len(report.cleared_staging) == (1 if point.staged else 0)
    assert report.added == ([wave2_run_id] if point.added else [])
    read_index(root)
    assert staging_entries(root) == []
    expected = sorted([*before, wave2_run_id]) if point.committed else before
    assert listed(settings) == expected
    assert check_registry(settings).ok

    again = harness.create(inputs["wave2"], root)
    assert again == {"run_id": wave2_run_id, "created": not point.committed}
    assert_clean(settings, sorted([*before, wave2_run_id]))


# -- 3. SIGKILL at seeded random instants -------------------------------------------------

# The same run (5, 20) often, plus enough others that new runs keep being published.
SIGKILL_PARAMS = ((5, 20), (5, 20), (5, 20), (3, 12), (8, 30), (4, 16), (6, 24), (2, 10))
STRETCH = 0.03


@pytest.fixture(scope="module")
def reference_ids(
    tmp_path_factory: pytest.TempPathFactory, inputs: dict[str, Path]
) -> dict[tuple[int, int], str]:
    root = tmp_path_factory.mktemp("reference-ids") / "root"
    return {
        (fast, slow): str(harness.create(inputs["wave"], root, fast, slow)["run_id"])
        for fast, slow in sorted(set(SIGKILL_PARAMS))
    }


@dataclass(frozen=True)
class Kill:
    fast: int
    slow: int
    via_cli: bool
    delay: float


def kill_plan(seed: int, iterations: int) -> list[Kill]:
    """Which run, through what, killed how long after it started; all from the seed."""
    rng = random.Random(seed)
    plan = []
    for i in range(iterations):
        fast, slow = rng.choice(SIGKILL_PARAMS)
        via_cli = i % 4 == 3
        # The CLI is timed from a cold start (the kill can land in the imports); the harness
        # from the start of the creation itself, whose write phase it stretches (STRETCH
        # before each of its ~12-17 fsyncs) after ~0.2-0.5 s of ingest and simulation.
        delay = rng.uniform(0.2, 1.6) if via_cli else rng.uniform(0.1, 0.9)
        plan.append(Kill(fast, slow, via_cli, delay))
    return plan


def test_sigkill_at_random_instants_never_breaks_the_registry(
    tmp_path: Path,
    inputs: dict[str, Path],
    reference_ids: dict[tuple[int, int], str],
) -> None:
    seed = SEED  # shown with -s, and on failure in the captured output and every message
    sys.stdout.write(f"SIGKILL harness: seed {seed} (QUANTRUN_CRASH_SEED), ")
    sys.stdout.write(f"{SIGKILL_ITERATIONS} iterations (QUANTRUN_SIGKILL_ITERATIONS)\n")
    plan = kill_plan(seed, SIGKILL_ITERATIONS)
    root = tmp_path / "root"
    settings = Settings(runs_root=root)
    log = []
    with contextlib.ExitStack() as stack:
        warm: dict[int, subprocess.Popen[bytes]] = {}

        def prewarm(i: int) -> None:
            """Start the harness for iteration i now: it imports, then waits for 'go'."""
            if i < len(plan) and not plan[i].via_cli:
                args = ["--fast", str(plan[i].fast), "--slow", str(plan[i].slow)]
                args += ["--ready", "--stretch", str(STRETCH)]
                warm[i] = start_harness(root, inputs["wave"], *args)
                stack.enter_context(reaped(warm[i]))

        prewarm(0)
        for i, kill in enumerate(plan):
            where = f"seed {seed}, iteration {i}, {kill}"
            if kill.via_cli:
                command = [sys.executable, "-m", "quantrun", "runs", "create"]
                command += [str(inputs["wave"]), "--symbol", harness.SYMBOL]
                command += ["--strategy", harness.STRATEGY, "--timeframe", harness.TIMEFRAME]
                command += ["--param", f"fast={kill.fast}", "--param", f"slow={kill.slow}"]
                command += ["--runs-root", str(root), "--json"]
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=child_env(),
                )
                stack.enter_context(reaped(proc))
            else:
                proc = warm.pop(i)
                assert read_line(proc) == b"ready\n", where
                assert proc.stdin is not None
                proc.stdin.write(b"go\n")
            prewarm(i + 1)
            time.sleep(kill.delay)
            proc.send_signal(signal.SIGKILL)
            status = proc.wait(timeout=SUBPROCESS_TIMEOUT)
            assert status in (0, -signal.SIGKILL), f"{where}: exit status {status}"

            # The instant of the kill, then what every command sees after recovering.
            assert_nothing_partial(root)
            report = check_registry(settings)
            assert report.ok, f"{where}: {report}"
            assert report.recovery.quarantined == [], where
            assert staging_entries(root) == [], where
            ids = listed(settings)
            assert set(ids) <= set(reference_ids.values()), where
            assert all((root / "runs" / run_id / MANIFEST_FILE).is_file() for run_id in ids)
            if root.exists():
                read_index(root)
            recovery = report.recovery
            found = f"staging={len(recovery.cleared_staging)},added={len(recovery.added)}"
            found += f",runs={len(ids)}"
            how = "cli" if kill.via_cli else "harness"
            log.append(f"{i}:{how}:{kill.delay:.3f}s:{status}:{found}")
    sys.stdout.write(f"  iteration:how:delay:status:recovered  {' '.join(log)}\n")

    # A final retry of every request: the same id, exactly one folder each.
    for (fast, slow), run_id in reference_ids.items():
        assert harness.create(inputs["wave"], root, fast, slow)["run_id"] == run_id
    assert_clean(settings, sorted(reference_ids.values()))


# -- 4. torn and garbage files ------------------------------------------------------------

TORN_INDEX: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x00\xff garbage \x17" * 8,
    "empty": lambda data: b"",
    "wrong-shape": lambda data: b'{"runs": [], "generation": "7"}\n',
}


@pytest.mark.parametrize("damage", sorted(TORN_INDEX))
def test_a_torn_index_is_rebuilt_from_the_manifests(damage: str, seeded: Settings) -> None:
    root = seeded.runs_root
    ids = sorted(read_index(root)["runs"])
    index = root / INDEX_FILE
    index.write_bytes(TORN_INDEX[damage](index.read_bytes()))
    report = Registry(root).recover()
    assert (report.rebuilt_index, report.rebuild_reason) == (True, "corrupt")
    assert report.quarantined == []
    assert sorted(read_index(root)["runs"]) == ids
    assert listed(seeded) == ids
    assert check_registry(seeded).ok


def _truncate_manifest(folder: Path) -> None:
    path = folder / MANIFEST_FILE
    path.write_bytes(path.read_bytes()[:100])


def _garbage_manifest(folder: Path) -> None:
    (folder / MANIFEST_FILE).write_bytes(b"\x89PNG\r\n\x1a\n not a manifest")


def _change_artifact(folder: Path) -> None:
    path = folder / "metrics.json"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, different bytes
    path.write_bytes(bytes(data))


def _drop_artifact(folder: Path) -> None:
    (folder / "series.parquet").unlink()


TORN_RUN = {
    "truncated-manifest": _truncate_manifest,
    "garbage-manifest": _garbage_manifest,
    "changed-artifact": _change_artifact,
    "missing-artifact": _drop_artifact,
}


@pytest.mark.parametrize("index_state", ["entry-missing", "index-missing"])
@pytest.mark.parametrize("damage", sorted(TORN_RUN))
def test_a_damaged_run_the_index_does_not_list_is_quarantined(
    damage: str, index_state: str, seeded: Settings, inputs: dict[str, Path]
) -> None:
    root = seeded.runs_root
    keep, bad = seeded_ids(seeded)
    registry = Registry(root)
    params = read_index(root)["runs"][bad]["params"]
    if index_state == "entry-missing":  # a crash between the rename and the index write
        current = registry.index()
        runs = {k: v for k, v in current.runs.items() if k != bad}
        registry._write_index(runs, current.generation + 1)
    else:
        (root / INDEX_FILE).unlink()
    TORN_RUN[damage](root / "runs" / bad)

    report = registry.recover()
    assert [q["run_id"] for q in report.quarantined] == [bad]
    assert report.quarantined[0]["reason"]
    assert report.added == []
    assert listed(seeded) == [keep]
    assert run_folders(root) == [keep]
    assert (root / "quarantine" / bad).is_dir()
    assert check_registry(seeded).ok

    # Recreating it gives the same id and one good folder again.
    again = harness.create(inputs["wave"], root, params["fast"], params["slow"])
    assert again == {"run_id": bad, "created": True}
    assert_clean_but_quarantine(seeded, [keep, bad])


@pytest.mark.parametrize("damage", sorted(TORN_RUN))
def test_rebuild_quarantines_a_listed_damaged_run(damage: str, seeded: Settings) -> None:
    root = seeded.runs_root
    keep, bad = seeded_ids(seeded)
    generation = read_index(root)["generation"]
    TORN_RUN[damage](root / "runs" / bad)
    report = Registry(root).rebuild()
    assert [q["run_id"] for q in report.quarantined] == [bad]
    assert report.dropped == [bad]
    assert read_index(root)["generation"] == generation + 1
    assert listed(seeded) == [keep]
    assert check_registry(seeded).ok


def test_a_run_damaged_twice_is_quarantined_twice_side_by_side(
    seeded: Settings, inputs: dict[str, Path]
) -> None:
    root = seeded.runs_root
    keep, bad = seeded_ids(seeded)
    params = read_index(root)["runs"][bad]["params"]
    for _ in range(2):
        _change_artifact(root / "runs" / bad)
        report = Registry(root).rebuild()
        assert [q["run_id"] for q in report.quarantined] == [bad]
        assert listed(seeded) == [keep]
        again = harness.create(inputs["wave"], root, params["fast"], params["slow"])
        assert again == {"run_id": bad, "created": True}
    assert sorted(p.name for p in (root / "quarantine").iterdir()) == [bad, f"{bad}.2"]
    assert_clean_but_quarantine(seeded, [keep, bad])


def test_check_and_verify_report_a_listed_run_whose_artifact_changed(seeded: Settings) -> None:
    root = seeded.runs_root
    good, bad = seeded_ids(seeded)
    _change_artifact(root / "runs" / bad)

    report = check_registry(seeded)
    assert not report.ok
    assert list(report.failing) == [bad]
    assert report.failing[bad] == ["metrics.json: size or sha256 differs from the manifest"]
    assert listed(seeded) == [good, bad]  # listed runs are reported, never silently dropped

    runner = CliRunner()
    root_args = ["--runs-root", str(root)]
    result = runner.invoke(main, ["runs", "verify", bad[:12], *root_args])
    assert result.exit_code == 3, result.output
    assert "error[RUN_VERIFY_FAILED]" in result.stderr
    assert "metrics.json" in result.stderr
    as_json = runner.invoke(main, ["runs", "verify", bad, *root_args, "--json"])
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout)["ok"] is False
    assert runner.invoke(main, ["runs", "verify", good, *root_args]).exit_code == 0
    assert runner.invoke(main, ["registry", "check", *root_args]).exit_code == 3


def test_verify_of_a_listed_run_with_a_torn_manifest_fails_with_its_code(
    seeded: Settings,
) -> None:
    root = seeded.runs_root
    _, bad = seeded_ids(seeded)
    _truncate_manifest(root / "runs" / bad)
    result = CliRunner().invoke(main, ["runs", "verify", bad, "--runs-root", str(root)])
    assert result.exit_code == 3
    assert "error[RUN_VERIFY_FAILED]" in result.stderr


# -- 6. a read-only ARTIFACTS_ROOT --------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` (itself included) with its mtime, size and mode."""
    paths = [root, *root.rglob("*")]
    return {
        str(p.relative_to(root)): (p.lstat().st_mtime_ns, p.lstat().st_size, p.lstat().st_mode)
        for p in paths
    }


@pytest.fixture
def read_only_root(seeded_root: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the seeded root with every file and folder made read-only (restored after)."""
    root = tmp_path / "artifacts"
    shutil.copytree(seeded_root, root)
    paths = sorted([root, *root.rglob("*")], key=lambda p: len(p.parts), reverse=True)
    modes = {p: stat.S_IMODE(p.lstat().st_mode) for p in paths}
    for path in paths:  # deepest first, so parents stay traversable while we chmod
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield root
    finally:
        for path in reversed(paths):
            path.chmod(modes[path])


def test_a_read_only_artifacts_root_is_listed_and_opened_but_never_written(
    read_only_root: Path, tmp_path: Path, inputs: dict[str, Path]
) -> None:
    before = snapshot(read_only_root)
    before_tree = tree(read_only_root)
    a_ids = sorted(read_index(read_only_root)["runs"])
    settings = Settings(runs_root=tmp_path / "own", artifacts_root=read_only_root)

    rows = list_runs(settings)
    assert sorted(r.run_id for r in rows) == a_ids
    assert all(r.read_only is True for r in rows)
    view = open_run(a_ids[0][:12], settings)
    assert view.read_only and view.path == read_only_root / "runs" / a_ids[0]
    assert view.metrics and view.trades().height >= 0
    assert verify_run(a_ids[0], settings).ok
    assert check_registry(settings).ok

    # A new run is written under RUNS_ROOT only.
    new = harness.create(inputs["wave2"], settings.runs_root)
    assert new["created"]
    assert (settings.runs_root / "runs" / new["run_id"] / MANIFEST_FILE).is_file()
    rows = list_runs(settings)
    flags = {r.run_id: r.read_only for r in rows}
    assert flags == {**dict.fromkeys(a_ids, True), new["run_id"]: False}

    # Creating a run the ARTIFACTS_ROOT already holds builds RUNS_ROOT's own copy, listed once.
    fast, slow = SEED_PARAMS[0]
    copy = harness.create(inputs["wave"], settings.runs_root, fast, slow)
    assert copy["created"] and copy["run_id"] in a_ids
    rows = list_runs(settings)
    assert sorted(r.run_id for r in rows) == sorted([*a_ids, new["run_id"]])
    assert {r.run_id: r.read_only for r in rows}[copy["run_id"]] is False
    assert open_run(copy["run_id"], settings).path.is_relative_to(settings.runs_root)

    assert snapshot(read_only_root) == before
    assert tree(read_only_root) == sorted(before_tree)

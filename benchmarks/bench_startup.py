"""Start-up and exit of one ``runs create``: the fixed costs of a quantrun process (issue 17).

    .venv/bin/python benchmarks/bench_startup.py [--rows N] [--repeat K] [--tree LABEL=SRC ...]

Each ``--tree`` is a quantrun source folder (``src/`` of a checkout, e.g. one exported with
``git archive <commit> src | tar -x -C /tmp/<label>``); every timed process runs quantrun from
it (``PYTHONPATH``) with this checkout's ``.venv``, so several versions run side by side, their
cases round-robin in one run. Without ``--tree`` it measures this checkout's ``src/``. The cases,
each a fresh process per sample:

- ``imports``: ``import quantrun.cli``, ``from quantrun.api import create_run`` and
  ``import quantrun.runs.builder`` (what ``runs create`` imports before any work), timed in the
  process, as the suite's ``quantrun_stages`` times its ``imports``.
- ``startup``: ``create_run`` through the Python API as ``runs create`` calls it; the time from
  just before the spawn to the builder's first stage report (``ingest``): interpreter start,
  imports, the request checked, the kill switch, registry recovery and a build slot.
- ``cli``: ``python -m quantrun runs create FILE ... --json`` (the console script's code),
  stdout a pipe: the wall time from spawn to reap, and ``exit``, from the moment the JSON has
  arrived on the pipe (the process flushed it) to the reap: the interpreter's teardown.
- ``floor`` (once per round, not per tree): ``import polars, numpy, pydantic, click, filelock``,
  the libraries ``runs create`` needs before its first stage: its imports in process and the
  time from the spawn to their end, the least ``imports`` and ``startup`` can be.

Timed processes run without ``PYTHONDONTWRITEBYTECODE`` and ``PYTHONUNBUFFERED``
(``harness.user_env``), as from a user's shell; ``--no-bytecode LABEL`` puts the first back for
one tree. It contains no timed assertion: it measures and reports. The JSON goes to
``benchmarks/out/startup.json``; benchmarks/README.md describes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench_ingest import ensure_csv
from harness import (
    OUT_DIR,
    ROOT,
    machine,
    round_robin,
    rss_mib,
    spread,
    stats,
    user_env,
    write_json,
)

QR_PYTHON = ROOT / ".venv" / "bin" / "python"
RISK = {
    "position_fraction": 1.0,
    "stop_loss_pct": None,
    "take_profit_pct": None,
    "max_drawdown_halt_pct": None,
    "allow_short": False,
}
#: What ``runs create`` imports before it does any work (the suite's ``imports`` stage).
IMPORTS = "import quantrun.cli\nfrom quantrun.api import create_run\nimport quantrun.runs.builder\n"
IMPORTS_CHILD = (
    "import json, time\nt0, c0 = time.perf_counter(), time.process_time()\n"
    + IMPORTS
    + "print(json.dumps({'seconds': time.perf_counter() - t0, "
    "'cpu_seconds': time.process_time() - c0}))\n"
)
#: The libraries those imports cannot do without (the data stack, the models, the CLI, the
#: locks): the floor under ``imports``, and under ``startup`` (spawn to the end of them).
FLOOR = "import polars, numpy, pydantic, click, filelock\n"
FLOOR_CHILD = (
    "import json, time\nt0, c0 = time.perf_counter(), time.process_time()\n"
    + FLOOR
    + "print(json.dumps({'seconds': time.perf_counter() - t0, "
    "'cpu_seconds': time.process_time() - c0, 'end_epoch': time.time()}))\n"
)
#: argv: CSV, RUNS_ROOT, risk file. Prints the wall-clock time of the first stage report.
STARTUP_CHILD = (
    "import json, sys, time\nfrom pathlib import Path\n"
    + IMPORTS
    + """from quantrun.settings import Settings
first = []
def progress(stage):
    if not first:
        first.append((stage, time.time()))
csv, runs_root, risk_file = sys.argv[1:4]
result = create_run(csv, symbol="BENCH", strategy="sma_crossover",
    params={"fast": 10, "slow": 30}, risk=None, risk_file=risk_file, commission_bps=10,
    timeframe="1m", settings=Settings(runs_root=Path(runs_root)), progress=progress)
print(json.dumps({"first_stage": first[0][0], "first_stage_epoch": first[0][1],
    "run_id": result.run_id}))
"""
)


@dataclass(frozen=True)
class Timed:
    code: int
    stdout: str
    stderr: str
    started_epoch: float  # time.time() just before the spawn
    wall_s: float  # spawn to reap
    exit_s: float  # the last stdout bytes read to the reap
    cpu_s: float  # the child's user + system CPU time (all its threads)
    maxrss_mib: float


def run_piped(argv: list[str], env: dict[str, str]) -> Timed:
    """Run ``argv`` with stdout a pipe, noting when its last bytes arrive (the child flushed
    them) and when it is reaped (``os.wait4``)."""
    with tempfile.TemporaryFile() as err:
        started_epoch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env)
        assert proc.stdout is not None
        chunks: list[bytes] = []
        last = t0
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            chunks.append(chunk)
            last = time.perf_counter()
        _, status, usage = os.wait4(proc.pid, 0)
        reaped = time.perf_counter()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return Timed(
        code,
        b"".join(chunks).decode(),
        stderr,
        started_epoch,
        reaped - t0,
        reaped - last,
        usage.ru_utime + usage.ru_stime,
        rss_mib(usage.ru_maxrss),
    )


@dataclass
class Case:
    tree: str
    src: Path
    kind: str  # imports | startup | cli | floor
    bytecode: bool = True  # False: PYTHONDONTWRITEBYTECODE=1, as in some agent or CI shells
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.tree}/{self.kind}"


def argv_of(case: Case, csv: Path, root: Path, risk_file: Path) -> list[str]:
    python = str(QR_PYTHON)
    if case.kind == "imports":
        return [python, "-c", IMPORTS_CHILD]
    if case.kind == "floor":
        return [python, "-c", FLOOR_CHILD]
    if case.kind == "startup":
        return [python, "-c", STARTUP_CHILD, str(csv), str(root), str(risk_file)]
    return [
        *(python, "-m", "quantrun", "runs", "create", str(csv), "--symbol", "BENCH"),
        *("--strategy", "sma_crossover", "--param", "fast=10", "--param", "slow=30"),
        *("--risk-file", str(risk_file), "--commission-bps", "10", "--timeframe", "1m"),
        *("--runs-root", str(root), "--json"),
    ]


def run_once(case: Case, csv: Path, risk_file: Path) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="startup-root-", dir=OUT_DIR))
    env = user_env(PYTHONPATH=str(case.src))
    if not case.bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        done = run_piped(argv_of(case, csv, root, risk_file), env)
        leftovers = sorted(p.name for p in (root / "staging").glob("*"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if done.code != 0:
        raise SystemExit(f"{case.name} exited {done.code}:\n{done.stderr[-3000:]}")
    if leftovers:
        raise SystemExit(f"{case.name} left staging entries behind: {leftovers}")
    sample: dict[str, Any] = {
        "wall_s": done.wall_s,
        "cpu_s": done.cpu_s,
        "maxrss_mib": done.maxrss_mib,
    }
    if case.kind in ("imports", "floor"):
        report = json.loads(done.stdout)
        sample["imports_s"], sample["imports_cpu_s"] = report["seconds"], report["cpu_seconds"]
        if "end_epoch" in report:
            sample["startup_s"] = report["end_epoch"] - done.started_epoch
    elif case.kind == "startup":
        report = json.loads(done.stdout.strip().splitlines()[-1])
        sample["startup_s"] = report["first_stage_epoch"] - done.started_epoch
        sample["run_id"] = report["run_id"]
    else:
        sample["exit_s"] = done.exit_s
        sample["run_id"] = json.loads(done.stdout)["run_id"]
    return sample


def summarize(case: Case) -> dict[str, Any]:
    keys = ("wall_s", "cpu_s", "imports_s", "imports_cpu_s", "startup_s", "exit_s")
    out: dict[str, Any] = {"tree": case.tree, "kind": case.kind}
    for key in keys:
        values = [s[key] for s in case.samples if key in s]
        if values:
            out[key] = stats(values)
    out["peak_rss_mib"] = stats([s["maxrss_mib"] for s in case.samples])
    run_ids = {s["run_id"] for s in case.samples if "run_id" in s}
    if run_ids:
        out["run_ids"] = sorted(run_ids)
    return out


def table(summary: dict[str, dict[str, Any]], trees: list[str], repeat: int) -> Table:
    out = Table(title=f"runs create start-up and exit, median (min-max) s, {repeat} reps")
    columns = ("tree", "imports", "imports CPU", "startup", "cli wall", "cli CPU", "exit", "run id")
    for column in columns:
        out.add_column(column, justify="left" if column in ("tree", "run id") else "right")
    floor = summary.get(f"{FLOOR_TREE}/floor")
    if floor is not None:
        out.add_row(
            "floor (libraries)",
            spread(floor.get("imports_s"), 3),
            spread(floor.get("imports_cpu_s"), 3),
            spread(floor.get("startup_s"), 3),
        )
    for tree in trees:
        imports, startup, cli = (summary[f"{tree}/{kind}"] for kind in KINDS)
        ids = {*startup.get("run_ids", []), *cli.get("run_ids", [])}
        out.add_row(
            tree,
            spread(imports.get("imports_s"), 3),
            spread(imports.get("imports_cpu_s"), 3),
            spread(startup.get("startup_s"), 3),
            spread(cli.get("wall_s"), 3),
            spread(cli.get("cpu_s"), 3),
            spread(cli.get("exit_s"), 3),
            ", ".join(i[:12] for i in sorted(ids)),
        )
    return out


KINDS = ("imports", "startup", "cli")
FLOOR_TREE = "libraries"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="1m rows (default 100,000)")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds (default 1)")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=SRC",
        help="a quantrun source folder to measure (repeatable; default: this checkout's src)",
    )
    parser.add_argument(
        "--no-bytecode",
        action="append",
        default=[],
        metavar="LABEL",
        help="run this tree with PYTHONDONTWRITEBYTECODE=1 (give it a folder that never held "
        "__pycache__: every process then compiles quantrun's modules, as such shells do)",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "startup.json", help="JSON path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    trees: dict[str, Path] = {}
    for spec in args.tree or [f"this={ROOT / 'src'}"]:
        label, _, src = spec.partition("=")
        if not (Path(src) / "quantrun" / "__init__.py").is_file():
            raise SystemExit(f"--tree {spec}: no quantrun package under {src}")
        trees[label] = Path(src).resolve()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    csv = ensure_csv(args.rows)
    risk_file = OUT_DIR / "startup-risk.json"
    risk_file.write_text(json.dumps(RISK) + "\n")
    unknown = set(args.no_bytecode) - set(trees)
    if unknown:
        raise SystemExit(f"--no-bytecode {', '.join(sorted(unknown))}: no such --tree")
    cases = [
        Case(label, src, kind, bytecode=label not in args.no_bytecode)
        for label, src in trees.items()
        for kind in KINDS
    ]
    cases.append(Case(FLOOR_TREE, next(iter(trees.values())), "floor"))
    started = time.perf_counter()
    load_start = os.getloadavg()
    for rep, case in round_robin(cases, args.repeat, args.warmup, "startup"):
        sample = run_once(case, csv, risk_file)
        if rep >= 0:
            case.samples.append(sample)
    summary = {case.name: summarize(case) for case in cases}
    result = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - started,
        "machine": machine(("rich",))
        | {"load_average_at_start": load_start, "load_average_at_end": os.getloadavg()},
        "rows": args.rows,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "trees": {label: str(src) for label, src in trees.items()},
        "no_bytecode": args.no_bytecode,
        "samples": {case.name: case.samples for case in cases},
        "summary": summary,
    }
    write_json(args.out, result)
    Console(width=140).print(table(summary, list(trees), args.repeat))
    print(f"wrote {args.out} in {result['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ingest benchmark: quantrun's full ingest against a bare CSV read of the same file.

Every case runs in a fresh subprocess per repetition, and cases are interleaved round-robin
inside each repetition, so imports, page cache and machine drift hit every case alike::

    .venv/bin/python benchmarks/bench_ingest.py [--rows N] [--repeat K] [--quick] [--out PATH]

The goal: quantrun_ingest_inproc / pyarrow_read (medians of the in-process timers) <= 2.5.
See benchmarks/README.md for what each case measures and how to read the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from harness import (
    OUT_DIR,
    machine,
    parse_sized_args,
    round_robin,
    run_process,
    spread,
    stats,
    write_json,
)
from walk import SEED, random_walk

GOAL_RATIO = 2.5
GENERATOR_VERSION = 1
PACKAGES = ("quantrun", "polars", "pyarrow", "numpy")

# Child programs get argv[1] = CSV path, argv[2] = a fresh empty RUNS_ROOT. They time only the
# call itself and print one JSON line: seconds, peak RSS (KiB on Linux) and rows seen.
_REPORT = (
    "import json, resource\n"
    "print(json.dumps({'seconds': t1 - t0, 'rows': rows,"
    " 'maxrss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
)
CHILDREN: dict[str, str] = {
    "pyarrow_read": (
        "import sys, time\nimport pyarrow.csv\n"
        "t0 = time.perf_counter()\ntable = pyarrow.csv.read_csv(sys.argv[1])\n"
        "t1 = time.perf_counter()\nrows = table.num_rows\n"
    ),
    "polars_read": (
        "import sys, time\nimport polars\n"
        "t0 = time.perf_counter()\nframe = polars.read_csv(sys.argv[1])\n"
        "t1 = time.perf_counter()\nrows = frame.height\n"
    ),
    # The ingest module is imported before the timer, as pyarrow.csv and polars are above:
    # quantrun.api imports it lazily, on the first call (about 0.18 s of imports).
    "quantrun_ingest_inproc": (
        "import sys, time\nfrom pathlib import Path\n"
        "from quantrun.api import ingest_file\nfrom quantrun.settings import Settings\n"
        "import quantrun.data.ingest\n"
        "settings = Settings(runs_root=Path(sys.argv[2]))\n"
        "t0 = time.perf_counter()\nresult = ingest_file([sys.argv[1]], settings)\n"
        "t1 = time.perf_counter()\nrows = result.quality['rows']\n"
    ),
}
CASES = [*CHILDREN, "quantrun_ingest_cli"]


@dataclass(frozen=True)
class Sample:
    inproc_s: float | None  # None for the CLI case: it has no in-process timer
    wall_s: float  # fork to reap, measured by this script
    maxrss_mib: float  # the child's peak RSS, from os.wait4
    rows: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _bars(rows: int) -> pl.DataFrame:
    """The shared random walk with epoch-millisecond timestamps, as an exchange writes them."""
    walk = random_walk(rows)
    return walk.select((pl.col("ts") // 1000).alias("timestamp"), pl.exclude("ts"))


def ensure_csv(rows: int) -> Path:
    """Write ``out/bars-<rows>.csv`` unless an identical one (per its sidecar hash) exists."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"bars-{rows}.csv"
    sidecar = path.with_suffix(".json")
    wanted = {"rows": rows, "seed": SEED, "generator_version": GENERATOR_VERSION}
    if path.is_file() and sidecar.is_file():
        meta = json.loads(sidecar.read_text())
        same = all(meta.get(k) == v for k, v in wanted.items())
        if same and meta.get("bytes") == path.stat().st_size and meta["sha256"] == _sha256(path):
            return path
    _bars(rows).write_csv(path)
    meta = wanted | {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def _argv(case: str, csv: Path, runs_root: Path) -> list[str]:
    if case == "quantrun_ingest_cli":
        exe = Path(sys.executable).with_name("quantrun")
        cli = str(exe) if exe.is_file() else shutil.which("quantrun") or "quantrun"
        return [cli, "data", "ingest", str(csv), "--runs-root", str(runs_root), "--json"]
    return [sys.executable, "-c", CHILDREN[case] + _REPORT, str(csv), str(runs_root)]


def run_once(case: str, csv: Path) -> Sample:
    """One fresh process for ``case``, into a fresh empty RUNS_ROOT that is removed after."""
    runs_root = Path(tempfile.mkdtemp(prefix="runs-", dir=OUT_DIR))
    try:
        done = run_process(_argv(case, csv, runs_root))
    finally:
        shutil.rmtree(runs_root, ignore_errors=True)
    if done.code != 0:
        raise SystemExit(f"{case} exited {done.code}:\n{done.stderr}\n{done.stdout}")
    if case == "quantrun_ingest_cli":
        rows = int(json.loads(done.stdout)["quality"]["rows"])
        return Sample(None, done.wall_s, done.maxrss_mib, rows)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(float(report["seconds"]), done.wall_s, done.maxrss_mib, int(report["rows"]))


def run_all(csv: Path, rows: int, repeat: int, warmup: int) -> dict[str, list[Sample]]:
    """Round-robin: every repetition runs each case once, starting at a rotating case."""
    samples: dict[str, list[Sample]] = {case: [] for case in CASES}
    for rep, case in round_robin(CASES, repeat, warmup):
        sample = run_once(case, csv)
        if sample.rows != rows:
            raise SystemExit(f"{case} saw {sample.rows:,} rows, expected {rows:,}")
        if rep >= 0:
            samples[case].append(sample)
    return samples


def summarize(samples: dict[str, list[Sample]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for case, runs in samples.items():
        inproc = [s.inproc_s for s in runs if s.inproc_s is not None]
        summary[case] = {
            "inproc_s": stats(inproc) if inproc else None,
            "wall_s": stats([s.wall_s for s in runs]),
            "peak_rss_mib": stats([s.maxrss_mib for s in runs]),
        }
    return summary


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    def med(case: str, key: str, stat: str = "median") -> float:
        return float(summary[case][key][stat])

    return {
        "ingest_inproc_vs_pyarrow_read": med("quantrun_ingest_inproc", "inproc_s")
        / med("pyarrow_read", "inproc_s"),
        "ingest_cli_wall_vs_pyarrow_wall": med("quantrun_ingest_cli", "wall_s")
        / med("pyarrow_read", "wall_s"),
        "ingest_inproc_vs_polars_read": med("quantrun_ingest_inproc", "inproc_s")
        / med("polars_read", "inproc_s"),
        # Informational: fastest vs fastest, less sensitive to a noisy (shared, virtual) machine.
        "ingest_inproc_vs_pyarrow_read_best": med("quantrun_ingest_inproc", "inproc_s", "min")
        / med("pyarrow_read", "inproc_s", "min"),
    }


def render(result: dict[str, Any]) -> None:
    title = f"ingest benchmark: {result['rows']:,} rows, {result['file_bytes']:,} bytes"
    table = Table(title=f"{title}, {result['repeat']} reps")
    table.add_column("case")
    table.add_column("in-process s median (min-max)", justify="right")
    table.add_column("process wall s median (min-max)", justify="right")
    table.add_column("peak RSS MiB", justify="right")
    for case, figures in result["summary"].items():
        rss = f"{figures['peak_rss_mib']['median']:.0f}"
        table.add_row(case, spread(figures["inproc_s"], 3), spread(figures["wall_s"], 3), rss)
    console = Console(width=max(Console().width, 110))
    console.print(table)
    goal = result["goal_met"]
    for name, value in result["ratios"].items():
        verdict = ""
        if name in goal:
            verdict = f"  goal <= {GOAL_RATIO}: {'MET' if goal[name] else 'NOT MET'}"
        console.print(f"{name:<34} {value:6.2f}x{verdict}", highlight=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_sized_args(argv, doc=__doc__, noun="rows", repeat=5, out=OUT_DIR / "ingest.json")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    csv = ensure_csv(args.rows)
    print(f"input {csv} ({csv.stat().st_size:,} bytes); {args.repeat} reps x {len(CASES)} cases")
    samples = run_all(csv, args.rows, args.repeat, args.warmup)
    summary = summarize(samples)
    found = ratios(summary)
    result: dict[str, Any] = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(PACKAGES),
        "rows": args.rows,
        "file": str(csv),
        "file_bytes": csv.stat().st_size,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "goal": f"ingest_inproc_vs_pyarrow_read <= {GOAL_RATIO}",
        "samples": {case: [asdict(s) for s in runs] for case, runs in samples.items()},
        "summary": summary,
        "ratios": found,
        "goal_met": {
            "ingest_inproc_vs_pyarrow_read": found["ingest_inproc_vs_pyarrow_read"] <= GOAL_RATIO,
            "ingest_cli_wall_vs_pyarrow_wall": found["ingest_cli_wall_vs_pyarrow_wall"]
            <= GOAL_RATIO,
        },
    }
    write_json(args.out, result)
    render(result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

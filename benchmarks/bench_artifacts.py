"""Artifact-schema benchmark: the same run written under each artifact (manifest) schema.

Each sample is a fresh process making the suite's end-to-end run (bench_suite.py) on a file
whose dataset is already stored (the dataset and its receipt are made once, outside the timer,
and copied into a fresh RUNS_ROOT before every sample), with ``artifact_schema`` pinned; the
schemas run round-robin inside each repetition. The child times the builder's stages through
its progress hook::

    .venv/bin/python benchmarks/bench_artifacts.py [--rows N] [--repeat K] [--timeframe 1m]
        [--schemas 2 3] [--quick] [--out PATH]

It prints, per schema, the medians of the whole call, the ``write`` stage, the bytes written and
the peak RSS, and writes every sample to JSON (default ``out/artifacts.json``). Every schema
makes the same run id (the formats are not part of the identity); the script checks it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench_ingest import ensure_csv
from bench_suite import COMMISSION_BPS, FAST, RISK, SLOW
from harness import OUT_DIR, machine, parse_sized_args, round_robin, run_process, spread, stats
from harness import write_json as save

PACKAGES = ("quantrun", "polars", "pyarrow", "numpy", "numba")
#: The suite's end-to-end request (bench_suite.py): 10/30 crossover, all-in, no stops or halt.
REQUEST = {
    "symbol": "BENCH",
    "strategy": "sma_crossover",
    "params": {"fast": FAST, "slow": SLOW},
    "risk": None,
    "risk_config": RISK,
    "commission_bps": COMMISSION_BPS,
}

CHILD = """
import json, resource, sys, time
from pathlib import Path
from quantrun.allocator import keep_freed_memory
keep_freed_memory()  # as the console script does for runs create (D53)
from quantrun.api import create_run
from quantrun.settings import Settings
csv, timeframe, runs_root, schema = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
reports = []
t0 = time.perf_counter()
result = create_run(csv, **REQUEST, timeframe=timeframe, artifact_schema=schema,
    settings=Settings(runs_root=runs_root),
    progress=lambda stage: reports.append((stage, time.perf_counter())))
t_end = time.perf_counter()
stages = {}
for (stage, began), (_, ended) in zip(reports, [*reports[1:], ("end", t_end)]):
    stages[stage] = stages.get(stage, 0.0) + ended - began
print(json.dumps({"seconds": t_end - t0, "stages": stages, "run_id": result.run_id,
    "created": result.created,
    "bytes": sum(a.bytes for a in result.manifest.artifacts),
    "timeline_bytes": next(a.bytes for a in result.manifest.artifacts
                           if a.name == "timeline.json"),
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""".replace("REQUEST", repr(REQUEST))

INGEST = """
import sys
from pathlib import Path
from quantrun.api import ingest_file
from quantrun.settings import Settings
ingest_file(sys.argv[1], Settings(runs_root=Path(sys.argv[2])), symbol="BENCH")
"""


def _stored_root(csv: Path, work: Path) -> Path:
    """A RUNS_ROOT holding only ``csv``'s dataset and receipt (made once)."""
    root = work / "stored"
    done = run_process([sys.executable, "-c", INGEST, str(csv), str(root)])
    if done.code != 0:
        raise SystemExit(f"ingest failed: {done.stderr[-2000:]}")
    return root


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeframe", default="1m", help="the run's timeframe (default 1m)")
    parser.add_argument(
        "--schemas", type=int, nargs="+", default=[2, 3], help="artifact schemas (default 2 3)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_sized_args(
        argv, doc=__doc__, noun="rows", repeat=5, out=OUT_DIR / "artifacts.json", more=_options
    )
    timeframe, schemas = args.timeframe, list(args.schemas)
    csv = ensure_csv(args.rows)
    samples: dict[int, list[dict[str, Any]]] = {schema: [] for schema in schemas}
    with tempfile.TemporaryDirectory(dir=OUT_DIR) as tmp:
        work = Path(tmp)
        stored = _stored_root(csv, work)
        for rep, schema in round_robin(schemas, args.repeat, args.warmup, "artifacts"):
            root = work / f"root-{schema}-{rep}"
            shutil.copytree(stored, root)
            done = run_process(
                [sys.executable, "-c", CHILD, str(csv), timeframe, str(root), str(schema)]
            )
            shutil.rmtree(root, ignore_errors=True)
            if done.code != 0:
                raise SystemExit(f"schema {schema} failed: {done.stderr[-2000:]}")
            sample = json.loads(done.stdout.strip().splitlines()[-1])
            if rep >= 0:
                samples[schema].append(sample | {"wall_s": done.wall_s, "rss_mib": done.maxrss_mib})
    run_ids = {s["run_id"] for rows in samples.values() for s in rows}
    if len(run_ids) != 1:
        raise SystemExit(f"the schemas made different runs: {sorted(run_ids)}")

    summary: dict[str, Any] = {}
    table = Table(title=f"{args.rows:,} rows {timeframe}, stored dataset, {args.repeat} reps")
    for column in (
        "schema",
        "wall s",
        "create_run s",
        "write s",
        "MB written",
        "timeline MB",
        "RSS MiB",
    ):
        table.add_column(column)
    for schema, rows in samples.items():
        figures = {
            "wall_s": stats([r["wall_s"] for r in rows]),
            "seconds": stats([r["seconds"] for r in rows]),
            "write_s": stats([r["stages"].get("write", 0.0) for r in rows]),
            "rss_mib": stats([r["rss_mib"] for r in rows]),
            "bytes": rows[0]["bytes"],
            "timeline_bytes": rows[0]["timeline_bytes"],
        }
        summary[str(schema)] = figures
        table.add_row(
            str(schema),
            spread(figures["wall_s"]),
            spread(figures["seconds"]),
            spread(figures["write_s"], 3),
            f"{figures['bytes'] / 1e6:.1f}",
            f"{figures['timeline_bytes'] / 1e6:.2f}",
            f"{figures['rss_mib']['median']:.0f}",
        )
    Console(width=120).print(table)
    save(
        args.out,
        {
            "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(PACKAGES),
            "rows": args.rows,
            "timeframe": timeframe,
            "repeat": args.repeat,
            "run_id": run_ids.pop(),
            "summary": summary,
            "samples": {str(k): v for k, v in samples.items()},
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

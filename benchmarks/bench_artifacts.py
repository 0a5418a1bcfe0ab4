"""Artifact-schema benchmark: the same run written under each artifact (manifest) schema.

Each sample is the suite's in-process stages child (bench_suite.py ``STAGES_CHILD``: its
end-to-end request, the builder's stages timed through the progress hook) in a fresh process,
with ``artifact_schema`` pinned, on a file whose dataset is already stored (the suite's
``quantrun_second`` preparation: a run with other parameters made once, its datasets/ and
receipts/ copied into a fresh RUNS_ROOT before every sample); the schemas run round-robin
inside each repetition::

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
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bench_ingest import ensure_csv
from bench_suite import RISK, STAGES_CHILD, stored_root
from harness import OUT_DIR, machine, parse_sized_args, round_robin, run_process, spread, stats
from harness import write_json as save

PACKAGES = ("quantrun", "polars", "pyarrow", "numpy", "numba")


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
    risk_file = OUT_DIR / "artifacts-risk.json"
    risk_file.write_text(json.dumps(RISK) + "\n")
    # A fresh RUNS_ROOT holding the file's dataset and receipt (the suite's quantrun_second).
    prepare = stored_root(csv, timeframe, risk_file)
    samples: dict[int, list[dict[str, Any]]] = {schema: [] for schema in schemas}
    for rep, schema in round_robin(schemas, args.repeat, args.warmup, "artifacts"):
        root = prepare()
        child = [sys.executable, "-c", STAGES_CHILD, str(csv), timeframe, str(root), str(risk_file)]
        done = run_process([*child, str(schema)])
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
            "bytes": sum(rows[0]["artifact_bytes"].values()),
            "timeline_bytes": rows[0]["artifact_bytes"]["timeline.json"],
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

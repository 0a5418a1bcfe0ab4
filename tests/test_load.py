"""A short bounded load test of a live ``quantrun serve`` (the CI version of benchmarks/load.py).

14 clients for 8 seconds on loopback, reads plus creation attempts of 4 distinct submissions,
against a rate limit of 6 a minute (all loopback clients share one budget), so most creation
attempts are refused with 429. It asserts outcomes, never speed: no answer but 2xx and the
intended 429s, no lost or duplicate runs or jobs, a consistent registry, flat server memory.
The long version (50 clients, 60 s) is ``benchmarks/load.py``; see benchmarks/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from load import LoadConfig, run_load, tables  # benchmarks/, on pytest's pythonpath

CI = LoadConfig(
    clients=14,
    seconds=8.0,
    datasets=2,
    variants=2,
    rows=3_000,
    create_share=0.1,
    rate_limit_per_minute=6,
    max_concurrent_jobs=1,
    max_queued_jobs=100,
    warmup_seconds=1.0,
    drain_timeout=30.0,
    request_timeout=30.0,
    rss_bound_mib=64.0,
)


def test_bounded_load_no_errors_no_lost_or_duplicate_runs_memory_flat(tmp_path: Path) -> None:
    result = run_load(CI, tmp_path)
    # The figures, for the test log (pytest -s or a failure shows them).
    console = Console(width=130, force_terminal=False)
    for table in tables(result):
        console.print(table)
    (tmp_path / "load.json").write_text(json.dumps(result, indent=2, default=str))

    failures = result["failures"]
    assert failures["count"] == 0, json.dumps(failures["examples"], indent=2)
    failed_checks = [c for c in result["checks"] if not c["ok"]]
    assert not failed_checks, json.dumps(failed_checks, indent=2)

    creation = result["creation"]
    assert creation["rate_limited"] >= 1, creation  # the limiter was exercised
    assert creation["jobs_succeeded"] >= 1, creation
    assert creation["runs_created"] >= 1, creation
    assert result["load"]["requests"] > 0

    memory = result["memory"]
    assert memory["flat"], memory  # RSS growth during the load below the bound, not a timing
    assert result["server_exit"]["clean"], result["server_exit"]

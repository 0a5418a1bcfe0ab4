"""A bounded load test of ``quantrun serve`` on loopback: reads plus run-creation attempts.

Starts a real server (``web_server.py``'s :class:`LiveServer`, its own process group,
always stopped) on a fresh RUNS_ROOT, then lets ``--clients`` threads hammer it for
``--seconds``: mostly reads (API and HTML pages) and some ``POST /api/v1/runs`` of a small,
known set of distinct submissions, each sent many times. Afterwards it waits (bounded) for
every accepted job and checks what must hold:

- no answer but 2xx, except the intended ``429 LIMIT_RATE`` on POSTs (problem+json with an
  integer ``Retry-After``); no connection errors;
- the rate limiter held: accepted POSTs <= burst + refill over the time POSTs were made;
- every accepted job succeeded; one submission always gave one job and one run (idempotence);
- ``GET /api/v1/runs`` lists each expected run exactly once, ``RUNS_ROOT/runs`` has exactly
  those folders, ``index.json`` has exactly those keys (no duplicate keys in the raw JSON),
  ``jobs/`` has only the accepted jobs, and ``quantrun registry check`` passes;
- the server's memory stays flat: RSS at the end of the load minus RSS after the warm-up is
  below ``--rss-bound-mib``. Memory, not time: nothing here fails because something was slow.

It prints a table (requests by endpoint and status, p50/p95/p99 latency, throughput, 429s,
runs created, RSS start/peak/end) and writes the JSON::

    .venv/bin/python benchmarks/load.py                       # 50 clients, 60 s
    .venv/bin/python benchmarks/load.py --clients 12 --seconds 10 --rate-limit 6

``tests/test_load.py`` is the short CI version of the same engine (:func:`run_load`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from harness import OUT_DIR, machine
from walk import SEED, random_walk
from web_server import LiveServer, ServerFailed

MIB = 1024 * 1024
PACKAGES = ("quantrun", "fastapi", "starlette", "uvicorn")
BOUNDARY = "quantrun-load-boundary-7d1f3a"

#: (strategy, params, timeframe): crossed with the datasets, the distinct submissions.
VARIANTS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("sma_crossover", {"fast": 5, "slow": 20}, "5m"),
    ("sma_crossover", {"fast": 10, "slow": 30}, "5m"),
    ("rsi_reversion", {"period": 14}, "15m"),
)

#: Relative weights of the read operations (a creation attempt gets ``create_share`` of all).
READ_WEIGHTS: dict[str, int] = {
    "GET /api/v1/runs": 14,
    "GET /api/v1/runs/{id}": 12,
    "GET /api/v1/runs/{id}/decisions": 12,
    "GET /api/v1/runs/{id}/artifacts/metrics.json": 10,
    "GET /api/v1/strategies": 6,
    "GET /api/v1/health/ready": 6,
    "GET /api/v1/jobs/{id}": 10,
    "GET /runs": 10,
    "GET /runs/{id}": 10,
}
CREATE = "POST /api/v1/runs"
#: Below uvicorn's keep-alive timeout (5 s): an older idle connection is not reused.
IDLE_RECONNECT_SECONDS = 3.0


@dataclass(frozen=True)
class LoadConfig:
    clients: int = 50
    seconds: float = 60.0
    datasets: int = 4
    variants: int = len(VARIANTS)
    rows: int = 3_000
    create_share: float = 0.1
    rate_limit_per_minute: int = 30
    max_concurrent_jobs: int = 2
    max_queued_jobs: int = 100
    warmup_seconds: float = 3.0
    drain_timeout: float = 180.0
    request_timeout: float = 60.0
    rss_bound_mib: float = 64.0
    seed: int = 1


@dataclass(frozen=True)
class Spec:
    """One distinct submission: a dataset file and a strategy request."""

    key: str
    dataset: int
    filename: str
    symbol: str
    strategy: str
    params: dict[str, Any]
    timeframe: str
    body: bytes = field(repr=False)


@dataclass
class Record:
    endpoint: str
    status: int  # 0 = no answer (connection error or timeout)
    seconds: float
    at: float  # monotonic start time
    phase: str
    detail: str = ""


@dataclass
class Shared:
    """What the clients learn while they run (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    job_spec: dict[str, str] = field(default_factory=dict)
    spec_jobs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    spec_runs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    job_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    creation: Counter[str] = field(default_factory=Counter)
    retry_after: Counter[int] = field(default_factory=Counter)
    post_ok_times: list[float] = field(default_factory=list)

    def add_run(self, run_id: str) -> None:
        with self.lock:
            if run_id not in self.runs:
                self.runs.append(run_id)

    def pick(self, rng: random.Random, what: str) -> str | None:
        with self.lock:
            items = self.runs if what == "run" else self.jobs
            return rng.choice(items) if items else None


# -- inputs ----------------------------------------------------------------------------------
def write_csv(path: Path, rows: int, seed: int) -> bytes:
    """A 1m random walk (``benchmarks/walk.py``) as ``time,open,...`` with epoch ms."""
    frame = random_walk(rows, seed)
    lines = ["time,open,high,low,close,volume"]
    for ts, o, h, lo, c, v in frame.iter_rows():
        lines.append(f"{ts // 1000},{o},{h},{lo},{c},{v}")
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return data


def multipart(fields: dict[str, str], filename: str, content: bytes) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    head = "".join(parts) + (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    return head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def make_specs(config: LoadConfig, folder: Path) -> list[Spec]:
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for d in range(config.datasets):
        filename = f"load-{d}.csv"
        content = write_csv(folder / filename, config.rows, SEED + d)
        symbol = f"LOAD{d}"
        for v, (strategy, params, timeframe) in enumerate(VARIANTS[: config.variants]):
            fields = {
                "symbol": symbol,
                "strategy": strategy,
                "timeframe": timeframe,
                "params": json.dumps(params, sort_keys=True),
                "risk": "moderate",
            }
            body = multipart(fields, filename, content)
            specs.append(Spec(f"d{d}v{v}", d, filename, symbol, strategy, params, timeframe, body))
    return specs


# -- memory ----------------------------------------------------------------------------------
def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


class RssSampler:
    """Samples the server's VmRSS (and its job workers' summed) every ``interval`` seconds."""

    def __init__(self, pid: int, t0: float, interval: float = 1.0) -> None:
        self.pid = pid
        self.t0 = t0
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.phase = "warmup"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def sample(self, phase: str) -> dict[str, Any] | None:
        rss = _status_kib(self.pid, "VmRSS")
        if rss is None:
            return None
        kids = [(c, _status_kib(c, "VmRSS")) for c in _children(self.pid)]
        row = {
            "t": round(time.monotonic() - self.t0, 2),
            "phase": phase,
            "server_kib": rss,
            "threads": _status_kib(self.pid, "Threads"),
            "children": len(kids),
            "children_kib": sum(k or 0 for _, k in kids),
        }
        self.samples.append(row)
        return row

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample(self.phase)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


# -- clients ---------------------------------------------------------------------------------
class Client:
    """One client thread: a keep-alive connection, a seeded choice of operations."""

    def __init__(
        self,
        index: int,
        port: int,
        config: LoadConfig,
        specs: list[Spec],
        shared: Shared,
    ) -> None:
        self.index = index
        self.port = port
        self.config = config
        self.specs = specs
        self.shared = shared
        self.rng = random.Random(config.seed * 1_000 + index)
        self.records: list[Record] = []
        self.failures: list[dict[str, Any]] = []
        self.conn: http.client.HTTPConnection | None = None
        self.last_answer = 0.0
        self.connections = 0
        self.create_after = 0.0
        self.phase = "load"
        ops = list(READ_WEIGHTS)
        weights = [float(w) for w in READ_WEIGHTS.values()]
        reads = sum(weights)
        share = min(max(config.create_share, 0.0), 0.95)
        self.ops = [*ops, CREATE]
        self.weights = [*weights, reads * share / (1.0 - share)]

    # transport
    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes, float, str]:
        """(status, headers, body, seconds, error); status 0 when there was no answer."""
        if time.monotonic() - self.last_answer > IDLE_RECONNECT_SECONDS:
            # uvicorn closes a keep-alive connection idle for 5 s; reusing one that old races
            # that close (RemoteDisconnected), a client-side artefact, so start afresh.
            self.close()
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.config.request_timeout
                )
                self.connections += 1
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
            self.last_answer = time.monotonic()
            answer = {k.lower(): v for k, v in response.getheaders()}
            if response.will_close:
                self.close()
            return response.status, answer, data, time.perf_counter() - started, ""
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 0, {}, b"", time.perf_counter() - started, f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
            self.conn = None

    def record(
        self,
        endpoint: str,
        path: str,
        status: int,
        seconds: float,
        at: float,
        problem: str = "",
    ) -> None:
        self.records.append(Record(endpoint, status, seconds, at, self.phase, problem))
        if problem and len(self.failures) < 20:
            self.failures.append(
                {
                    "endpoint": endpoint,
                    "path": path,
                    "status": status,
                    "phase": self.phase,
                    "client": self.index,
                    "problem": problem[:500],
                }
            )

    # operations
    def get(self, endpoint: str, path: str, *, html: bool = False) -> dict[str, Any] | None:
        at = time.monotonic()
        status, headers, data, seconds, err = self.request("GET", path)
        problem = err
        parsed: dict[str, Any] | None = None
        if not err and status != 200:
            problem = f"HTTP {status}: {data[:300]!r}"
        elif not err:
            kind = headers.get("content-type", "")
            if html:
                if not kind.startswith("text/html"):
                    problem = f"content-type {kind!r}"
            else:
                try:
                    parsed = json.loads(data)
                except ValueError:
                    problem = f"not JSON: {data[:200]!r}"
        self.record(endpoint, path, status, seconds, at, problem)
        return parsed

    def read(self, op: str) -> None:
        if op in ("GET /api/v1/runs", "GET /runs"):
            query = self.rng.choice(["", "?sort=sharpe", "?order=asc", "?strategy=sma_crossover"])
            if op == "GET /runs":
                self.get(op, "/runs" + query, html=True)
            else:
                self.get(op, "/api/v1/runs" + query)
            return
        if op == "GET /api/v1/strategies":
            self.get(op, "/api/v1/strategies")
            return
        if op == "GET /api/v1/health/ready":
            self.get(op, "/api/v1/health/ready")
            return
        if op == "GET /api/v1/jobs/{id}":
            job_id = self.shared.pick(self.rng, "job")
            if job_id is not None:
                self.poll_job(job_id)
                return
            op = "GET /api/v1/runs/{id}"
        run_id = self.shared.pick(self.rng, "run")
        if run_id is None:
            self.get("GET /api/v1/runs", "/api/v1/runs")
            return
        if op == "GET /api/v1/runs/{id}":
            self.get(op, f"/api/v1/runs/{run_id}")
        elif op == "GET /api/v1/runs/{id}/decisions":
            page = self.rng.choice([1, 1, 2, 3])
            self.get(op, f"/api/v1/runs/{run_id}/decisions?page={page}&size=50")
        elif op == "GET /api/v1/runs/{id}/artifacts/metrics.json":
            self.get(op, f"/api/v1/runs/{run_id}/artifacts/metrics.json")
        elif op == "GET /runs/{id}":
            self.get(op, f"/runs/{run_id}", html=True)

    def poll_job(self, job_id: str) -> dict[str, Any] | None:
        job = self.get("GET /api/v1/jobs/{id}", f"/api/v1/jobs/{job_id}")
        if job is not None:
            with self.shared.lock:
                self.shared.job_state[job_id] = job
            if job.get("state") == "succeeded" and job.get("run_id"):
                self.note_run(job_id, str(job["run_id"]))
        return job

    def note_run(self, job_id: str, run_id: str) -> None:
        spec = self.shared.job_spec.get(job_id)
        with self.shared.lock:
            if spec is not None:
                self.shared.spec_runs[spec].add(run_id)
        self.shared.add_run(run_id)

    def create(self, spec: Spec) -> dict[str, Any] | None:
        path = "/api/v1/runs"
        headers = {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "X-Quantrun-Client": "1",
        }
        at = time.monotonic()
        status, answer, data, seconds, err = self.request("POST", path, spec.body, headers)
        problem = err
        body: dict[str, Any] = {}
        if not err:
            try:
                body = json.loads(data)
            except ValueError:
                problem = f"HTTP {status}, not JSON: {data[:200]!r}"
        if not problem and status in (200, 202):
            problem = self._accepted(spec, status, body, at)
        elif not problem and status == 429:
            problem = self._limited(answer, body)
        elif not problem:
            problem = f"HTTP {status}: {body.get('code')} {body.get('detail')}"
        self.record(CREATE, path, status, seconds, at, problem)
        return body if not problem else None

    def _accepted(self, spec: Spec, status: int, body: dict[str, Any], at: float) -> str:
        job = body.get("job") or {}
        job_id = job.get("job_id")
        if not isinstance(job_id, str):
            return f"HTTP {status} without a job id: {body!r:.200}"
        run_id = body.get("run_id")
        with self.shared.lock:
            self.shared.post_ok_times.append(at)
            self.shared.creation[f"{status} {job.get('state')}"] += 1
            self.shared.spec_jobs[spec.key].add(job_id)
            self.shared.job_spec.setdefault(job_id, spec.key)
            if job_id not in self.shared.jobs:
                self.shared.jobs.append(job_id)
        if status == 200:
            if not isinstance(run_id, str) or body.get("created") is not False:
                return f"HTTP 200 without run_id/created=false: {body!r:.200}"
            self.note_run(job_id, run_id)
        elif run_id is not None:
            return f"HTTP 202 with a run_id: {body!r:.200}"
        return ""

    def _limited(self, headers: dict[str, str], body: dict[str, Any]) -> str:
        kind = headers.get("content-type", "")
        raw = headers.get("retry-after", "")
        if not kind.startswith("application/problem+json") or body.get("code") != "LIMIT_RATE":
            return f"HTTP 429 but {kind!r} code={body.get('code')!r}"
        if not raw.isdigit() or int(raw) < 1:
            return f"HTTP 429 with Retry-After {raw!r}"
        wait = int(raw)
        with self.shared.lock:
            self.shared.creation["429"] += 1
            self.shared.retry_after[wait] += 1
        # A well-behaved client: no creation attempts until Retry-After has passed.
        self.create_after = time.monotonic() + wait
        return ""

    def run(self, until: float) -> None:
        try:
            while time.monotonic() < until:
                op = self.rng.choices(self.ops, self.weights)[0]
                if op == CREATE and time.monotonic() >= self.create_after:
                    self.create(self.rng.choice(self.specs))
                else:
                    self.read("GET /api/v1/runs" if op == CREATE else op)
        except Exception as exc:  # a bug in the client must show, not kill the thread silently
            self.record("client", "", -1, 0.0, time.monotonic(), f"client crashed: {exc!r}")
        finally:
            self.close()


def run_clients(clients: list[Client], seconds: float, phase: str) -> float:
    for client in clients:
        client.phase = phase
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=c.run, args=(until,), name=f"load-{c.index}", daemon=True)
        for c in clients
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


# -- statistics ------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[rank]


def summarise(records: list[Record], seconds: float) -> dict[str, Any]:
    by_endpoint: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_endpoint[r.endpoint].append(r)
    endpoints = {}
    for name in sorted(by_endpoint):
        rows = by_endpoint[name]
        ok = [r.seconds * 1000 for r in rows if 200 <= r.status < 300]
        endpoints[name] = {
            "requests": len(rows),
            "status": dict(sorted(Counter(str(r.status) for r in rows).items())),
            "p50_ms": percentile(ok, 50),
            "p95_ms": percentile(ok, 95),
            "p99_ms": percentile(ok, 99),
            "max_ms": max(ok) if ok else float("nan"),
        }
    all_ms = [r.seconds * 1000 for r in records if r.status > 0]
    return {
        "requests": len(records),
        "seconds": seconds,
        "throughput_rps": len(records) / seconds if seconds > 0 else 0.0,
        "status": dict(sorted(Counter(str(r.status) for r in records).items())),
        "p50_ms": percentile(all_ms, 50),
        "p95_ms": percentile(all_ms, 95),
        "p99_ms": percentile(all_ms, 99),
        "endpoints": endpoints,
    }


def memory_summary(samples: list[dict[str, Any]], bound_mib: float) -> dict[str, Any]:
    load = [s for s in samples if s["phase"] == "load"]
    later = [s for s in samples if s["phase"] in ("load", "drain")]
    if not load:
        return {"samples": len(samples), "flat": False, "note": "no samples during the load"}
    start, end = load[0]["server_kib"], load[-1]["server_kib"]
    mid = load[len(load) // 2]["server_kib"]
    after = samples[-1]["server_kib"]
    growth = (end - start) / 1024
    return {
        "samples": len(samples),
        "server_start_mib": start / 1024,
        "server_peak_mib": max(s["server_kib"] for s in later) / 1024,
        "server_end_mib": end / 1024,
        "server_after_drain_mib": after / 1024,
        "growth_mib": growth,
        "growth_second_half_mib": (end - mid) / 1024,
        "bound_mib": bound_mib,
        "flat": growth < bound_mib,
        "threads_start": load[0]["threads"],
        "threads_peak": max(s["threads"] or 0 for s in later),
        "threads_end": load[-1]["threads"],
        "children_peak": max(s["children"] for s in later),
        "children_peak_mib": max(s["children_kib"] for s in later) / 1024,
    }


# -- verification ----------------------------------------------------------------------------
def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def drain(client: Client, shared: Shared, timeout: float) -> dict[str, dict[str, Any]]:
    """Poll every accepted job until none is queued or running, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    final: dict[str, dict[str, Any]] = {}
    while True:
        with shared.lock:
            pending = [j for j in shared.jobs if j not in final]
        for job_id in pending:
            job = client.poll_job(job_id)
            if job is not None and job.get("state") in ("succeeded", "failed"):
                final[job_id] = job
        with shared.lock:
            if all(j in final for j in shared.jobs) or time.monotonic() > deadline:
                return final
        time.sleep(0.25)


def verify(
    client: Client,
    shared: Shared,
    final: dict[str, dict[str, Any]],
    runs_root: Path,
    config: LoadConfig,
    post_window: float,
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    jobs = list(shared.jobs)
    unfinished = [j[:12] for j in jobs if j not in final]
    failed = {j[:12]: (final[j].get("error") or {}).get("code") for j in final}
    failed = {j: c for j, c in failed.items() if c is not None}
    check(
        "every accepted job succeeded",
        not unfinished and not failed and all(final[j].get("run_id") for j in final),
        f"{len(jobs)} job(s); unfinished {unfinished}; failed {failed}",
    )
    multi_jobs = {k: len(v) for k, v in shared.spec_jobs.items() if len(v) != 1}
    multi_runs = {k: len(v) for k, v in shared.spec_runs.items() if len(v) != 1}
    shared_jobs = sum(len(v) for v in shared.spec_jobs.values()) - len(shared.jobs)
    check(
        "one submission, one job, one run",
        not multi_jobs
        and not multi_runs
        and not shared_jobs
        and set(shared.spec_runs) == set(shared.spec_jobs),
        f"{len(shared.spec_jobs)} distinct submission(s) accepted; several jobs {multi_jobs}; "
        f"runs per submission != 1 {multi_runs}; jobs shared by submissions {shared_jobs}",
    )
    expected = {r for runs in shared.spec_runs.values() for r in runs}
    per_job = [final[j].get("run_id") for j in final]
    check(
        "distinct submissions, distinct runs",
        len(set(per_job)) == len(per_job) == len(expected),
        f"{len(per_job)} job(s) -> {len(set(per_job))} run id(s); expected {len(expected)}",
    )

    listing = client.get("GET /api/v1/runs", "/api/v1/runs?size=500") or {}
    listed = [r.get("run_id") for r in listing.get("runs", [])]
    dupes = [r for r, n in Counter(listed).items() if n > 1]
    check(
        "GET /api/v1/runs lists each run exactly once",
        not dupes and set(listed) == expected and listing.get("total") == len(expected),
        f"listed {len(listed)} (total {listing.get('total')}), expected {len(expected)}, "
        f"duplicates {dupes}",
    )
    leftover_jobs = [j for j in listing.get("jobs", []) if j.get("state") != "succeeded"]
    check(
        "no job left queued, running or failed",
        not leftover_jobs,
        f"{[(j.get('job_id', '')[:12], j.get('state')) for j in leftover_jobs]}",
    )

    folders = sorted(p.name for p in (runs_root / "runs").iterdir() if p.is_dir())
    check(
        "RUNS_ROOT/runs holds exactly the expected runs",
        set(folders) == expected and len(folders) == len(expected),
        f"{len(folders)} folder(s), expected {len(expected)}",
    )
    try:
        raw = (runs_root / "index.json").read_text(encoding="utf-8")
        index = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
        keys = set(index.get("runs", {}))
        check(
            "index.json: no duplicates, exactly the expected runs",
            keys == expected,
            f"{len(keys)} entr(ies), generation {index.get('generation')}",
        )
    except (OSError, ValueError) as exc:
        check("index.json: no duplicates, exactly the expected runs", False, str(exc))
    job_files = {p.stem for p in (runs_root / "jobs").glob("*.json")}
    check(
        "jobs/ holds exactly the accepted jobs",
        job_files == set(jobs),
        f"{len(job_files)} job file(s), {len(jobs)} accepted",
    )
    staging = runs_root / "staging"
    left = sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []
    check("staging/ is empty", not left, f"{left[:5]}")

    registry = subprocess.run(
        [sys.executable, "-m", "quantrun", "registry", "check", "--runs-root", str(runs_root)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")},
        check=False,
    )
    check(
        "quantrun registry check passes",
        registry.returncode == 0,
        f"exit {registry.returncode}: {(registry.stdout + registry.stderr).strip()[-300:]}",
    )

    if config.rate_limit_per_minute > 0:
        burst = config.rate_limit_per_minute
        allowed = burst + config.rate_limit_per_minute * post_window / 60.0 + 1
        accepted = len(shared.post_ok_times)
        check(
            "the rate limiter held",
            accepted <= allowed,
            f"{accepted} POST(s) accepted in {post_window:.1f} s; the bucket allows "
            f"<= {allowed:.1f} (burst {burst} + {config.rate_limit_per_minute}/min)",
        )
    return checks


# -- the whole test --------------------------------------------------------------------------
def server_env(config: LoadConfig) -> dict[str, str]:
    return {
        "QUANTRUN_ENABLE_RUN_CREATION": "1",
        "QUANTRUN_RATE_LIMIT_PER_MINUTE": str(config.rate_limit_per_minute),
        "QUANTRUN_MAX_CONCURRENT_JOBS": str(config.max_concurrent_jobs),
        "QUANTRUN_MAX_QUEUED_JOBS": str(config.max_queued_jobs),
    }


def run_load(config: LoadConfig, workdir: Path, log: Any = None) -> dict[str, Any]:
    """Run the whole load test in ``workdir`` (inputs, RUNS_ROOT, server log); the result."""

    def say(message: str) -> None:
        if log is not None:
            log(message)

    t0 = time.monotonic()
    specs = make_specs(config, workdir / "inputs")
    runs_root = workdir / "runs-root"
    shared = Shared()
    server = LiveServer(
        runs_root,
        enable_run_creation=True,
        log_path=workdir / "server.log",
        env=server_env(config),
    )
    server.start()
    assert server.process is not None
    sampler = RssSampler(server.process.pid, t0)
    sampler.start()
    warm = Client(-1, server.port, config, specs, shared)  # warm-up, drain and verification
    warm.phase = "warmup"
    result: dict[str, Any] = {}
    try:
        up = time.monotonic() - t0
        say(f"server up on {server.url} (pid {server.process.pid}) after {up:.1f} s")
        # Warm-up: one real submission (imports the upload path, gives the reads a run id),
        # then every read endpoint for a while. Its records are kept apart.
        first = warm.create(specs[0])
        if first is not None and first.get("job"):
            deadline = time.monotonic() + config.drain_timeout
            while time.monotonic() < deadline:
                job = warm.poll_job(first["job"]["job_id"])
                if job is None or job.get("state") in ("succeeded", "failed"):
                    break
                time.sleep(0.2)
        clients = [Client(i, server.port, config, specs, shared) for i in range(config.clients)]
        if config.warmup_seconds > 0:
            for c in clients:  # reads only while warming up
                c.create_after = float("inf")
            run_clients(clients, config.warmup_seconds, "warmup")
            for c in clients:
                c.create_after = 0.0
        say(f"warm-up done after {time.monotonic() - t0:.1f} s; load for {config.seconds:g} s")

        sampler.phase = "load"
        sampler.sample("load")
        load_started = time.monotonic()
        elapsed = run_clients(clients, config.seconds, "load")
        sampler.sample("load")
        sampler.phase = "drain"
        done = sum(1 for c in clients for r in c.records if r.phase == "load")
        say(f"load done: {done} request(s) in {elapsed:.1f} s")
        warm.phase = "verify"

        drain_started = time.monotonic()
        final = drain(warm, shared, config.drain_timeout)
        drain_seconds = time.monotonic() - drain_started
        sampler.sample("drain")
        say(f"drained {len(final)} job(s) in {drain_seconds:.1f} s")
        post_times = sorted(shared.post_ok_times)
        window = (max(post_times) - min(post_times)) if post_times else 0.0
        checks = verify(warm, shared, final, runs_root, config, window)

        load_records = [r for c in clients for r in c.records if r.phase == "load"]
        warm_records = [r for c in [warm, *clients] for r in c.records if r.phase == "warmup"]
        failures = [f for c in [warm, *clients] for f in c.failures]
        # A record carries a detail only when it failed (a well-formed POST 429 carries none);
        # the warm-up's and the verification's own requests count as well.
        bad = [r for c in [warm, *clients] for r in c.records if r.detail]
        bad_429 = [r for r in bad if r.status == 429]
        created = [j for j in final.values() if j.get("created") is True]
        job_seconds = [
            _duration(str(j["started_at"]), str(j["finished_at"]))
            for j in final.values()
            if j.get("started_at") and j.get("finished_at")
        ]
        result = {
            "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(PACKAGES),
            "config": asdict(config),
            "server_env": server_env(config),
            "distinct_submissions": len(specs),
            "load": summarise(load_records, elapsed),
            "warmup_requests": len(warm_records),
            "connections_opened": sum(c.connections for c in [warm, *clients]),
            "creation": {
                "attempts": sum(1 for r in load_records if r.endpoint == CREATE)
                + sum(1 for r in warm_records if r.endpoint == CREATE),
                "answers": dict(sorted(shared.creation.items())),
                "rate_limited": shared.creation["429"],
                "retry_after_seconds": {str(k): v for k, v in sorted(shared.retry_after.items())},
                "accepted_posts": len(shared.post_ok_times),
                "distinct_submissions_accepted": len(shared.spec_jobs),
                "jobs": len(shared.jobs),
                "jobs_succeeded": sum(1 for j in final.values() if j.get("state") == "succeeded"),
                "runs_created": len(created),
                "runs": len({r for v in shared.spec_runs.values() for r in v}),
                "job_seconds_median": statistics.median(job_seconds) if job_seconds else None,
                "drain_seconds": drain_seconds,
            },
            "failures": {
                "count": len(bad),
                "malformed_429": len(bad_429),
                "examples": failures[:20],
            },
            "checks": checks,
            "memory": memory_summary(sampler.samples, config.rss_bound_mib),
            "rss_samples": sampler.samples,
            "load_started_s": round(load_started - t0, 2),
        }
    finally:
        warm.close()
        sampler.stop()
        try:
            code = server.stop()
            result["server_exit"] = {"code": code, "clean": True}
        except ServerFailed as exc:
            result["server_exit"] = {"code": None, "clean": False, "detail": str(exc)[-500:]}
        result["total_seconds"] = time.monotonic() - t0
    return result


def _duration(start: str, end: str) -> float:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    a = datetime.strptime(start, fmt).replace(tzinfo=UTC)
    b = datetime.strptime(end, fmt).replace(tzinfo=UTC)
    return (b - a).total_seconds()


def passed(result: dict[str, Any]) -> bool:
    return (
        result.get("failures", {}).get("count", 1) == 0
        and all(c["ok"] for c in result.get("checks", []))
        and bool(result.get("memory", {}).get("flat"))
        and bool(result.get("server_exit", {}).get("clean"))
    )


# -- output ----------------------------------------------------------------------------------
def _ms(value: float) -> str:
    return "-" if value != value else f"{value:,.1f}"  # NaN -> "-"


def tables(result: dict[str, Any]) -> list[Table]:
    load = result["load"]
    t = Table(
        title=f"{result['config']['clients']} clients, {load['seconds']:.1f} s: "
        f"{load['requests']:,} requests, {load['throughput_rps']:,.1f} req/s"
    )
    for name in ("endpoint", "requests", "status", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        justify: Literal["left", "right"] = "left" if name in ("endpoint", "status") else "right"
        t.add_column(name, justify=justify, no_wrap=name == "endpoint")
    for name, row in load["endpoints"].items():
        status = " ".join(f"{k}:{v}" for k, v in row["status"].items())
        t.add_row(
            name,
            f"{row['requests']:,}",
            status,
            _ms(row["p50_ms"]),
            _ms(row["p95_ms"]),
            _ms(row["p99_ms"]),
            _ms(row["max_ms"]),
        )
    status = " ".join(f"{k}:{v}" for k, v in load["status"].items())
    t.add_row(
        "all", f"{load['requests']:,}", status, _ms(load["p50_ms"]), _ms(load["p95_ms"]),
        _ms(load["p99_ms"]), "",
    )  # fmt: skip

    c, m = result["creation"], result["memory"]
    s = Table(title="creation, memory, verdict")
    s.add_column("what")
    s.add_column("value")
    s.add_row("creation attempts", f"{c['attempts']:,} ({c['answers']})")
    s.add_row(
        "429 LIMIT_RATE", f"{c['rate_limited']:,} (Retry-After s: {c['retry_after_seconds']})"
    )
    s.add_row(
        "jobs / runs",
        f"{c['jobs']} job(s) from {c['distinct_submissions_accepted']} of "
        f"{result['distinct_submissions']} submission(s); {c['jobs_succeeded']} succeeded; "
        f"{c['runs_created']} run(s) created, {c['runs']} run(s) in all",
    )
    s.add_row(
        "job time / drain",
        f"median {c['job_seconds_median']} s per job; drain {c['drain_seconds']:.1f} s",
    )
    if "server_start_mib" in m:
        s.add_row(
            "server RSS",
            f"start {m['server_start_mib']:.1f} MiB, peak {m['server_peak_mib']:.1f}, "
            f"end {m['server_end_mib']:.1f} (growth {m['growth_mib']:+.1f}, second half "
            f"{m['growth_second_half_mib']:+.1f}; bound {m['bound_mib']:g}); after drain "
            f"{m['server_after_drain_mib']:.1f}",
        )
        s.add_row(
            "threads / workers",
            f"server threads {m['threads_start']} -> {m['threads_end']} (peak "
            f"{m['threads_peak']}); job workers at once <= {m['children_peak']} "
            f"({m['children_peak_mib']:.1f} MiB)",
        )
    f = result["failures"]
    s.add_row("failures", f"{f['count']} (malformed 429s {f['malformed_429']})")
    for check in result["checks"]:
        s.add_row(("ok   " if check["ok"] else "FAIL ") + check["check"], check["detail"])
    s.add_row("server exit", str(result.get("server_exit")))
    s.add_row("verdict", "PASS" if passed(result) else "FAIL")
    return [t, s]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    d = LoadConfig()
    parser.add_argument("--clients", type=int, default=d.clients)
    parser.add_argument("--seconds", type=float, default=d.seconds)
    parser.add_argument("--datasets", type=int, default=d.datasets, help="distinct CSV files")
    parser.add_argument(
        "--variants", type=int, default=d.variants, help=f"strategy variants (<= {len(VARIANTS)})"
    )
    parser.add_argument("--rows", type=int, default=d.rows, help="1m bars per CSV")
    parser.add_argument("--create-share", type=float, default=d.create_share)
    parser.add_argument("--rate-limit", type=int, default=d.rate_limit_per_minute)
    parser.add_argument("--max-concurrent-jobs", type=int, default=d.max_concurrent_jobs)
    parser.add_argument("--max-queued-jobs", type=int, default=d.max_queued_jobs)
    parser.add_argument("--warmup", type=float, default=d.warmup_seconds)
    parser.add_argument("--rss-bound-mib", type=float, default=d.rss_bound_mib)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--workdir", type=Path, default=OUT_DIR / "load")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "load.json")
    args = parser.parse_args(argv)
    config = LoadConfig(
        clients=args.clients,
        seconds=args.seconds,
        datasets=args.datasets,
        variants=min(args.variants, len(VARIANTS)),
        rows=args.rows,
        create_share=args.create_share,
        rate_limit_per_minute=args.rate_limit,
        max_concurrent_jobs=args.max_concurrent_jobs,
        max_queued_jobs=args.max_queued_jobs,
        warmup_seconds=args.warmup,
        rss_bound_mib=args.rss_bound_mib,
        seed=args.seed,
    )
    workdir: Path = args.workdir
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    # Piped (into a file, CI logs): wide enough for the table, instead of 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=150)
    result = run_load(config, workdir, log=lambda m: console.print(f"[dim]{m}[/dim]"))
    for table in tables(result):
        console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_finite(result), indent=2, allow_nan=False) + "\n")
    console.print(f"wrote {args.out}")
    return 0 if passed(result) else 1


def _finite(value: Any) -> Any:
    """NaN (an empty percentile) as null, so the JSON stays strict."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    raise SystemExit(main())

"""Same input, same dataset id, byte-identical files: across roots, processes, cwd and TZ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from conftest import CsvWriter, minute_rows
from quantrun.api import ingest_file
from quantrun.data.demo import write_demo_csv
from quantrun.settings import Settings


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_ingest_twice_gives_identical_bytes(write_csv: CsvWriter, tmp_path: Path) -> None:
    path = str(write_csv(minute_rows(500)))
    a = ingest_file([path], Settings(runs_root=tmp_path / "a"))
    b = ingest_file([path], Settings(runs_root=tmp_path / "b"))
    assert a.dataset_id == b.dataset_id
    assert _files(a.path) == _files(b.path)
    again = ingest_file([path], Settings(runs_root=tmp_path / "a"))
    assert (again.dataset_id, again.created) == (a.dataset_id, False)


def test_other_process_cwd_and_timezone_give_the_same_bytes(tmp_path: Path) -> None:
    csv = write_demo_csv(tmp_path / "demo.csv")
    local = ingest_file([str(csv)], Settings(runs_root=tmp_path / "here"), symbol="DEMOUSD")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    env |= {"TZ": "Asia/Kathmandu", "LC_ALL": "C", "QUANTRUN_RUNS_ROOT": str(tmp_path / "there")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "quantrun",
            "data",
            "ingest",
            str(csv),
            "--symbol",
            "DEMOUSD",
            "--json",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    remote = json.loads(done.stdout)
    assert remote["dataset_id"] == local.dataset_id
    assert _files(Path(remote["path"])) == _files(local.path)


def test_demo_csv_is_reproducible(tmp_path: Path) -> None:
    a = write_demo_csv(tmp_path / "a.csv").read_bytes()
    b = write_demo_csv(tmp_path / "b.csv").read_bytes()
    assert a == b
    assert a.startswith(b"time,open,high,low,close,volume\n2024-01-01T00:00:00Z,")


def test_parquet_schema_is_canonical(write_csv: CsvWriter, settings: Settings) -> None:
    result = ingest_file([str(write_csv(minute_rows(3)))], settings)
    schema = pq.read_schema(result.path / "bars.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [
        ("ts", "timestamp[us, tz=UTC]"),
        ("open", "double"),
        ("high", "double"),
        ("low", "double"),
        ("close", "double"),
        ("volume", "double"),
    ]
    meta = json.loads((result.path / "dataset.json").read_text())
    assert meta["files"]["bars.parquet"]["bytes"] == (result.path / "bars.parquet").stat().st_size

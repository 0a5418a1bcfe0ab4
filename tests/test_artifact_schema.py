"""Manifest schema 2 (issue 17): decision records as Parquet, and a run on its data's own
timeframe referencing the stored dataset's bars instead of copying them. Runs made under
schema 1 keep their files and rebuild byte for byte; every reader sees the same frames from
both schemas; the dataset a run's bars live in is checked by ``runs verify`` and
``registry check``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from quantrun.api import check_registry, create_run, open_run, verify_run
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.runs.artifacts import artifact_names
from quantrun.settings import Settings
from quantrun.web import create_app

RSI: dict[str, Any] = {"symbol": "DEMOUSD", "strategy": "rsi_reversion", "risk": "aggressive"}


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", days=4)


def _pair(csv: Path, root: Path, **fields: Any) -> dict[int, str]:
    """The same request built under manifest schema 1 and 2, in two RUNS_ROOTs."""
    ids = {}
    for schema in (1, 2):
        settings = Settings(runs_root=root / f"schema{schema}")
        ids[schema] = create_run([str(csv)], settings, artifact_schema=schema, **fields).run_id
    return ids


@pytest.mark.parametrize(
    ("window", "timeframe"),
    [({}, "1m"), ({"start": "2024-01-02T00:00:00Z", "end": "2024-01-03T06:00:00Z"}, "1m")],
    ids=["whole", "window"],
)
def test_a_run_on_its_datas_own_timeframe_references_the_dataset_bars(
    demo_csv: Path, tmp_path: Path, window: dict[str, str], timeframe: str
) -> None:
    ids = _pair(demo_csv, tmp_path, timeframe=timeframe, **RSI, **window)
    assert ids[1] == ids[2]  # the artifact formats are not part of the identity
    old = open_run(ids[1], Settings(runs_root=tmp_path / "schema1"))
    new = open_run(ids[2], Settings(runs_root=tmp_path / "schema2"))

    assert old.manifest.schema_version == 1 and old.manifest.bars_source is None
    assert sorted(p.name for p in old.path.iterdir()) == sorted(artifact_names(1))
    assert new.manifest.schema_version == 2 and new.manifest.bars_source == "dataset"
    assert sorted(p.name for p in new.path.iterdir()) == sorted(artifact_names(2, bars=False))
    raw = json.loads((new.path / "manifest.json").read_text())
    assert raw["bars_source"] == "dataset" and "bars_source" not in json.loads(
        (old.path / "manifest.json").read_text()
    )

    # Every reader sees one frame from both schemas.
    assert new.bars().equals(old.bars()) and new.bars().schema == old.bars().schema
    assert new.bars().height == new.manifest.summary.bars > 0
    assert new.decisions().equals(old.decisions())
    assert new.decisions().schema == old.decisions().schema
    assert new.decisions(action="fill").height > 0
    for name in ("trades.csv", "metrics.json", "timeline.json", "series.parquet"):
        assert new.read_bytes(name) == old.read_bytes(name), name


def test_the_parquet_records_hold_what_the_json_lines_hold(demo_csv: Path, tmp_path: Path) -> None:
    """Read independently (pyarrow, json): the same records, NaN as null, ts as UTC time."""
    ids = _pair(demo_csv, tmp_path, timeframe="15m", **RSI)
    old = open_run(ids[1], Settings(runs_root=tmp_path / "schema1"))
    new = open_run(ids[2], Settings(runs_root=tmp_path / "schema2"))
    assert new.manifest.bars_source == "artifact"  # resampled: its own bars.parquet
    assert new.read_bytes("bars.parquet") == old.read_bytes("bars.parquet")
    lines = [json.loads(x) for x in old.read_bytes("decision_records.jsonl").splitlines()]
    table = pq.read_table(new.path / "decision_records.parquet")
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    rows = table.to_pylist()
    for row in rows:
        row["ts"] = row["ts"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows == lines and len(rows) > 10
    # Never a NaN (the JSON lines write one as null).
    assert all(v == v for row in rows for v in row.values() if isinstance(v, float))


def test_a_strategy_without_indicators_writes_null_records(tmp_path: Path, demo_csv: Path) -> None:
    ids = _pair(demo_csv, tmp_path, timeframe="1h", symbol="DEMOUSD", strategy="buy_and_hold")
    new = open_run(ids[2], Settings(runs_root=tmp_path / "schema2"))
    old = open_run(ids[1], Settings(runs_root=tmp_path / "schema1"))
    assert new.decisions().equals(old.decisions())
    assert pq.read_table(new.path / "decision_records.parquet").column("indicators").null_count


def test_both_schemas_verify_by_rerun_byte_for_byte(demo_csv: Path, tmp_path: Path) -> None:
    ids = _pair(demo_csv, tmp_path, timeframe="1m", **RSI)
    for schema in (1, 2):
        report = verify_run(
            ids[schema], Settings(runs_root=tmp_path / f"schema{schema}"), rerun=True
        )
        assert report.ok, report.to_dict()
        assert report.rerun_compared == "bytes"


def test_the_referenced_dataset_is_checked(demo_csv: Path, tmp_path: Path) -> None:
    settings = Settings(runs_root=tmp_path / "root")
    run_id = create_run([str(demo_csv)], settings, timeframe="1m", **RSI).run_id
    view = open_run(run_id, settings)
    assert view.manifest.bars_in_dataset
    assert view.verify() == [] and check_registry(settings).ok
    dataset = settings.layout.dataset(view.manifest.dataset.dataset_id)

    # Damaged: the bars no longer hash to the dataset.
    saved = tmp_path / "saved"
    shutil.copytree(dataset, saved)
    bars = dataset / "bars.parquet"
    data = bytearray(bars.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bars.write_bytes(bytes(data))
    problems = open_run(run_id, settings).verify()
    assert len(problems) == 1 and "DATASET_CORRUPT" in problems[0], problems
    assert not check_registry(settings).ok
    with pytest.raises(QuantrunError) as caught:
        open_run(run_id, settings).bars()
    assert caught.value.code == ErrorCode.DATASET_CORRUPT

    # Gone: the CLI says so with the stable code, and exits non-zero.
    shutil.rmtree(dataset)
    out = CliRunner().invoke(
        main, ["runs", "verify", run_id, "--runs-root", str(settings.runs_root)]
    )
    assert out.exit_code != 0 and "DATASET_NOT_FOUND" in out.output, out.output
    check = check_registry(settings)
    assert list(check.failing) == [run_id]

    # Restored: verified again; the web page draws its bars.
    shutil.copytree(saved, dataset)
    assert open_run(run_id, settings).verify() == []
    app = create_app(settings, start_worker=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get(f"/runs/{run_id}")
        assert page.status_code == 200, page.text
        assert 'id="bars-in-dataset"' in page.text
        twin = client.get(f"/runs/{run_id}?format=json").json()
    assert twin["chart"]["bars_total"] == view.manifest.summary.bars


def test_schema_3_timeline_says_where_the_events_are_and_every_reader_lists_the_same(
    demo_csv: Path, tmp_path: Path
) -> None:
    """Manifest schema 3 (D56): timeline.json (its version 2) no longer lists the trade events;
    the Python API, the run page and its JSON twin read the same events from a schema-2 run's
    timeline.json and a schema-3 run's decision records. Every other file is byte-identical,
    and both verify by re-run byte for byte."""
    roots = {schema: tmp_path / f"schema{schema}" for schema in (2, 3)}
    ids = {
        schema: create_run(
            [str(demo_csv)], Settings(runs_root=root), artifact_schema=schema, timeframe="1m", **RSI
        ).run_id
        for schema, root in roots.items()
    }
    assert ids[2] == ids[3]
    old, new = (open_run(ids[s], Settings(runs_root=roots[s])) for s in (2, 3))
    assert new.manifest.schema_version == 3 and old.manifest.schema_version == 2
    assert sorted(p.name for p in new.path.iterdir()) == sorted(artifact_names(3, bars=False))
    versions = {a.name: a.schema_version for a in new.manifest.artifacts}
    assert versions["timeline.json"] == 2
    assert {a.name: a.schema_version for a in old.manifest.artifacts}["timeline.json"] == 1
    for name in new.manifest.artifact_names:
        if name != "timeline.json":
            assert new.read_bytes(name) == old.read_bytes(name), name

    old_timeline, new_timeline = old.timeline, new.timeline
    assert new_timeline["points"] == old_timeline["points"]
    assert "events" not in new_timeline and "events_in" not in old_timeline
    events = old_timeline["events"]
    assert new_timeline["events_in"]["count"] == len(events) > 10
    # One frame from both: equal to what the version-1 file lists, field for field.
    assert new.timeline_events().frame.to_dicts() == events
    assert old.timeline_events().frame.equals(new.timeline_events().frame)
    first = new.timeline_events(7)
    assert first.frame.to_dicts() == events[:7] and first.total == len(events)
    assert (first.artifact, old.timeline_events(7).artifact) == (
        "decision_records.parquet",
        "timeline.json",
    )

    twins = {}
    for schema, root in roots.items():
        app = create_app(Settings(runs_root=root), start_worker=False)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            twins[schema] = client.get(f"/runs/{ids[schema]}?format=json").json()
            page = client.get(f"/runs/{ids[schema]}").text
            assert page.count('<tr class="event') == len(events)
    assert twins[2]["timeline"] == twins[3]["timeline"] == events
    assert twins[2]["timeline_total"] == twins[3]["timeline_total"] == len(events)

    for schema, root in roots.items():
        report = verify_run(ids[schema], Settings(runs_root=root), rerun=True)
        assert report.ok and report.rerun_compared == "bytes", report.to_dict()

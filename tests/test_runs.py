"""Run creation end to end: identity, artifacts, idempotency, reproducibility, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from conftest import CsvWriter, minute_rows, tree, written
from quantrun.api import RunResult, create_run, list_runs, open_run, verify_run
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.runs.artifacts import artifact_names
from quantrun.runs.manifest import MANIFEST_SCHEMA_VERSION
from quantrun.settings import Settings
from quantrun.strategies.registry import get
from quantrun.strategies.source import StrategySource

SMA: dict[str, Any] = {
    "strategy": "sma_crossover",
    "params": {"fast": 5, "slow": 20},
    "timeframe": "5m",
}


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", days=5)


def _create(path: Path, settings: Settings, **overrides: Any) -> RunResult:
    kwargs: dict[str, Any] = {"symbol": "DEMOUSD", **SMA, "settings": settings} | overrides
    return create_run([str(path)], **kwargs)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_create_writes_the_full_artifact_set(demo_csv: Path, settings: Settings) -> None:
    result = _create(demo_csv, settings)
    assert result.created and len(result.run_id) == 64
    names = sorted(p.name for p in result.path.iterdir())
    # A 15m run on 1m data: its bars are resampled, so it keeps its own bars.parquet.
    expected = artifact_names(MANIFEST_SCHEMA_VERSION)
    assert "decision_records.parquet" in expected and "bars.parquet" in expected
    assert names == sorted(expected)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["run_id"] == result.run_id
    assert manifest["schema_version"] == MANIFEST_SCHEMA_VERSION == 3
    assert manifest["bars_source"] == "artifact"
    versions = {a["name"]: a["schema_version"] for a in manifest["artifacts"]}
    assert versions.pop("timeline.json") == 2 and set(versions.values()) == {1}
    assert [a["name"] for a in manifest["artifacts"]] == [
        n for n in expected if n != "manifest.json"
    ]
    assert manifest["risk"]["config"] == {
        "allow_short": False,
        "max_drawdown_halt_pct": 20.0,
        "position_fraction": 0.5,
        "stop_loss_pct": 5.0,
        "take_profit_pct": 10.0,
    }
    assert manifest["dataset"]["sources"][0]["path"] == str(demo_csv)
    assert manifest["identity"]["strategy"] == {
        "id": "sma_crossover",
        "version": get("sma_crossover").version,  # the current version unless one is pinned
        "params": {"fast": 5, "slow": 20, "ties": "strict"},
        # identity schema 2: the strategy's code is part of the identity
        "source_sha256": StrategySource.of_builtin(get("sma_crossover")).sha256,
    }
    text = (result.path / "manifest.json").read_text()
    assert "created" not in text and os.uname().nodename not in text
    assert verify_run(result.run_id, settings).ok


def test_same_request_is_idempotent(demo_csv: Path, settings: Settings) -> None:
    first = _create(demo_csv, settings)
    before = {p: p.stat().st_mtime_ns for p in first.path.iterdir()}
    again = _create(demo_csv, settings)
    assert (again.run_id, again.created) == (first.run_id, False)
    assert {p: p.stat().st_mtime_ns for p in again.path.iterdir()} == before
    assert len(list_runs(settings)) == 1


def test_every_input_that_decides_the_result_changes_the_id(
    demo_csv: Path, settings: Settings
) -> None:
    base = _create(demo_csv, settings).run_id
    variants: list[dict[str, Any]] = [
        {"params": {"fast": 6, "slow": 20}},
        {"timeframe": "15m"},
        {"risk": "aggressive"},
        {"commission_bps": 5.0},
        {"slippage_bps": 1.0},
        {"cash": 5000.0},
        {"symbol": "OTHER"},
        {"start": "2024-01-02T00:00:00Z"},
    ]
    ids = {base}
    for change in variants:
        ids.add(_create(demo_csv, settings, **change).run_id)
    assert len(ids) == len(variants) + 1
    assert len(list_runs(settings)) == len(variants) + 1


def test_reproducible_in_another_process_cwd_and_timezone(demo_csv: Path, tmp_path: Path) -> None:
    here = _create(demo_csv, Settings(runs_root=tmp_path / "a"))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    env |= {"TZ": "Pacific/Chatham", "LANG": "C", "QUANTRUN_RUNS_ROOT": str(tmp_path / "b")}
    command = [
        sys.executable, "-m", "quantrun", "runs", "create", str(demo_csv), "--symbol", "DEMOUSD",
        "--strategy", "sma_crossover", "--param", "fast=5", "--param", "slow=20",
        "--timeframe", "5m", "--json",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=elsewhere, env=env, capture_output=True, text=True, check=True
    )
    there = json.loads(done.stdout)
    assert there["run_id"] == here.run_id and there["created"] is True
    assert _files(Path(there["path"])) == _files(here.path)


def test_window_limits_the_bars(demo_csv: Path, settings: Settings) -> None:
    result = _create(
        demo_csv, settings, start="2024-01-02T00:00:00Z", end="2024-01-03T00:00:00+00:00"
    )
    summary = result.manifest.summary
    assert (summary.first_bar, summary.last_bar, summary.bars) == (
        "2024-01-02T00:00:00Z",
        "2024-01-02T23:55:00Z",
        288,
    )
    assert result.manifest.window.model_dump() == {
        "start": "2024-01-02T00:00:00Z",
        "end": "2024-01-03T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"strategy": "nope"}, ErrorCode.STRATEGY_UNKNOWN),
        ({"params": {"fast": 30, "slow": 20}}, ErrorCode.STRATEGY_PARAMS_INVALID),
        ({"params": {"speed": 3}}, ErrorCode.STRATEGY_PARAMS_INVALID),
        ({"risk": "reckless"}, ErrorCode.RISK_LEVEL_UNKNOWN),
        ({"risk_config": {"position_fraction": 0}}, ErrorCode.RISK_CONFIG_INVALID),
        ({"commission_bps": -1.0}, ErrorCode.COSTS_INVALID),
        ({"start": "2024-01-02"}, ErrorCode.RUN_WINDOW_INVALID),
        (
            {"start": "2024-01-03T00:00:00Z", "end": "2024-01-02T00:00:00Z"},
            ErrorCode.RUN_WINDOW_INVALID,
        ),
        ({"start": "2030-01-01T00:00:00Z"}, ErrorCode.RUN_WINDOW_EMPTY),
        ({"timeframe": "2h"}, ErrorCode.TIMEFRAME_UNKNOWN),
    ],
)
def test_bad_requests_fail_before_anything_is_listed(
    demo_csv: Path, settings: Settings, overrides: dict[str, object], code: ErrorCode
) -> None:
    with pytest.raises(QuantrunError) as caught:
        _create(demo_csv, settings, **overrides)
    assert caught.value.code == code
    assert list_runs(settings) == []
    assert not (settings.runs_root / "runs").exists() or tree(settings.runs_root / "runs") == []


def test_invalid_csv_writes_nothing(write_csv: CsvWriter, settings: Settings) -> None:
    rows = minute_rows(50)
    rows[10] = rows[10].rsplit(",", 1)[0] + ",-5"
    with pytest.raises(QuantrunError) as caught:
        _create(write_csv(rows), settings, symbol="X")
    assert caught.value.code == ErrorCode.CSV_NEGATIVE_VOLUME
    assert written(settings.runs_root) == []


def test_open_run_gives_frames(demo_csv: Path, settings: Settings) -> None:
    result = _create(demo_csv, settings)
    view = open_run(result.run_id[:10], settings)
    assert view.run_id == result.run_id
    trades = view.trades()
    assert trades.height == view.metrics["trades"]["value"] + (trades["status"] == "open").sum()
    fills = view.decisions(action="fill")
    assert fills.height >= trades.height
    series = view.series()
    assert series.columns == ["ts", "equity", "drawdown", "position"]
    assert series["equity"][-1] == pytest.approx(view.metrics["final_equity"]["value"])
    assert isinstance(view.bars(), pl.DataFrame) and view.bars().height == series.height
    assert list(view.metrics)[:3] == ["total_return", "cagr", "annual_return"]


def test_verify_detects_a_changed_artifact(demo_csv: Path, settings: Settings) -> None:
    result = _create(demo_csv, settings)
    path = result.path / "trades.csv"
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"tampered\n")
    report = verify_run(result.run_id, settings)
    assert not report.ok and report.problems == [
        "trades.csv: size or sha256 differs from the manifest"
    ]


def test_verify_rerun_compares_bytes(demo_csv: Path, settings: Settings) -> None:
    result = _create(demo_csv, settings)
    report = verify_run(result.run_id, settings, rerun=True)
    assert report.ok and report.rerun_checked


def test_cli_runs_commands(demo_csv: Path, runs_root: Path) -> None:
    runner = CliRunner()
    root = ["--runs-root", str(runs_root)]
    created = runner.invoke(
        main,
        ["runs", "create", str(demo_csv), "--symbol", "DEMOUSD", "--strategy", "sma_crossover",
         "--param", "fast=5", "--param", "slow=20", "--timeframe", "5m", "--json", *root],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    run_id = json.loads(created.output)["run_id"]
    listed = runner.invoke(main, ["runs", "list", "--json", *root])
    assert [r["run_id"] for r in json.loads(listed.output)["runs"]] == [run_id]
    shown = runner.invoke(main, ["runs", "show", run_id[:12], *root])
    assert shown.exit_code == 0 and "sharpe" in shown.output
    verified = runner.invoke(main, ["runs", "verify", run_id, *root])
    assert verified.exit_code == 0 and "ok" in verified.output
    checked = runner.invoke(main, ["registry", "check", *root])
    assert checked.exit_code == 0 and "1 run(s)" in checked.output
    missing = runner.invoke(main, ["runs", "show", "0" * 64, *root])
    assert missing.exit_code == 3 and "error[RUN_NOT_FOUND]" in missing.stderr
    bad_param = runner.invoke(
        main,
        [
            "runs",
            "create",
            str(demo_csv),
            "--symbol",
            "D",
            "--strategy",
            "sma_crossover",
            "--param",
            "fast",
            *root,
        ],
    )
    assert bad_param.exit_code == 2 and "error[STRATEGY_PARAMS_INVALID]" in bad_param.stderr
    strategies = runner.invoke(main, ["strategies", "list", "--json"])
    ids = [s["id"] for s in json.loads(strategies.output)["strategies"]]
    assert ids == [
        "bollinger_reversion",
        "buy_and_hold",
        "donchian_breakout",
        "rsi_reversion",
        "sma_crossover",
    ]


def test_a_damaged_run_is_quarantined_and_built_again(demo_csv: Path, settings: Settings) -> None:
    first = _create(demo_csv, settings)
    trades = first.path / "trades.csv"
    trades.write_bytes(b"tampered\n")
    again = _create(demo_csv, settings)
    assert (again.run_id, again.created) == (first.run_id, True)
    assert verify_run(again.run_id, settings).ok
    quarantined = list((settings.runs_root / "quarantine").iterdir())
    assert [q.name for q in quarantined] == [first.run_id]
    assert (quarantined[0] / "trades.csv").read_bytes() == b"tampered\n"


def test_verify_rerun_accepts_a_prefix(demo_csv: Path, settings: Settings) -> None:
    result = _create(demo_csv, settings)
    report = verify_run(result.run_id[:12], settings, rerun=True)
    assert report.ok and report.run_id == result.run_id


def test_api_type_errors_are_coded(demo_csv: Path, settings: Settings) -> None:
    with pytest.raises(QuantrunError) as caught:
        create_run([], symbol="X", strategy="sma_crossover", settings=settings)
    assert caught.value.code == ErrorCode.USAGE_INVALID_OPTION


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ({"resample_rules": 3}, "unknown resampling rules 3"),
        ({"identity_schema": 9}, "unknown identity schema 9"),
        ({"artifact_schema": 7}, "unknown artifact schema 7"),
    ],
)
def test_a_version_pin_this_build_cannot_follow_is_refused_before_any_data_is_stored(
    demo_csv: Path, settings: Settings, pin: dict[str, int], message: str
) -> None:
    with pytest.raises(QuantrunError) as caught:
        _create(demo_csv, settings, **pin)
    assert caught.value.code == ErrorCode.USAGE_INVALID_OPTION
    assert caught.value.detail == message and caught.value.hint
    root = settings.runs_root
    assert not (root / "datasets").exists() or not any((root / "datasets").iterdir())
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())
    assert not (root / "staging").exists() or not any((root / "staging").iterdir())

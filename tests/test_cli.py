"""The CLI through click's runner: output, --json, exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import T0_MS, CsvWriter, minute_rows, tree
from quantrun.cli import main


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("QUANTRUN_RUNS_ROOT", "QUANTRUN_MAX_INPUT_BYTES", "QUANTRUN_MAX_ROWS"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_ingest_prints_id_and_summary(
    runner: CliRunner, write_csv: CsvWriter, runs_root: Path
) -> None:
    path = write_csv(minute_rows(10))
    result = runner.invoke(main, ["data", "ingest", str(path), "--runs-root", str(runs_root)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("dataset ")
    assert "(stored)" in result.output
    assert "coverage 100.0000% (10 of 10 expected; 0 gap(s), 0 missing bar(s))" in result.output
    again = runner.invoke(main, ["data", "ingest", str(path), "--runs-root", str(runs_root)])
    assert "(already stored)" in again.output


def test_ingest_json_is_one_object(
    runner: CliRunner, write_csv: CsvWriter, runs_root: Path
) -> None:
    path = write_csv(minute_rows(10))
    result = runner.invoke(
        main,
        ["data", "ingest", str(path), "--runs-root", str(runs_root), "--json", "--symbol", "X"],
    )
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert body["created"] is True
    assert len(body["dataset_id"]) == 64
    assert body["quality"]["rows"] == 10
    assert (runs_root / "datasets" / body["dataset_id"] / "data_quality.json").is_file()


def test_rejected_input_exit_3_with_code_and_hint(
    runner: CliRunner, write_csv: CsvWriter, runs_root: Path
) -> None:
    rows = minute_rows(5)
    rows[2] = f"{T0_MS + 120_000},1,0.5,2,1,3"
    path = write_csv(rows)
    result = runner.invoke(main, ["data", "ingest", str(path), "--runs-root", str(runs_root)])
    assert result.exit_code == 3
    assert "error[CSV_HIGH_BELOW_LOW]: high >= low: 1 row(s) fail, first at line 4" in result.stderr
    assert "hint: " in result.stderr
    assert "Traceback" not in result.output
    assert tree(runs_root) == []


def test_rejected_input_json_error_object(
    runner: CliRunner, write_csv: CsvWriter, runs_root: Path
) -> None:
    path = write_csv(
        [r.rsplit(",", 1)[0] for r in minute_rows(3)], header="time,open,high,low,close"
    )
    result = runner.invoke(
        main, ["data", "ingest", str(path), "--runs-root", str(runs_root), "--json"]
    )
    assert result.exit_code == 3
    body = json.loads(result.stdout)
    assert body["error"]["code"] == "CSV_MISSING_COLUMN"
    assert set(body["error"]) >= {"code", "title", "detail", "hint"}
    assert body["error"]["lines"] == [1]


def test_limit_exit_4(
    runner: CliRunner, write_csv: CsvWriter, runs_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTRUN_MAX_ROWS", "3")
    result = runner.invoke(
        main, ["data", "ingest", str(write_csv(minute_rows(5))), "--runs-root", str(runs_root)]
    )
    assert result.exit_code == 4
    assert "error[LIMIT_ROWS]" in result.stderr


def test_bad_setting_is_a_usage_error(
    runner: CliRunner, write_csv: CsvWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTRUN_MAX_ROWS", "lots")
    result = runner.invoke(main, ["data", "ingest", str(write_csv(minute_rows(2)))])
    assert result.exit_code == 2
    assert "error[SETTINGS_INVALID]: setting max_rows (QUANTRUN_MAX_ROWS)" in result.stderr


def test_usage_errors_exit_2(runner: CliRunner, write_csv: CsvWriter, runs_root: Path) -> None:
    path = str(write_csv(minute_rows(2)))
    unknown_tf = runner.invoke(main, ["data", "ingest", path, "--timeframe", "7m"])
    assert unknown_tf.exit_code == 2
    no_path = runner.invoke(main, ["data", "ingest"])
    assert no_path.exit_code == 2
    bad_zone = runner.invoke(
        main, ["data", "ingest", path, "--timezone", "Nowhere/Land", "--runs-root", str(runs_root)]
    )
    assert bad_zone.exit_code == 2
    assert "error[TIMEZONE_UNKNOWN]" in bad_zone.stderr


def test_inspect_lists_every_check_and_writes_nothing(
    runner: CliRunner, write_csv: CsvWriter, runs_root: Path
) -> None:
    rows = minute_rows(6)
    rows[1] = f"{T0_MS + 60_000},1,2,0.5,1.5,-3"
    result = runner.invoke(
        main, ["data", "inspect", str(write_csv(rows)), "--runs-root", str(runs_root)]
    )
    assert result.exit_code == 3
    assert "FAIL volume_not_negative" in result.output
    assert "ok   prices_positive" in result.output
    assert "error[CSV_NEGATIVE_VOLUME]" in result.stderr
    assert tree(runs_root) == []


def test_inspect_json_valid_file(runner: CliRunner, write_csv: CsvWriter, runs_root: Path) -> None:
    result = runner.invoke(
        main,
        [
            "data",
            "inspect",
            str(write_csv(minute_rows(6))),
            "--runs-root",
            str(runs_root),
            "--json",
        ],
    )
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert body["valid"] is True and body["error"] is None
    assert body["quality"]["rows"] == 6
    assert tree(runs_root) == []


def test_data_list(runner: CliRunner, write_csv: CsvWriter, runs_root: Path) -> None:
    empty = runner.invoke(main, ["data", "list", "--runs-root", str(runs_root)])
    assert empty.exit_code == 0 and "no datasets" in empty.output
    runner.invoke(
        main,
        [
            "data",
            "ingest",
            str(write_csv(minute_rows(4))),
            "--symbol",
            "ABC",
            "--runs-root",
            str(runs_root),
        ],
    )
    listed = runner.invoke(main, ["data", "list", "--runs-root", str(runs_root), "--json"])
    rows = json.loads(listed.output)["datasets"]
    assert [(r["symbol"], r["rows"], r["timeframe"]) for r in rows] == [("ABC", 4, "1m")]


def test_demo(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = runner.invoke(main, ["demo", "--dir", str(target), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ingest"]["quality"]["rows"] == 43_020
    assert body["ingest"]["quality"]["gaps"] == 1
    assert body["ingest"]["quality"]["missing_bars"] == 180
    assert body["ingest"]["quality"]["zero_volume_bars"] == 12
    assert Path(body["csv_path"]).is_file()
    assert Path(body["ingest"]["path"]).parent.parent == target / "runs-root"
    assert body["run"]["created"] is True
    assert Path(body["run"]["path"]).parent == target / "runs-root" / "runs"


def test_internal_errors_never_show_a_traceback(
    runner: CliRunner, write_csv: CsvWriter, runs_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal path /opt/x")

    monkeypatch.setattr("quantrun.cli.data.ingest_file", boom)
    result = runner.invoke(main, ["data", "ingest", str(write_csv(minute_rows(2)))])
    assert result.exit_code == 1
    assert "error[INTERNAL]" in result.stderr
    assert "/opt/x" not in result.output and "Traceback" not in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and "quantrun, version 0.1.0" in result.output


def test_click_usage_errors_use_the_error_format(runner: CliRunner) -> None:
    missing = runner.invoke(main, ["data", "ingest"])
    assert missing.exit_code == 2
    assert "error[USAGE_INVALID_OPTION]: Missing argument 'PATHS...'." in missing.stderr
    assert "data ingest --help`." in missing.stderr  # prog name is "main" under CliRunner
    bad = runner.invoke(main, ["data", "ingest", "x.csv", "--timeframe", "7m", "--json"])
    assert bad.exit_code == 2
    body = json.loads(bad.stdout)
    assert body["error"]["code"] == "USAGE_INVALID_OPTION"
    assert "'7m' is not one of" in body["error"]["detail"]


def test_inspect_json_has_one_shape_for_file_level_failures(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes("time,open,high,low,close,volume\n".encode("utf-16"))
    result = runner.invoke(main, ["data", "inspect", str(path), "--json"])
    assert result.exit_code == 3
    body = json.loads(result.stdout)
    assert body["valid"] is False and body["checks"] == []
    assert body["error"]["code"] == "INPUT_ENCODING"


def test_light_commands_do_not_load_the_data_stack() -> None:
    """The CLI, `--help`, listing and the kill switch import neither polars nor numba (they
    cost about half a second at every start); commands that read data load them on use."""
    import subprocess
    import sys

    probe = (
        "import sys, quantrun.cli, quantrun.api;"
        "print(sorted(m for m in ('polars', 'numba', 'numpy', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

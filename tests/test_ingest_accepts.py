"""Tricky but valid inputs are accepted, converted exactly, and measured honestly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from conftest import HEADER, T0_MS, CsvWriter, minute_rows, tree
from quantrun.api import ingest_file, inspect_file
from quantrun.data.store import DatasetStore
from quantrun.settings import Settings

T0_US = T0_MS * 1000
MINUTE_US = 60_000_000


def _bars(settings: Settings, dataset_id: str) -> pl.DataFrame:
    return DatasetStore(settings.runs_root).load_bars(dataset_id)


def test_plain_file_round_trips_exactly(write_csv: CsvWriter, settings: Settings) -> None:
    result = ingest_file([str(write_csv(minute_rows(4)))], settings, symbol="TEST")
    assert result.created
    bars = _bars(settings, result.dataset_id)
    assert bars["ts"].to_list() == [T0_US + i * MINUTE_US for i in range(4)]
    assert bars.row(1) == (T0_US + MINUTE_US, 100.5, 101.0, 99.75, 100.25, 11.0)
    q = result.quality
    assert (q["rows"], q["expected_bars"], q["coverage"]) == (4, 4, 1.0)
    assert q["first_bar"] == "2024-01-01T00:00:00Z"
    assert q["last_bar"] == "2024-01-01T00:03:00Z"
    assert all(c["status"] == "pass" for c in q["checks"])
    files = sorted(p.name for p in result.path.iterdir())
    assert files == ["bars.parquet", "data_quality.json", "dataset.json"]
    assert tree(settings.runs_root / "staging") == []


def test_bom_crlf_quotes_and_extra_columns(write_csv: CsvWriter, settings: Settings) -> None:
    rows = [
        f'"{r.split(",", 1)[0]}",{r.split(",", 1)[1]},x{i}' for i, r in enumerate(minute_rows(3))
    ]
    path = write_csv(rows, header="\ufeffTimestamp,Open,High,Low,Close,Volume,Note", newline="\r\n")
    plain = write_csv(minute_rows(3))
    a = ingest_file([str(path)], settings)
    b = ingest_file([str(plain)], settings)
    assert a.dataset_id == b.dataset_id  # same bars, same id, whatever the file's layout
    assert not b.created


@pytest.mark.parametrize(
    ("stamps", "kind"),
    [
        (["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"], "iso8601_offset"),
        (["2024-01-01 02:00:00+02:00", "2024-01-01 02:01:00+0200"], "iso8601_offset"),
        (["2023-12-31T19:00-05:00", "2023-12-31T19:01-05:00"], "iso8601_offset"),
        (["2024-01-01T00:00:00.000Z", "2024-01-01T00:01:00.000Z"], "iso8601_offset"),
        (["1704067200", "1704067260"], "epoch_s"),
        (["1704067200000", "1704067260000"], "epoch_ms"),
        (["1704067200000000", "1704067260000000"], "epoch_us"),
        (["1704067200000000000", "1704067260000000000"], "epoch_ns"),
    ],
)
def test_timestamp_forms_agree(
    write_csv: CsvWriter, settings: Settings, stamps: list[str], kind: str
) -> None:
    rows = [f"{s},1,2,0.5,1.5,3" for s in stamps]
    result = ingest_file([str(write_csv(rows))], settings)
    assert result.to_dict()["timestamp_kinds"] == [kind]
    assert _bars(settings, result.dataset_id)["ts"].to_list() == [T0_US, T0_US + MINUTE_US]


def test_naive_times_with_a_named_zone_are_converted_and_recorded(
    write_csv: CsvWriter, settings: Settings
) -> None:
    rows = ["2024-07-01 09:30:00,1,2,0.5,1.5,3", "2024-07-01 09:31:00,1,2,0.5,1.5,3"]
    result = ingest_file([str(write_csv(rows))], settings, timezone="America/New_York")
    assert result.quality["first_bar"] == "2024-07-01T13:30:00Z"  # EDT is UTC-4
    assert result.quality["timezone_assumed"] == "America/New_York"
    meta = json.loads((result.path / "dataset.json").read_text())
    assert meta["descriptor"]["timezone"] == "America/New_York"


def test_binance_headerless_microseconds(write_csv: CsvWriter, settings: Settings) -> None:
    rows = [
        f"{(T0_MS + i * 60_000) * 1000},1.0,2.0,0.5,1.5,3.0,{(T0_MS + i * 60_000 + 59_999) * 1000},"
        "4.5,7,1.0,1.5,0"
        for i in range(3)
    ]
    result = ingest_file([str(write_csv(rows, header=None))], settings)
    source = result.to_dict()["sources"][0]
    assert (source["format"], source["has_header"]) == ("binance", False)
    assert result.to_dict()["timestamp_kinds"] == ["epoch_us"]
    assert result.quality["rows"] == 3


def test_gaps_and_zero_volume_are_reported_not_filled(
    write_csv: CsvWriter, settings: Settings
) -> None:
    rows = minute_rows(20)
    rows = rows[:5] + rows[8:12] + rows[17:]  # gaps of 3 and 5 minutes
    rows[0] = rows[0].rsplit(",", 1)[0] + ",0"
    result = ingest_file([str(write_csv(rows))], settings)
    q = result.quality
    assert (q["rows"], q["expected_bars"], q["missing_bars"]) == (12, 20, 8)
    assert q["coverage"] == pytest.approx(12 / 20)
    assert q["gaps"]["count"] == 2
    assert q["gaps"]["largest"] == [
        {"start": "2024-01-01T00:12:00Z", "end": "2024-01-01T00:16:00Z", "missing_bars": 5},
        {"start": "2024-01-01T00:05:00Z", "end": "2024-01-01T00:07:00Z", "missing_bars": 3},
    ]
    assert q["zero_volume_bars"] == {"count": 1, "first": ["2024-01-01T00:00:00Z"]}
    assert _bars(settings, result.dataset_id).height == 12


def test_outlier_return_is_flagged(write_csv: CsvWriter, settings: Settings) -> None:
    closes = [round(100 + math.sin(i * 1.7) * 0.2, 4) for i in range(60)]
    rows = [f"{T0_MS + i * 60_000},{c},101,99,{c},5" for i, c in enumerate(closes)]
    rows[30] = f"{T0_MS + 30 * 60_000},100,150,99,150,5"
    result = ingest_file([str(write_csv(rows))], settings)
    outliers = result.quality["outlier_returns"]
    assert outliers["count"] == 2  # the jump up and the fall back
    assert outliers["largest"][0]["ts"] == "2024-01-01T00:30:00Z"


def test_sort_repair_is_opt_in_and_recorded(write_csv: CsvWriter, settings: Settings) -> None:
    rows = minute_rows(5)
    shuffled = [rows[i] for i in (4, 0, 3, 1, 2)]
    result = ingest_file([str(write_csv(shuffled))], settings, sort=True)
    assert result.quality["repairs"]["sort"] == {"rows_moved": 5}
    sorted_check = next(c for c in result.quality["checks"] if c["id"] == "sorted")
    assert sorted_check["status"] == "repaired"
    bars = _bars(settings, result.dataset_id)
    assert bars["ts"].is_sorted()
    clean = ingest_file([str(write_csv(rows))], settings)
    assert clean.dataset_id != result.dataset_id  # the repair is part of the identity


def test_drop_exact_duplicates_is_recorded(write_csv: CsvWriter, settings: Settings) -> None:
    rows = minute_rows(4)
    result = ingest_file(
        [str(write_csv([*rows[:3], rows[2], rows[3]]))], settings, drop_exact_duplicates=True
    )
    assert result.quality["repairs"]["drop_exact_duplicates"] == {"rows_dropped": 1}
    assert result.quality["duplicates_found"] == {"exact": 1, "conflicting": 0}
    assert _bars(settings, result.dataset_id).height == 4


def test_several_files_concatenate_in_order(write_csv: CsvWriter, settings: Settings) -> None:
    rows = minute_rows(10)
    whole = ingest_file([str(write_csv(rows))], settings)
    parts = [str(write_csv(rows[:4])), str(write_csv(rows[4:7])), str(write_csv(rows[7:]))]
    split = ingest_file(parts, settings)
    assert split.dataset_id == whole.dataset_id
    assert [s["rows"] for s in split.to_dict()["sources"]] == [4, 3, 3]


def test_errors_in_later_files_name_the_file(write_csv: CsvWriter, settings: Settings) -> None:
    rows = minute_rows(6)
    bad = rows[3:]
    bad[1] = bad[1].rsplit(",", 1)[0] + ",-1"
    first = write_csv(rows[:3], name="jan.csv")
    second = write_csv(bad, name="feb.csv")
    inspection = inspect_file([str(first), str(second)], settings)
    check = next(c for c in inspection.to_dict()["checks"] if c["id"] == "volume_not_negative")
    assert check["first_rows"] == ["feb.csv:3"]


def test_daily_base_timeframe(write_csv: CsvWriter, settings: Settings) -> None:
    rows = [f"2024-01-0{d}T00:00:00Z,1,2,0.5,1.5,3" for d in (1, 2, 3, 5)]
    result = ingest_file([str(write_csv(rows))], settings, timeframe="1d")
    q = result.quality
    assert (q["timeframe"], q["expected_bars"], q["missing_bars"]) == ("1d", 5, 1)


def test_inspect_writes_nothing_and_lists_all_failures(
    write_csv: CsvWriter, settings: Settings, runs_root: Path
) -> None:
    rows = minute_rows(6)
    rows[1] = f"{T0_MS + 60_000},1,2,0.5,1.5,-3"
    rows[2] = f"{T0_MS + 120_000},0,2,0,1.5,3"
    report = inspect_file([str(write_csv(rows))], settings).to_dict()
    failing = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    assert failing == ["prices_positive", "volume_not_negative"]
    assert report["valid"] is False and report["error"]["code"] == "CSV_NONPOSITIVE_PRICE"
    assert tree(runs_root) == []


def test_inspect_of_valid_file_predicts_the_ingest_id(
    write_csv: CsvWriter, settings: Settings, runs_root: Path
) -> None:
    path = str(write_csv(minute_rows(5)))
    predicted = inspect_file([path], settings).dataset_id
    assert tree(runs_root) == []
    assert ingest_file([path], settings).dataset_id == predicted


def test_header_without_volume_alias_variants(write_csv: CsvWriter, settings: Settings) -> None:
    path = write_csv(minute_rows(3), header="Date , O , H , L , C , Vol")
    assert ingest_file([str(path)], settings).quality["rows"] == 3


def test_header_constant_is_generic() -> None:
    assert HEADER.split(",")[0] == "time"


def test_a_repair_that_changes_nothing_keeps_the_id(
    write_csv: CsvWriter, settings: Settings
) -> None:
    path = str(write_csv(minute_rows(5)))
    plain = ingest_file([path], settings)
    flagged = ingest_file([path], settings, sort=True, drop_exact_duplicates=True)
    assert flagged.dataset_id == plain.dataset_id and not flagged.created


def test_a_zone_that_was_not_needed_is_not_recorded(
    write_csv: CsvWriter, settings: Settings
) -> None:
    path = str(write_csv(minute_rows(5)))
    plain = ingest_file([path], settings)
    zoned = ingest_file([path], settings, timezone="Europe/Paris")
    assert zoned.dataset_id == plain.dataset_id
    assert zoned.quality["timezone_assumed"] is None


def test_trailing_blank_lines_are_not_rows(tmp_path: Path, settings: Settings) -> None:
    body = HEADER + "\n" + "\n".join(minute_rows(4))
    for ending in ("\n\n", "\r\n\r\n\r\n", "\n\n   \n"):
        path = tmp_path / f"blank{len(ending)}.csv"
        path.write_text(body + ending)
        assert ingest_file([str(path)], settings).quality["rows"] == 4


def test_timeframe_check_is_skipped_when_others_fail(
    write_csv: CsvWriter, settings: Settings
) -> None:
    rows = minute_rows(5)
    rows[1] = rows[1].rsplit(",", 1)[0] + ",-1"
    report = inspect_file([str(write_csv(rows))], settings).to_dict()
    status = {c["id"]: c["status"] for c in report["checks"]}
    assert status["timeframe_matches"] == "skipped"

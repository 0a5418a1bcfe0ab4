"""Ingest receipts (data/receipt.py, D50): a second ingest of the same bytes with the same
options loads the stored dataset, verified, instead of reading and checking the file again. A run
made that way is byte for byte the run made without it; anything that could change the outcome
(a byte of the file, an option, a limit) or a receipt that no longer fits means a full ingest,
and a damaged dataset is refused as `runs create --dataset` refuses it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from quantrun.api import create_run, create_sweep, ingest_file
from quantrun.cli import main
from quantrun.data import ingest as ingest_module
from quantrun.data.demo import write_demo_csv
from quantrun.data.ingest import IngestResult
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings

SMA: dict[str, Any] = {
    "strategy": "sma_crossover",
    "params": {"fast": 10, "slow": 30},
    "timeframe": "1h",
}
OTHER: dict[str, Any] = {
    "strategy": "sma_crossover",
    "params": {"fast": 5, "slow": 20},
    "timeframe": "15m",
}


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return write_demo_csv(tmp_path / "DEMO-1m.csv", days=4)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(runs_root=tmp_path / "root")


class Reads:
    """Counts the full reads (parse and checks) of ingests made while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = ingest_module._validated

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(ingest_module, "_validated", counted)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))}


def receipts(settings: Settings) -> list[Path]:
    return sorted(settings.layout.receipts.glob("*.json"))


def test_a_run_through_a_receipt_is_the_run_made_without_one(
    csv: Path, settings: Settings, tmp_path: Path, reads: Reads
) -> None:
    create_run(str(csv), settings, symbol="DEMO", **SMA)
    assert reads.count == 1 and len(receipts(settings)) == 1
    # The same bytes under another name and label: the manifest names them as requested.
    moved = tmp_path / "elsewhere" / "copy.csv"
    moved.parent.mkdir()
    shutil.copyfile(csv, moved)
    reused = create_run(str(moved), settings, symbol="DEMO", labels=["my-label.csv"], **OTHER)
    assert reads.count == 1  # answered from the receipt: no parse, no checks

    fresh_root = Settings(runs_root=tmp_path / "fresh")
    fresh = create_run(str(moved), fresh_root, symbol="DEMO", labels=["my-label.csv"], **OTHER)
    assert reads.count == 2
    assert (reused.run_id, reused.created) == (fresh.run_id, True)
    assert folder_bytes(reused.path) == folder_bytes(fresh.path)  # manifest included
    sources = reused.manifest.dataset.sources
    assert [(s.path, s.name) for s in sources] == [("my-label.csv", "my-label.csv")]


def test_a_second_data_ingest_answers_from_the_receipt(
    csv: Path, settings: Settings, reads: Reads
) -> None:
    runner = CliRunner()
    args = ["data", "ingest", str(csv), "--symbol", "DEMO", "--runs-root", str(settings.runs_root)]
    first = runner.invoke(main, [*args, "--json"])
    second = runner.invoke(main, [*args, "--json"])
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert reads.count == 1
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert (one.pop("created"), two.pop("created")) == (True, False)
    assert one == two
    text = runner.invoke(main, args)
    assert text.exit_code == 0 and reads.count == 1


def test_a_receipt_answers_with_what_a_full_ingest_reports(
    csv: Path, settings: Settings, tmp_path: Path, reads: Reads
) -> None:
    first = ingest_file([str(csv)], settings, symbol="DEMO", sort=True)
    again = ingest_file([str(csv)], settings, symbol="DEMO", sort=True)
    assert reads.count == 1 and again.inspection.receipt is not None
    other_root = Settings(runs_root=tmp_path / "other")
    ingest_file([str(csv)], other_root, symbol="DEMO", sort=True)
    shutil.rmtree(other_root.layout.receipts)  # the dataset is stored; no receipt says so
    full = ingest_file([str(csv)], other_root, symbol="DEMO", sort=True)
    assert reads.count == 3
    _same_answer(again, full)
    assert first.to_dict() | {"created": False} == again.to_dict()


def _same_answer(reused: IngestResult, full: IngestResult) -> None:
    assert reused.dataset_id == full.dataset_id and reused.created is full.created is False
    assert reused.to_dict() | {"path": ""} == full.to_dict() | {"path": ""}
    a, b = reused.inspection, full.inspection
    assert a.bars is not None and b.bars is not None and a.bars.equals(b.bars)
    assert a.bars.schema == b.bars.schema
    assert [a.bars[c].n_chunks() for c in a.bars.columns] == [1] * a.bars.width  # as full
    assert [b.bars[c].n_chunks() for c in b.bars.columns] == [1] * b.bars.width
    assert (a.content_sha256, a.descriptor, a.quality) == (
        b.content_sha256,
        b.descriptor,
        b.quality,
    )
    assert [r.to_dict(with_lines=True) for r in a.validated.results] == [
        r.to_dict(with_lines=True) for r in b.validated.results
    ]
    assert a.sources == b.sources and a.sessions == b.sessions


def test_one_byte_changed_means_a_full_ingest(csv: Path, settings: Settings, reads: Reads) -> None:
    first = ingest_file([str(csv)], settings, symbol="DEMO")
    data = bytearray(csv.read_bytes())
    last_digit = max(i for i, b in enumerate(data) if chr(b).isdigit() and i < len(data) - 3)
    data[last_digit] = ord("1") if data[last_digit] != ord("1") else ord("2")
    csv.write_bytes(bytes(data))  # the same size: only the hash tells them apart
    second = ingest_file([str(csv)], settings, symbol="DEMO")
    assert reads.count == 2
    assert second.created and second.dataset_id != first.dataset_id
    assert len(receipts(settings)) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"symbol": "OTHER"},
        {"sort": True},
        {"drop_exact_duplicates": True},
        {"timezone": "Europe/Paris"},
        {"format": "generic"},
    ],
)
def test_other_options_mean_a_full_ingest(
    csv: Path, settings: Settings, reads: Reads, change: dict[str, Any]
) -> None:
    ingest_file([str(csv)], settings, symbol="DEMO")
    again = ingest_file([str(csv)], settings, **({"symbol": "DEMO"} | change))
    assert reads.count == 2 and again.inspection.receipt is None
    assert len(receipts(settings)) == 2


def test_other_limits_mean_a_full_ingest(csv: Path, settings: Settings, reads: Reads) -> None:
    ingest_file([str(csv)], settings, symbol="DEMO")
    rows = ingest_file([str(csv)], settings, symbol="DEMO").quality["rows"]
    assert reads.count == 1
    narrow = Settings(runs_root=settings.runs_root, max_rows=rows - 1)
    with pytest.raises(QuantrunError) as refused:
        ingest_file([str(csv)], narrow, symbol="DEMO")
    assert refused.value.code is ErrorCode.LIMIT_ROWS and reads.count == 2


def test_a_receipt_of_a_removed_dataset_means_a_full_ingest(
    csv: Path, settings: Settings, reads: Reads
) -> None:
    first = ingest_file([str(csv)], settings, symbol="DEMO")
    shutil.rmtree(first.path)
    again = ingest_file([str(csv)], settings, symbol="DEMO")
    assert reads.count == 2
    assert again.created and again.dataset_id == first.dataset_id
    third = ingest_file([str(csv)], settings, symbol="DEMO")
    assert reads.count == 2 and not third.created


def test_a_damaged_dataset_is_refused_not_used(csv: Path, settings: Settings, reads: Reads) -> None:
    first = ingest_file([str(csv)], settings, symbol="DEMO")
    bars = first.path / "bars.parquet"
    data = bytearray(bars.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bars.write_bytes(bytes(data))
    with pytest.raises(QuantrunError) as refused:
        create_run(str(csv), settings, symbol="DEMO", **SMA)
    assert refused.value.code is ErrorCode.DATASET_CORRUPT
    assert reads.count == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{not json",
        lambda text: "",
        lambda text: text.replace('"dataset_id"', '"dataset"'),
        lambda text: text.replace('"rows"', '"lines"'),
        lambda text: text.replace('"schema_version": 1', '"schema_version": 99'),
    ],
    ids=["not-json", "empty", "no-dataset-id", "input-field-missing", "other-schema"],
)
def test_a_damaged_receipt_means_a_full_ingest_that_writes_it_again(
    csv: Path, settings: Settings, reads: Reads, damage: Any
) -> None:
    first = ingest_file([str(csv)], settings, symbol="DEMO")
    (receipt,) = receipts(settings)
    good = receipt.read_text(encoding="utf-8")
    receipt.write_text(damage(good), encoding="utf-8")
    again = ingest_file([str(csv)], settings, symbol="DEMO")
    assert reads.count == 2 and again.dataset_id == first.dataset_id
    assert receipt.read_text(encoding="utf-8") == good


def test_a_receipt_for_other_bytes_is_not_believed(
    csv: Path, settings: Settings, tmp_path: Path, reads: Reads
) -> None:
    """A receipt copied under another input's name (same size, other hash) does not answer."""
    ingest_file([str(csv)], settings, symbol="DEMO")
    (receipt,) = receipts(settings)
    other = tmp_path / "other.csv"
    data = bytearray(csv.read_bytes())
    data[-3] = ord("1") if data[-3] != ord("1") else ord("2")
    other.write_bytes(bytes(data))
    from quantrun.data.receipt import hash_inputs
    from quantrun.data.request import IngestRequest

    inputs = hash_inputs(IngestRequest(paths=[str(other)], symbol="DEMO"), settings)
    assert inputs is not None
    shutil.copyfile(receipt, settings.layout.receipt(inputs.name))
    again = ingest_file([str(other)], settings, symbol="DEMO")
    assert reads.count == 2 and again.inspection.receipt is None


def test_a_sweep_reads_its_stored_dataset_through_the_receipt(
    csv: Path, settings: Settings, tmp_path: Path, reads: Reads
) -> None:
    create_run(str(csv), settings, symbol="DEMO", **SMA)
    fields: dict[str, Any] = {"symbol": "DEMO", "strategy": "sma_crossover", "timeframe": "1h"}
    grid = ["fast=5,10", "slow=30"]
    sweep = create_sweep(str(csv), settings, grid=grid, **fields)
    assert reads.count == 1
    fresh = create_sweep(str(csv), Settings(runs_root=tmp_path / "fresh"), grid=grid, **fields)
    assert reads.count == 2
    assert sweep.sweep_id == fresh.sweep_id
    assert folder_bytes(sweep.path) == folder_bytes(fresh.path)


@pytest.mark.parametrize("size", [0, 1, (1 << 20) + 3, 3 << 20])
def test_an_input_file_hashes_to_the_sha256_of_its_bytes(tmp_path: Path, size: int) -> None:
    """file_sha256 maps a regular file and hashes it in one call (an empty file, which cannot
    be mapped, is read): the same size and digest as hashing its bytes."""
    import hashlib
    import random

    from quantrun.data.receipt import file_sha256

    data = random.Random(size).randbytes(size)
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    assert file_sha256(path) == (size, hashlib.sha256(data).hexdigest())

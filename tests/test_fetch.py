"""`quantrun data fetch`: public archives from a local server in the provider's URL layout.

Nothing here reaches the internet: every test serves zips and ``.CHECKSUM`` files from
``archive_server.ArchiveServer`` on 127.0.0.1. The happy paths fetch months built from the
demo bars (and, when ``../shared/data/real`` exists, the real Binance months) and show that a
fetched dataset is the dataset, and makes the run, that the same bars from one local CSV make.
Each failure mode has a stable code and stores nothing: no dataset, no partial file, no staging
folder, and no unverified archive in the cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from archive_server import (
    REAL_HEADER,
    ArchiveServer,
    Misbehaviour,
    all_files,
    archive_path,
    checksum_line,
    kline_csv,
    month_bars,
    zip_bytes,
)
from conftest import SHARED_DATA
from quantrun.api import create_run, fetch_dataset, ingest_file, list_datasets
from quantrun.cli import main
from quantrun.data.binance import BinanceFetchRequest, BinanceProvider
from quantrun.data.demo import demo_bars
from quantrun.data.download import Transport
from quantrun.data.fetch import fetch
from quantrun.data.provider import Archive, DownloadHook, FetchProgress, public_url
from quantrun.data.store import DatasetStore
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings

MONTHS = ("2024-01", "2024-02", "2024-03")
SYMBOL = "DEMOUSDT"
RUN: dict[str, Any] = {
    "strategy": "sma_crossover",
    "timeframe": "1h",
    "params": {"fast": 10, "slow": 30},
}
DATASET_RUNS = "dataset" in RunCreateRequest.model_fields
WIRED = pytest.mark.skipif(
    not DATASET_RUNS,
    reason="`runs create --dataset` is wired into RunCreateRequest by the lead (issue 18 report)",
)
REAL = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real Binance months not found at {SHARED_DATA}"
)


@pytest.fixture(scope="module")
def quarter() -> pl.DataFrame:
    """Three calendar months of demo bars (2024-01..03, with the demo's outage gap)."""
    return demo_bars(days=91)


@pytest.fixture(scope="module")
def month_csvs(quarter: pl.DataFrame) -> dict[str, bytes]:
    return {period: kline_csv(month_bars(quarter, period)) for period in MONTHS}


@pytest.fixture(scope="module")
def month_zips(month_csvs: dict[str, bytes]) -> dict[str, bytes]:
    """Each demo month zipped as the host zips it, by its path on the host."""
    return {
        archive_path("um", SYMBOL, "1m", period): zip_bytes({f"{SYMBOL}-1m-{period}.csv": csv})
        for period, csv in month_csvs.items()
    }


@pytest.fixture
def server(month_zips: dict[str, bytes]) -> Iterator[ArchiveServer]:
    """The three demo months published as USD-M archives; stopped even when a test fails."""
    with ArchiveServer() as running:
        for path, data in month_zips.items():
            running.publish_archive(path, data)
        yield running


@pytest.fixture
def fetch_settings(runs_root: Path, server: ArchiveServer) -> Settings:
    return Settings(
        runs_root=runs_root,
        binance_base_url=server.base_url,
        fetch_backoff_seconds=0,
        fetch_timeout_seconds=5,
    )


def request(**overrides: Any) -> BinanceFetchRequest:
    fields: dict[str, Any] = {
        "market": "um",
        "symbol": SYMBOL,
        "from_period": MONTHS[0],
        "to_period": MONTHS[-1],
    }
    return BinanceFetchRequest(**(fields | overrides))


def joined(csvs: list[bytes]) -> bytes:
    """Kline CSVs (each with its header row) joined as one file with one header row."""
    first, *rest = csvs
    return first + b"".join(c.split(b"\n", 1)[1] for c in rest)


def stored_nothing(root: Path) -> None:
    """No dataset, no staging leftover, no partial or unverified archive in the cache."""
    assert list(all_files(root / "datasets")) == []
    # A failed build may leave its staging folder's empty lock file (start-up clears it).
    assert [p for p in all_files(root / "staging") if p.suffix != ".lock"] == []
    cached = list(all_files(root / "cache"))
    assert [p for p in cached if not p.name.endswith((".zip", ".zip.CHECKSUM"))] == []


def cached_names(root: Path) -> list[str]:
    return sorted(p.name for p in all_files(root / "cache") if p.suffix == ".zip")


def expect(code: ErrorCode, call: Any) -> QuantrunError:
    with pytest.raises(QuantrunError) as caught:
        call()
    assert caught.value.code == code, caught.value.to_dict()
    return caught.value


# --- the happy path: three months, one dataset, the same run as one local CSV ---------------


def test_three_fetched_months_are_the_dataset_and_run_of_the_joined_csv(
    fetch_settings: Settings, server: ArchiveServer, month_csvs: dict[str, bytes], tmp_path: Path
) -> None:
    fetched = fetch_dataset(request(), fetch_settings)
    assert fetched.created and fetched.downloaded == 3
    assert [a.archive.name for a in fetched.archives] == [
        f"{SYMBOL}-1m-{period}.zip" for period in MONTHS
    ]
    rows = sum(pl.read_csv(csv).height for csv in month_csvs.values())
    assert fetched.ingested.quality["rows"] == rows == 91 * 1440 - 180

    local = tmp_path / "joined.csv"
    local.write_bytes(joined(list(month_csvs.values())))
    elsewhere = Settings(runs_root=tmp_path / "other-root")
    ingested = ingest_file([str(local)], elsewhere, symbol=SYMBOL)
    assert ingested.dataset_id == fetched.dataset_id  # same content, same dataset id

    from_csv = create_run(str(local), elsewhere, symbol=SYMBOL, **RUN)
    assert from_csv.created and from_csv.manifest.identity.dataset_id == fetched.dataset_id
    if DATASET_RUNS:  # the run from the fetched dataset, in the fetch's own RUNS_ROOT
        fields = {"dataset": fetched.dataset_id, "symbol": SYMBOL} | RUN
        request_ = RunCreateRequest.model_validate(fields)
        from_dataset = create_run(request_, fetch_settings)
        assert from_dataset.created and from_dataset.run_id == from_csv.run_id


@WIRED
def test_runs_create_dataset_gives_the_run_id_of_the_joined_csv(
    fetch_settings: Settings, month_csvs: dict[str, bytes], tmp_path: Path
) -> None:
    """The issue's done-when, end to end on the CLI: fetch three months, `runs create
    --dataset`, then `runs create` on the same months joined as one local CSV."""
    runner = CliRunner(env={"QUANTRUN_BINANCE_BASE_URL": fetch_settings.binance_base_url})
    root = ["--runs-root", str(fetch_settings.runs_root)]
    args = ["data", "fetch", "binance", "--market", "um", "--symbol", SYMBOL]
    fetched = runner.invoke(main, [*args, "--from", MONTHS[0], "--to", MONTHS[-1], *root, "--json"])
    assert fetched.exit_code == 0, fetched.output
    dataset_id = json.loads(fetched.stdout)["dataset_id"]
    run_args = ["--symbol", SYMBOL, "--strategy", "sma_crossover", "--timeframe", "1h"]
    run_args += ["--json", *root]
    by_id = runner.invoke(main, ["runs", "create", "--dataset", dataset_id, *run_args])
    assert by_id.exit_code == 0, by_id.output
    local = tmp_path / "joined.csv"
    local.write_bytes(joined(list(month_csvs.values())))
    by_file = runner.invoke(main, ["runs", "create", str(local), *run_args])
    assert by_file.exit_code == 0, by_file.output
    assert json.loads(by_id.stdout)["run_id"] == json.loads(by_file.stdout)["run_id"]


def test_a_second_fetch_downloads_nothing(fetch_settings: Settings, server: ArchiveServer) -> None:
    first = fetch_dataset(request(), fetch_settings)
    requests = list(server.requests)
    assert len(requests) == 6  # three checksums, three archives
    again = fetch_dataset(request(), fetch_settings)
    assert server.requests == requests
    assert (again.dataset_id, again.created, again.downloaded) == (first.dataset_id, False, 0)
    assert [a.downloaded for a in again.archives] == [False] * 3
    assert [a.sha256 for a in again.archives] == [a.sha256 for a in first.archives]


def test_the_dataset_records_each_archive_url_and_sha256(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    fetched = fetch_dataset(request(), fetch_settings)
    meta = json.loads((fetched.path / "dataset.json").read_text())
    urls = [f"{server.base_url}/{archive_path('um', SYMBOL, '1m', p)}" for p in MONTHS]
    assert [s["url"] for s in meta["sources"]] == urls
    published = [server.files["/" + archive_path("um", SYMBOL, "1m", p)] for p in MONTHS]
    import hashlib

    assert [s["archive_sha256"] for s in meta["sources"]] == [
        hashlib.sha256(data).hexdigest() for data in published
    ]
    assert [s["name"] for s in meta["sources"]] == [f"{SYMBOL}-1m-{p}.csv" for p in MONTHS]
    assert meta["origin"] == {
        "provider": "binance",
        "market": "um",
        "symbol": SYMBOL,
        "interval": "1m",
        "from_period": "2024-01",
        "to_period": "2024-03",
        "daily": False,
    }
    assert "path" not in meta["sources"][0]  # never a local path
    listed = list_datasets(fetch_settings)
    assert [s["url"] for s in listed[0].sources] == urls
    loaded = DatasetStore(fetch_settings.runs_root).load_for_run(fetched.dataset_id[:12])
    assert loaded.dataset_id == fetched.dataset_id
    assert loaded.bars.height == fetched.ingested.quality["rows"]
    assert [s["path"] for s in loaded.manifest_sources()] == urls
    assert loaded.manifest_sources()[0]["archive_sha256"] == meta["sources"][0]["archive_sha256"]


def test_daily_archives_and_the_spot_and_coin_m_layouts(
    runs_root: Path, quarter: pl.DataFrame
) -> None:
    days = ("2024-02-28", "2024-02-29", "2024-03-01")
    with ArchiveServer() as server:
        for day in days:
            server.publish_binance("spot", SYMBOL, "1m", day, kline_csv(month_bars(quarter, day)))
        server.publish_binance("cm", "DEMOUSD_PERP", "1m", "2024-01", kline_csv(quarter[:100]))
        settings = Settings(runs_root=runs_root, binance_base_url=server.base_url)
        daily = fetch_dataset(
            request(market="spot", from_period=days[0], to_period=days[-1], daily=True), settings
        )
        assert daily.ingested.quality["rows"] == 3 * 1440
        assert server.requested(".zip") == [
            f"/data/spot/daily/klines/{SYMBOL}/1m/{SYMBOL}-1m-{day}.zip" for day in days
        ]
        coin = fetch_dataset(
            "binance", settings, market="cm", symbol="DEMOUSD_PERP", from_period="2024-01"
        )
        assert coin.archives[0].archive.url.endswith(
            "/data/futures/cm/monthly/klines/DEMOUSD_PERP/1m/DEMOUSD_PERP-1m-2024-01.zip"
        )
        assert cached_names(runs_root) == sorted(
            [f"{SYMBOL}-1m-{day}.zip" for day in days] + ["DEMOUSD_PERP-1m-2024-01.zip"]
        )


def test_the_cli_fetches_lists_and_prints_the_dataset_id(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    runner = CliRunner(env={"QUANTRUN_BINANCE_BASE_URL": server.base_url})
    root = ["--runs-root", str(fetch_settings.runs_root)]
    args = ["data", "fetch", "binance", "--market", "um", "--symbol", SYMBOL, "--from", "2024-01"]
    result = runner.invoke(main, [*args, "--to", "2024-02", *root, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["created"], body["downloaded"], len(body["archives"])) == (True, 2, 2)
    assert body["quality"]["rows"] == 60 * 1440 - 180
    text = runner.invoke(main, [*args, "--to", "2024-02", *root])
    assert text.exit_code == 0, text.output
    assert f"dataset {body['dataset_id']} (already stored)" in text.stdout
    assert "2 verified (0 downloaded, 2 from the cache)" in text.stdout
    listed = runner.invoke(main, ["data", "list", *root])
    assert "← binance: 2 archives from 127.0.0.1:" in listed.stdout
    rows = json.loads(runner.invoke(main, ["data", "list", *root, "--json"]).stdout)
    assert rows["datasets"][0]["origin"]["provider"] == "binance"


@REAL
@pytest.mark.parametrize(
    "name", ["DOTUSDT-1m-2025-11.csv", "LINKUSDT-1m-2023-02.csv", "LTCUSDT-1m-2026-02.csv"]
)
def test_a_real_month_fetched_is_the_real_csv_ingested(
    name: str, runs_root: Path, tmp_path: Path
) -> None:
    symbol, interval, year, month = name.removesuffix(".csv").split("-")
    csv = (SHARED_DATA / name).read_bytes()
    with ArchiveServer() as server:
        server.publish_binance("um", symbol, interval, f"{year}-{month}", csv)
        settings = Settings(runs_root=runs_root, binance_base_url=server.base_url)
        fetched = fetch_dataset(
            "binance", settings, market="um", symbol=symbol, from_period=f"{year}-{month}"
        )
    local = ingest_file(
        [str(SHARED_DATA / name)], Settings(runs_root=tmp_path / "local"), symbol=symbol
    )
    assert fetched.dataset_id == local.dataset_id
    assert fetched.sources[0]["sha256"] == local.inspection.sources[0].sha256
    by_file = create_run(str(SHARED_DATA / name), settings, symbol=symbol, **RUN)
    assert by_file.manifest.identity.dataset_id == fetched.dataset_id
    if DATASET_RUNS:
        fields = {"dataset": fetched.dataset_id, "symbol": symbol} | RUN
        by_id = create_run(RunCreateRequest.model_validate(fields), settings)
        assert by_id.run_id == by_file.run_id


@REAL
def test_three_real_days_fetched_daily_equal_the_joined_days(
    runs_root: Path, tmp_path: Path
) -> None:
    lines = (SHARED_DATA / "LTCUSDT-1m-2026-02.csv").read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    assert header.decode().strip() == REAL_HEADER
    days = {
        f"2026-02-0{d + 1}": header + b"".join(rows[d * 1440 : (d + 1) * 1440]) for d in range(3)
    }
    with ArchiveServer() as server:
        for day, csv in days.items():
            server.publish_binance("um", "LTCUSDT", "1m", day, csv)
        settings = Settings(runs_root=runs_root, binance_base_url=server.base_url)
        fetched = fetch_dataset(
            "binance",
            settings,
            market="um",
            symbol="LTCUSDT",
            from_period="2026-02-01",
            to_period="2026-02-03",
            daily=True,
        )
    local = tmp_path / "LTCUSDT-3-days.csv"
    local.write_bytes(header + b"".join(rows[: 3 * 1440]))
    by_file = create_run(str(local), settings, symbol="LTCUSDT", **RUN)
    assert by_file.manifest.identity.dataset_id == fetched.dataset_id
    assert not by_file.created or fetched.ingested.quality["rows"] == 3 * 1440


# --- failure modes: a stable code each, nothing stored -------------------------------------


def test_an_unreachable_host_names_the_url_and_what_to_do(runs_root: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        runs_root=runs_root,
        binance_base_url=f"http://user:secret@127.0.0.1:{port}",
        fetch_retries=2,
        fetch_backoff_seconds=0,
    )
    failure = expect(ErrorCode.FETCH_UNREACHABLE, lambda: fetch_dataset(request(), settings))
    url = f"http://127.0.0.1:{port}/{archive_path('um', SYMBOL, '1m', '2024-01')}.CHECKSUM"
    assert failure.detail == f"{url}: connection refused (3 attempts)"
    assert "QUANTRUN_BINANCE_BASE_URL" in failure.hint
    assert "secret" not in json.dumps(failure.to_dict())
    stored_nothing(runs_root)
    result = CliRunner().invoke(
        main,
        ["data", "fetch", "binance", "--market", "um", "--symbol", SYMBOL, "--from", "2024-01"],
        env={
            "QUANTRUN_RUNS_ROOT": str(runs_root),
            "QUANTRUN_BINANCE_BASE_URL": settings.binance_base_url,
            "QUANTRUN_FETCH_RETRIES": "0",
        },
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error[FETCH_UNREACHABLE]: {url}: connection refused")
    assert "  hint: Check the network" in result.stderr and "Traceback" not in result.stderr


def test_a_month_that_does_not_exist_is_named(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    failure = expect(
        ErrorCode.FETCH_NOT_FOUND,
        lambda: fetch_dataset(request(to_period="2024-04"), fetch_settings),
    )
    assert failure.detail.startswith(f"{SYMBOL}-1m-2024-04.zip is not published: ")
    assert failure.detail.endswith("answered HTTP 404")
    assert len(server.requested("2024-04.zip.CHECKSUM")) == 1  # never retried
    # The three months before it were verified and kept: the same request resumes from there.
    assert cached_names(fetch_settings.runs_root) == [f"{SYMBOL}-1m-{p}.zip" for p in MONTHS]
    stored_nothing(fetch_settings.runs_root)


def test_a_checksum_mismatch_keeps_nothing(fetch_settings: Settings, server: ArchiveServer) -> None:
    path = archive_path("um", SYMBOL, "1m", "2024-02")
    server.publish(path + ".CHECKSUM", checksum_line(b"other bytes", path.rsplit("/", 1)[-1]))
    failure = expect(
        ErrorCode.FETCH_CHECKSUM_MISMATCH, lambda: fetch_dataset(request(), fetch_settings)
    )
    assert failure.detail.startswith(f"{SYMBOL}-1m-2024-02.zip has sha256 ")
    assert failure.extra["actual"] != failure.extra["expected"]
    assert cached_names(fetch_settings.runs_root) == [f"{SYMBOL}-1m-2024-01.zip"]
    stored_nothing(fetch_settings.runs_root)


def test_a_checksum_file_that_names_another_archive_is_refused(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    path = archive_path("um", SYMBOL, "1m", "2024-01")
    server.publish(path + ".CHECKSUM", checksum_line(server.files["/" + path], "other.zip"))
    failure = expect(
        ErrorCode.FETCH_CHECKSUM_MISMATCH, lambda: fetch_dataset(request(), fetch_settings)
    )
    assert "is not one line" in failure.detail
    stored_nothing(fetch_settings.runs_root)
    assert cached_names(fetch_settings.runs_root) == []


def test_a_truncated_download_is_retried_then_refused(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    path = archive_path("um", SYMBOL, "1m", "2024-02")
    server.misbehave(path, Misbehaviour(truncate_at=1000))
    settings = fetch_settings.model_copy(update={"fetch_retries": 2})
    failure = expect(ErrorCode.FETCH_TRUNCATED, lambda: fetch_dataset(request(), settings))
    size = len(server.files["/" + path])
    assert failure.detail.endswith(f"cut short (received 1,000 of {size:,} bytes; 3 attempts)")
    assert len(server.requested("2024-02.zip")) == 3
    stored_nothing(settings.runs_root)
    assert cached_names(settings.runs_root) == [f"{SYMBOL}-1m-2024-01.zip"]


def test_transient_errors_are_retried_with_backoff(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    path = archive_path("um", SYMBOL, "1m", "2024-01")
    server.misbehave(path, Misbehaviour(statuses=[503, 502]))
    server.misbehave(path.replace("2024-01", "2024-02"), Misbehaviour(truncate_at=10, times=1))
    waits: list[float] = []
    transport = Transport(timeout=5, retries=3, backoff=0.5, sleep=waits.append)
    fetched = fetch("binance", request(), fetch_settings, transport=transport)
    assert fetched.downloaded == 3
    assert waits == [0.5, 1.0, 0.5]  # 503, 502 (doubled), then the cut-short body
    assert len(server.requested("2024-01.zip")) == 3


def test_a_timeout_is_a_failed_attempt(fetch_settings: Settings, server: ArchiveServer) -> None:
    path = archive_path("um", SYMBOL, "1m", "2024-01")
    server.misbehave(path + ".CHECKSUM", Misbehaviour(stall_before_headers=True))
    server.misbehave(path, Misbehaviour(stall_at=100))
    settings = fetch_settings.model_copy(update={"fetch_timeout_seconds": 0.2, "fetch_retries": 0})
    failure = expect(ErrorCode.FETCH_UNREACHABLE, lambda: fetch_dataset(request(), settings))
    assert failure.detail.endswith(".CHECKSUM: timed out (1 attempt)")
    server.misbehaviours.pop("/" + path + ".CHECKSUM").release.set()
    failure = expect(ErrorCode.FETCH_TRUNCATED, lambda: fetch_dataset(request(), settings))
    assert failure.detail.endswith("cut short (timed out; 1 attempt)")
    stored_nothing(settings.runs_root)


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ({"DEMOUSDT-1m-2024-01.csv": b"x", "extra.txt": b"y"}, "holds 'DEMOUSDT-1m-2024-01.csv'"),
        ({"other.csv": b"x"}, "holds 'other.csv'; expected only 'DEMOUSDT-1m-2024-01.csv'"),
        ({"../DEMOUSDT-1m-2024-01.csv": b"x"}, "holds '../DEMOUSDT-1m-2024-01.csv'"),
        ({"sub/DEMOUSDT-1m-2024-01.csv": b"x"}, "holds 'sub/DEMOUSDT-1m-2024-01.csv'"),
        ({}, "holds nothing"),
    ],
    ids=["a second member", "another name", "a parent path", "a folder", "empty"],
)
def test_a_zip_with_an_unexpected_member_is_refused(
    members: dict[str, bytes], why: str, fetch_settings: Settings, server: ArchiveServer
) -> None:
    server.publish_archive(archive_path("um", SYMBOL, "1m", "2024-01"), members)
    failure = expect(
        ErrorCode.FETCH_ARCHIVE_INVALID, lambda: fetch_dataset(request(), fetch_settings)
    )
    assert why in failure.detail
    stored_nothing(fetch_settings.runs_root)
    assert cached_names(fetch_settings.runs_root) == []


def test_an_archive_that_is_not_a_zip_is_refused(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    path = archive_path("um", SYMBOL, "1m", "2024-01")
    server.publish(path, b"<html>not found</html>")
    server.publish(
        path + ".CHECKSUM", checksum_line(b"<html>not found</html>", path.split("/")[-1])
    )
    failure = expect(
        ErrorCode.FETCH_ARCHIVE_INVALID, lambda: fetch_dataset(request(), fetch_settings)
    )
    assert failure.detail.startswith(f"{SYMBOL}-1m-2024-01.zip is not a readable zip archive")
    stored_nothing(fetch_settings.runs_root)


def test_an_archive_whose_rows_fail_validation_stores_no_dataset(
    fetch_settings: Settings, server: ArchiveServer, month_csvs: dict[str, bytes]
) -> None:
    lines = month_csvs["2024-02"].split(b"\n")
    cells = lines[5].split(b",")
    cells[2], cells[3] = cells[3], cells[2]  # high and low swapped on line 6
    lines[5] = b",".join(cells)
    server.publish_binance("um", SYMBOL, "1m", "2024-02", b"\n".join(lines))
    failure = expect(ErrorCode.CSV_HIGH_BELOW_LOW, lambda: fetch_dataset(request(), fetch_settings))
    assert failure.detail.startswith(
        "high >= low: 1 row(s) fail, first at line DEMOUSDT-1m-2024-02.csv:6"
    )
    assert failure.extra["archives"][1].endswith(f"/{SYMBOL}-1m-2024-02.zip")
    assert "RUNS_ROOT/cache/binance" in failure.hint
    stored_nothing(fetch_settings.runs_root)
    result = CliRunner().invoke(
        main,
        [*("data", "fetch", "binance", "--market", "um", "--symbol", SYMBOL, "--from", "2024-02")],
        env={
            "QUANTRUN_RUNS_ROOT": str(fetch_settings.runs_root),
            "QUANTRUN_BINANCE_BASE_URL": server.base_url,
        },
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("error[CSV_HIGH_BELOW_LOW]: high >= low: 1 row(s) fail")


def test_an_archive_over_the_size_limit_is_refused_before_it_is_read(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    settings = fetch_settings.model_copy(update={"max_input_bytes": 100_000})
    failure = expect(ErrorCode.LIMIT_INPUT_SIZE, lambda: fetch_dataset(request(), settings))
    assert "the limit is 100,000 bytes" in failure.detail
    stored_nothing(settings.runs_root)
    assert cached_names(settings.runs_root) == []


class _Interrupt(FetchProgress):
    """Ctrl-C after the first chunk of ``archive``'s download."""

    def __init__(self, archive: str) -> None:
        self.archive = archive

    def downloading(self, archive: Archive) -> DownloadHook:
        target = self.archive

        class Hook:
            def started(self, total: int | None) -> None:
                return None

            def advanced(self, size: int) -> None:
                if archive.name == target:
                    raise KeyboardInterrupt

        return Hook()


def test_ctrl_c_mid_download_removes_the_partial_file_and_the_fetch_resumes(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    with pytest.raises(KeyboardInterrupt):
        fetch_dataset(request(), fetch_settings, progress=_Interrupt(f"{SYMBOL}-1m-2024-02.zip"))
    stored_nothing(fetch_settings.runs_root)
    assert cached_names(fetch_settings.runs_root) == [f"{SYMBOL}-1m-2024-01.zip"]
    before = len(server.requested(".zip"))
    resumed = fetch_dataset(request(), fetch_settings)
    assert [a.downloaded for a in resumed.archives] == [False, True, True]
    assert len(server.requested(".zip")) == before + 2


def test_ctrl_c_in_the_cli_mid_download(
    fetch_settings: Settings, server: ArchiveServer, runs_root: Path
) -> None:
    """A real SIGINT to `quantrun data fetch` while the host stalls in the middle of an
    archive: the stable code, no partial file, and the same command then completes."""
    path = archive_path("um", SYMBOL, "1m", "2024-02")
    stall = server.misbehave(path, Misbehaviour(stall_at=200_000))
    env = os.environ | {
        "QUANTRUN_RUNS_ROOT": str(runs_root),
        "QUANTRUN_BINANCE_BASE_URL": server.base_url,
        "QUANTRUN_FETCH_TIMEOUT_SECONDS": "600",
    }
    args = ["data", "fetch", "binance", "--market", "um", "--symbol", SYMBOL]
    args += ["--from", MONTHS[0], "--to", MONTHS[-1]]
    process = subprocess.Popen(
        [sys.executable, "-m", "quantrun", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert stall.stalled.wait(timeout=120), "the download never reached the stall"
        partial = [p for p in all_files(runs_root / "staging") if p.suffix == ".zip"]
        assert len(partial) == 1  # the download in progress, in its staging folder
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, err
    assert err.startswith("error[FETCH_INTERRUPTED]: interrupted; nothing partial was kept")
    assert "the same command again fetches only the rest" in err and "Traceback" not in err
    stored_nothing(runs_root)
    assert cached_names(runs_root) == [f"{SYMBOL}-1m-2024-01.zip"]
    server.misbehaviours.pop("/" + path).release.set()
    done = CliRunner().invoke(main, [*args, "--runs-root", str(runs_root), "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert [a["downloaded"] for a in json.loads(done.stdout)["archives"]] == [False, True, True]


def test_a_damaged_cache_entry_is_downloaded_again(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    first = fetch_dataset(request(), fetch_settings)
    cached = first.archives[1].path
    cached.write_bytes(cached.read_bytes()[:-10])
    again = fetch_dataset(request(), fetch_settings)
    assert [a.downloaded for a in again.archives] == [False, True, False]
    assert again.archives[1].sha256 == first.archives[1].sha256


# --- requests, the adapter and the stored dataset -------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from_period": "2024-1"}, "--from '2024-1' is not YYYY-MM"),
        ({"from_period": "2024-01-15"}, "is not YYYY-MM (a day needs --daily)"),
        ({"from_period": "2024-13"}, "--from '2024-13' is not a calendar date"),
        ({"from_period": "2024-03", "to_period": "2024-01"}, "--to 2024-01 is before --from"),
        ({"symbol": "btcusdt"}, "invalid Binance symbol 'btcusdt'"),
        ({"symbol": "BTC/USDT"}, "invalid Binance symbol 'BTC/USDT'"),
    ],
)
def test_a_bad_request_is_a_usage_error(fields: dict[str, Any], message: str) -> None:
    failure = expect(ErrorCode.USAGE_INVALID_OPTION, lambda: request(**fields))
    assert message in failure.detail


def test_the_cli_refuses_a_bad_request_before_any_download(runs_root: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["data", "fetch", "binance", "--market", "um", "--symbol", SYMBOL, "--from", "24-01"],
        env={"QUANTRUN_RUNS_ROOT": str(runs_root)},
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error[USAGE_INVALID_OPTION]: --from '24-01' is not YYYY-MM")
    missing = CliRunner().invoke(
        main, ["data", "fetch", "binance", "--symbol", SYMBOL, "--from", "2024-01"]
    )
    assert missing.exit_code == 2 and "market: Field required" in missing.stderr
    assert not runs_root.exists()


def test_the_adapter_lays_archives_out_as_the_host_does() -> None:
    provider = BinanceProvider("https://data.binance.vision/")
    months = provider.archives(request(market="spot", symbol="BTCUSDT", to_period="2024-02"))
    assert [(a.url, a.checksum_url, a.member) for a in months] == [
        (
            f"https://data.binance.vision/data/spot/monthly/klines/BTCUSDT/1m/{stem}.zip",
            f"https://data.binance.vision/data/spot/monthly/klines/BTCUSDT/1m/{stem}.zip.CHECKSUM",
            f"{stem}.csv",
        )
        for stem in ("BTCUSDT-1m-2024-01", "BTCUSDT-1m-2024-02")
    ]
    days = provider.archives(
        request(
            symbol="BTCUSDT", interval="1h", from_period="2023-12-31", to_period=None, daily=True
        )
    )
    assert [a.cache_path for a in days] == [
        "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2023-12-31.zip"
    ]
    december = request(from_period="2023-11", to_period="2024-02").periods()
    assert december == ["2023-11", "2023-12", "2024-01", "2024-02"]
    archive = months[0]
    line = f"{'ab' * 32}  {archive.name}\n".encode()
    assert provider.parse_checksum(archive, line) == "ab" * 32
    assert provider.parse_checksum(archive, line.replace(b"  ", b" *")) == "ab" * 32
    assert public_url("https://u:p@host:8443/a/b.zip?sig=1#x") == "https://host:8443/a/b.zip"


def test_a_stored_dataset_that_changed_does_not_load(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    fetched = fetch_dataset(request(to_period="2024-01"), fetch_settings)
    store = DatasetStore(fetch_settings.runs_root)
    assert store.load_for_run(fetched.dataset_id).quality == fetched.ingested.quality
    expect(ErrorCode.DATASET_NOT_FOUND, lambda: store.load_for_run("0" * 64))
    expect(ErrorCode.DATASET_NOT_FOUND, lambda: store.load_for_run("../../etc"))
    quality = fetched.path / "data_quality.json"
    quality.chmod(0o644)
    quality.write_bytes(quality.read_bytes().replace(b'"rows"', b'"Rows"'))
    failure = expect(ErrorCode.DATASET_CORRUPT, lambda: store.load_for_run(fetched.dataset_id))
    assert "data_quality.json differs" in failure.detail


def test_an_archive_that_zips_a_bomb_is_refused_before_unzipping(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    path = archive_path("um", SYMBOL, "1m", "2024-01")
    server.publish_archive(path, {f"{SYMBOL}-1m-2024-01.csv": b"0" * 3_000_000})
    settings = fetch_settings.model_copy(update={"max_input_bytes": 2_000_000})
    failure = expect(ErrorCode.LIMIT_INPUT_SIZE, lambda: fetch_dataset(request(), settings))
    assert failure.detail.startswith(f"{SYMBOL}-1m-2024-01.csv unzips to 3,000,000 bytes")
    stored_nothing(settings.runs_root)
    assert zipfile.is_zipfile(__import__("io").BytesIO(server.files["/" + path]))


def test_zip_bytes_are_deterministic() -> None:
    assert zip_bytes({"a.csv": b"1"}) == zip_bytes({"a.csv": b"1"})


def test_the_progress_bars_follow_a_fetch(
    fetch_settings: Settings, server: ArchiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's bars (rich, on a terminal only): one for the archives, one per download,
    removed once the archive is verified."""
    from quantrun.cli.data import _FetchBars

    with _FetchBars(enabled=False) as silent:
        assert silent._progress is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with _FetchBars(enabled=True) as bars:
        fetch_dataset(request(), fetch_settings, progress=bars)
        overall = bars._progress.tasks[0]
        assert (overall.description, overall.completed, overall.total) == ("ingesting", 3, 3)
        assert len(bars._progress.tasks) == 1 and bars._downloads == {}
        fetch_dataset(request(), fetch_settings, progress=bars)  # all from the cache
        assert [t.completed for t in bars._progress.tasks] == [3, 3]


def test_an_unwritable_cache_is_a_storage_failure(
    fetch_settings: Settings, server: ArchiveServer
) -> None:
    cache = fetch_settings.layout.provider_cache("binance")
    cache.parent.mkdir(parents=True)
    cache.write_text("not a folder")
    failure = expect(ErrorCode.STORAGE_FAILED, lambda: fetch_dataset(request(), fetch_settings))
    assert failure.detail.startswith("could not write a fetched archive under RUNS_ROOT")
    assert str(fetch_settings.runs_root) not in failure.detail

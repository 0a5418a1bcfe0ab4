"""The real Binance files in ../shared/data/real ingest cleanly, and damaged copies of one
give the documented outcomes. Skipped (with the reason) when the shared data is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_DATA, tree
from quantrun.api import ingest_file
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings

REAL = {
    "DOTUSDT-1m-2025-11.csv": (
        43_200,
        "7d1748b9b7d46b32e5b7d8337f7ca101c88f72381cd90dae722beea5c557b316",
        "2025-11-01T00:00:00Z",
    ),
    "LINKUSDT-1m-2023-02.csv": (
        40_320,
        "1d74355ca2f54321118ecfd72f6826ad4101305efb41169dcc83ae50643ecd12",
        "2023-02-01T00:00:00Z",
    ),
    "LTCUSDT-1m-2026-02.csv": (
        40_320,
        "c6c9f3ed232a71aa784c0eae3f246387a13fe839e5f7d1581c7a1671b69d1705",
        "2026-02-01T00:00:00Z",
    ),
}

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared real data not present at {SHARED_DATA}"
)


@needs_shared
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file_ingests_cleanly(name: str, settings: Settings) -> None:
    rows, sha, first = REAL[name]
    result = ingest_file([str(SHARED_DATA / name)], settings, symbol=name.split("-")[0])
    q = result.quality
    assert (q["rows"], q["expected_bars"], q["coverage"], q["gaps"]["count"]) == (
        rows,
        rows,
        1.0,
        0,
    )
    assert q["first_bar"] == first
    source = result.to_dict()["sources"][0]
    assert (source["sha256"], source["format"], source["has_header"]) == (sha, "binance", True)
    assert result.to_dict()["timestamp_kinds"] == ["epoch_ms"]


@pytest.fixture
def dot_lines() -> list[str]:
    path = SHARED_DATA / "DOTUSDT-1m-2025-11.csv"
    if not path.is_file():
        pytest.skip(f"shared real data not present at {SHARED_DATA}")
    return path.read_text().splitlines()


def _write(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "copy.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _reject(settings: Settings, path: str, **kwargs: bool) -> QuantrunError:
    before = tree(settings.runs_root)
    with pytest.raises(QuantrunError) as caught:
        ingest_file([path], settings, **kwargs)
    assert tree(settings.runs_root) == before
    return caught.value


def test_damaged_copies_of_a_real_file(
    tmp_path: Path, settings: Settings, dot_lines: list[str]
) -> None:
    header, body = dot_lines[0], dot_lines[1:]

    # Shuffled rows: refused, then accepted with --sort giving the original dataset.
    shuffled = body[::2] + body[1::2]
    err = _reject(settings, _write(tmp_path, [header, *shuffled]))
    assert err.code == ErrorCode.CSV_UNSORTED
    assert err.lines[0] == 2 + len(body[::2])  # the first row that steps back in time
    repaired = ingest_file([_write(tmp_path, [header, *shuffled])], settings, sort=True)
    assert repaired.quality["repairs"]["sort"]["rows_moved"] > 0
    assert repaired.quality["rows"] == len(body)

    # A duplicated row: refused, then accepted with --drop-exact-duplicates.
    duplicated = [*body[:100], body[99], *body[100:]]
    err = _reject(settings, _write(tmp_path, [header, *duplicated]))
    assert (err.code, err.lines) == (ErrorCode.CSV_DUPLICATE_TIMESTAMP, [102])
    kept = ingest_file(
        [_write(tmp_path, [header, *duplicated])], settings, drop_exact_duplicates=True
    )
    assert kept.quality["duplicates_found"]["exact"] == 1

    # A naive ISO timestamp among epoch milliseconds: refused as ambiguous/unparseable form.
    naive = list(body)
    cells = naive[500].split(",")
    cells[0] = "2025-11-01 08:20:00"
    naive[500] = ",".join(cells)
    err = _reject(settings, _write(tmp_path, [header, *naive]))
    assert (err.code, err.lines) == (ErrorCode.CSV_BAD_TIMESTAMP, [502])

    # High below low.
    broken = list(body)
    cells = broken[1000].split(",")
    cells[2], cells[3] = cells[3], str(float(cells[2]) + 1)
    broken[1000] = ",".join(cells)
    err = _reject(settings, _write(tmp_path, [header, *broken]))
    assert (err.code, err.lines) == (ErrorCode.CSV_HIGH_BELOW_LOW, [1002])

    # A gap cut out: accepted, measured, never filled.
    gapped = body[:2000] + body[2090:]
    result = ingest_file([_write(tmp_path, [header, *gapped])], settings)
    q = result.quality
    assert (q["rows"], q["missing_bars"], q["gaps"]["count"]) == (len(body) - 90, 90, 1)
    assert q["gaps"]["largest"][0] == {
        "start": "2025-11-02T09:20:00Z",
        "end": "2025-11-02T10:49:00Z",
        "missing_bars": 90,
    }


@needs_shared
def test_two_months_ingest_as_one_dataset(settings: Settings, tmp_path: Path) -> None:
    files = [
        str(SHARED_DATA / "DOTUSDT-1m-2025-11.csv"),
        str(SHARED_DATA / "LTCUSDT-1m-2026-02.csv"),
    ]
    q = ingest_file(files, settings).quality
    assert q["rows"] == 43_200 + 40_320
    assert q["gaps"]["count"] == 1  # December 2025 and January 2026 are not there


PINNED_LINK_1H = {
    "total_return": -0.023980463762935722,
    "cagr": -0.2713985405653121,
    "annual_volatility": 0.24320374277152146,
    "sharpe": -1.1805947720689929,
    "sortino": -1.6968039319425057,
    "max_drawdown": -0.06724655469634055,
    "max_drawdown_duration": 14.041666666666666,
    "trades": 12,
    "win_rate": 0.16666666666666666,
    "profit_factor": 0.865142995362244,
    "best_trade": 0.09790000000000008,  # the 10 % take-profit less 2 x 10 bps commission
    "worst_trade": -0.0519500000000001,  # the 5 % stop-loss less commission
    "exposure": 0.3794642857142857,
    "buy_and_hold_return": 0.0351180195739782,
    "commissions_paid": 122.93178779004162,
    "final_equity": 9760.195362370643,
    "ambiguous_bars": 0,
}


@needs_shared
def test_pinned_metrics_on_a_real_month(settings: Settings) -> None:
    """sma_crossover 10/30 on LINKUSDT February 2023, 1h bars, moderate risk, default costs."""
    from quantrun.api import create_run, open_run

    run = create_run(
        str(SHARED_DATA / "LINKUSDT-1m-2023-02.csv"),
        symbol="LINKUSDT",
        strategy="sma_crossover",
        strategy_version="1",  # pinned when v1 was current; v2 decides crosses exactly
        identity_schema=1,  # and before the strategy's source hash joined the identity
        resample_rules=1,  # and before volume sums were added in row order (D52)
        params={"fast": 10, "slow": 30},
        timeframe="1h",
        risk="moderate",
        settings=settings,
    )
    assert run.run_id == "b5e8ba273d5483c74d58020eb3bba711bc3a9dba1065f9ef928b5c6ea369ac77"
    values = {k: v["value"] for k, v in open_run(run.run_id, settings).metrics.items()}
    for metric_id, expected in PINNED_LINK_1H.items():
        assert values[metric_id] == pytest.approx(expected, rel=1e-12, abs=1e-15), metric_id

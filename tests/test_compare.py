"""Comparing runs (``runs compare``, ``quantrun.api.compare_runs``, ``/compare`` and
``GET /api/v1/compare``) on real runs of the demo data.

The first divergent bar, the number of differing bars and the one-sided trades are checked
against the runs' own ``decision_records.parquet`` and ``trades.csv``, read here with the
standard library, not with the code under test.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from quantrun.api import compare_runs, create_run, open_run
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.runs.compare import resolve_runs
from quantrun.runs.divergence import DECIDED
from quantrun.runs.registry import Registry
from quantrun.settings import Settings
from quantrun.web import create_app

BASE_URL = "http://127.0.0.1"
SMA: dict[str, Any] = {
    "strategy": "sma_crossover",
    "symbol": "DEMOUSD",
    "timeframe": "15m",
    "params": {"fast": 10, "slow": 30},
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compare") / "runs-root"


@pytest.fixture(scope="module")
def settings(root: Path) -> Settings:
    return Settings(runs_root=root)


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("data") / "demo.csv", days=6)


@pytest.fixture(scope="module")
def runs(settings: Settings, demo_csv: Path) -> dict[str, str]:
    """Run ids by name: ``a`` and ``b`` differ only in the fast SMA's length."""
    made: dict[str, dict[str, Any]] = {
        "a": {},
        "b": {"params": {"fast": 12, "slow": 30}},
        "commission": {"commission_bps": 25.0},
        "hourly": {"timeframe": "1h"},
        "later": {"start": "2024-01-03T00:00:00Z"},
        "other_symbol": {"symbol": "OTHERUSD"},
    }
    return {
        name: create_run(str(demo_csv), settings, **(SMA | fields)).run_id
        for name, fields in made.items()
    }


# -- independent readings of the artifacts ----------------------------------------------------


def _records(settings: Settings, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each bar's decision records (what was decided), by bar time."""
    by_bar: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    # pyarrow, not quantrun's reader: ts is a UTC timestamp in the Parquet file.
    table = pq.read_table(settings.runs_root / "runs" / run_id / "decision_records.parquet")
    for record in table.to_pylist():
        record["ts"] = record["ts"].strftime("%Y-%m-%dT%H:%M:%SZ")
        by_bar[record["ts"]].append(tuple(record[name] for name in DECIDED))
    return by_bar


def _trade_keys(settings: Settings, run_id: str) -> set[tuple[str, str, str]]:
    path = settings.runs_root / "runs" / run_id / "trades.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return {(t["direction"], t["entry_ts"], t["exit_ts"]) for t in csv.DictReader(handle)}


# -- the core and the Python API --------------------------------------------------------------


def test_one_parameter_apart_shows_that_field_and_the_first_divergent_bar(
    settings: Settings, runs: dict[str, str]
) -> None:
    a, b = runs["a"], runs["b"]
    comparison = compare_runs([a[:8], b[:10]], settings)
    assert [r.run_id for r in comparison.runs] == [a, b]
    assert [r.label for r in comparison.runs] == ["A", "B"]

    # Exactly the one parameter differs among every input.
    differing = comparison.differing_fields
    assert [(f.path, f.values, f.identity) for f in differing] == [
        ("strategy.params.fast", (10, 12), True)
    ]
    assert len(comparison.fields) > 40
    assert comparison.to_dict()["fields"]["rows"] == [differing[0].to_dict()]
    everything = compare_runs([a, b], settings, all_fields=True).to_dict()["fields"]
    assert len(everything["rows"]) == everything["total"] == len(comparison.fields)
    assert {row["path"] for row in everything["rows"]} >= {
        "dataset.dataset_id",
        "dataset.content_sha256",
        "symbol",
        "timeframe",
        "window.start",
        "strategy.id",
        "strategy.version",
        "risk.level",
        "risk.config.stop_loss_pct",
        "costs.initial_cash",
        "engine.engine_version",
        "engine.libraries.numba",
        "resampling.rules_version",
        "resampling.rules.closed",
        "ingest.sort",
    }

    # The first divergent bar, as the decision records themselves say.
    ra, rb = _records(settings, a), _records(settings, b)
    differing_bars = sorted(ts for ts in ra.keys() | rb.keys() if ra.get(ts) != rb.get(ts))
    assert differing_bars, "the two parameter sets never decide differently"
    (divergence,) = comparison.divergences
    assert divergence.reason is None and divergence.note is None
    found = divergence.decisions
    assert found is not None and found.first is not None
    assert found.first.ts == differing_bars[0]
    assert found.bars_differing == len(differing_bars)
    assert found.bars_compared == open_run(a, settings).manifest.summary.bars
    for side, records in ((found.first.reference, ra), (found.first.other, rb)):
        assert [tuple(getattr(r, n) for n in DECIDED) for r in side] == records.get(
            found.first.ts, []
        )
    if found.first.reference:
        indicators = found.first.reference[0].indicators
        assert set(indicators) == {"sma_fast", "sma_slow"}

    # The trades only one of them has.
    ta, tb = _trade_keys(settings, a), _trade_keys(settings, b)
    trades = found.trades
    assert trades.only_reference_count == len(ta - tb)
    assert trades.only_other_count == len(tb - ta)
    assert trades.shared == len(ta & tb)
    listed = {(t.direction, t.entry_ts, t.exit_ts or "") for t in trades.only_reference}
    assert listed <= ta - tb

    # Metrics side by side, each delta to the first run, with its unit and convention.
    metrics_a, metrics_b = open_run(a, settings).metrics, open_run(b, settings).metrics
    assert [m.id for m in comparison.metrics] == list(metrics_a)
    for m in comparison.metrics:
        va, vb = metrics_a[m.id]["value"], metrics_b[m.id]["value"]
        assert m.values == (va, vb)
        assert m.unit == metrics_a[m.id]["unit"]
        assert m.convention == metrics_a[m.id]["convention"]
        assert m.deltas[0] is None
        assert m.deltas[1] == (None if va is None or vb is None else vb - va)
        assert not m.conventions_differ
    sharpe = next(m for m in comparison.metrics if m.id == "sharpe")
    assert sharpe.deltas[1] == pytest.approx(
        metrics_b["sharpe"]["value"] - metrics_a["sharpe"]["value"]
    )

    # Same data, same bars: those artifacts are byte-identical; the decisions are not.
    identical = {x.name: x.identical for x in comparison.artifacts}
    assert identical["bars.parquet"] and identical["data_quality.json"]
    assert not identical["decision_records.parquet"]


def test_costs_apart_part_at_the_first_fill(settings: Settings, runs: dict[str, str]) -> None:
    comparison = compare_runs([runs["a"], runs["commission"]], settings)
    assert [f.path for f in comparison.differing_fields] == ["costs.commission_bps"]
    found = comparison.divergences[0].decisions
    assert found is not None and found.first is not None
    # The same signals and orders until the first fill, which is charged differently.
    assert [r.action for r in found.first.reference] == ["fill"]
    assert [r.action for r in found.first.other] == ["fill"]
    assert "commission" in found.first.fields and "records" not in found.first.fields
    first_fill = min(
        ts
        for ts, recs in _records(settings, runs["a"]).items()
        if any(r[0] == "fill" for r in recs)
    )
    assert found.first.ts == first_fill


def test_other_timeframe_or_symbol_says_why_decisions_are_not_compared(
    settings: Settings, runs: dict[str, str]
) -> None:
    comparison = compare_runs([runs["a"], runs["hourly"], runs["other_symbol"]], settings)
    hourly, other_symbol = comparison.divergences
    assert hourly.decisions is None and hourly.reason is not None
    assert "timeframes (15m and 1h)" in hourly.reason
    assert other_symbol.decisions is None and other_symbol.reason is not None
    assert "symbol" in other_symbol.reason or "dataset" in other_symbol.reason
    data = comparison.to_dict()
    assert [d["comparable"] for d in data["divergence"]] == [False, False]
    timeframe = next(f for f in comparison.differing_fields if f.path == "timeframe")
    assert timeframe.values == ("15m", "1h", "15m")
    # Annualisation follows the bars: the conventions differ and the comparison says so.
    sharpe = next(m for m in comparison.metrics if m.id == "sharpe")
    assert sharpe.conventions_differ
    assert "annualisation_factor" in sharpe.convention_differences()


def test_different_windows_are_compared_over_the_bars_both_simulated(
    settings: Settings, runs: dict[str, str]
) -> None:
    comparison = compare_runs([runs["a"], runs["later"]], settings)
    assert "window.start" in [f.path for f in comparison.differing_fields]
    (divergence,) = comparison.divergences
    assert divergence.note is not None and "different windows" in divergence.note
    found = divergence.decisions
    assert found is not None
    assert found.start == "2024-01-03T00:00:00Z"
    later = open_run(runs["later"], settings).manifest.summary
    assert found.bars_compared == later.bars


def test_bad_selections_are_refused_with_their_codes(
    settings: Settings, runs: dict[str, str]
) -> None:
    a, b = runs["a"], runs["b"]
    cases: list[tuple[list[str], ErrorCode]] = [
        ([a], ErrorCode.COMPARE_TOO_FEW_RUNS),
        ([], ErrorCode.COMPARE_TOO_FEW_RUNS),
        ([a, a[:8]], ErrorCode.COMPARE_DUPLICATE_RUN),
        ([a, "0" * 8], ErrorCode.RUN_NOT_FOUND),
        ([a, "xyz"], ErrorCode.RUN_NOT_FOUND),
        ([a, f"{'1' * 64}:3"], ErrorCode.SWEEP_NOT_FOUND),  # a cell of no sweep
    ]
    for refs, code in cases:
        with pytest.raises(QuantrunError) as caught:
            compare_runs(refs, settings)
        assert caught.value.code == code, refs
    with pytest.raises(QuantrunError) as caught:
        compare_runs([a, b, runs["hourly"]], settings.model_copy(update={"max_compare_runs": 2}))
    assert caught.value.code == ErrorCode.LIMIT_COMPARE_RUNS
    assert caught.value.extra == {"limit": 2} and caught.value.exit_code == 4
    # One string with commas is the URL's form.
    assert [r.run_id for r in compare_runs(f"{a[:8]},{b[:8]}", settings).runs] == [a, b]


def test_an_ambiguous_prefix_is_refused(settings: Settings) -> None:
    class TwoAlike(Registry):
        def entries(self) -> Any:
            return [
                SimpleNamespace(run_id="ab" * 32),
                SimpleNamespace(run_id="abababab" + "0" * 56),
            ]

    registry = cast(Registry, TwoAlike(settings.runs_root))
    with pytest.raises(QuantrunError) as caught:
        resolve_runs(registry, ["abababab", "ab" * 32], limit=5)
    assert caught.value.code == ErrorCode.RUN_NOT_FOUND
    assert "2 runs with an id starting 'abababab'" in caught.value.detail


def test_sweep_cells_resolve_through_the_hook(settings: Settings, runs: dict[str, str]) -> None:
    """No sweeps yet: a resolver handed in (as sweeps will) turns SWEEP_ID:K into a run."""
    registry = Registry(settings.runs_root)
    cells = {("f" * 64, 0): runs["a"], ("f" * 64, 1): runs["b"]}
    resolved = resolve_runs(
        registry, [f"{'f' * 64}:0", f"{'f' * 64}:1"], limit=5, cells=lambda s, k: cells[s, k]
    )
    assert resolved == [runs["a"], runs["b"]]


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_prints_the_difference_and_the_same_json(
    settings: Settings, runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUANTRUN_MAX_COMPARE_RUNS", raising=False)
    root = ["--runs-root", str(settings.runs_root)]
    a, b = runs["a"], runs["b"]
    runner = CliRunner()
    text = runner.invoke(main, ["runs", "compare", a[:8], b[:8], *root])
    assert text.exit_code == 0, text.output
    first = compare_runs([a, b], settings).divergences[0].decisions
    assert first is not None and first.first is not None
    assert "inputs: 1 of " in text.output
    assert "  strategy.params.fast  10  12" in text.output
    assert f"first divergent bar  {first.first.ts}" in text.output
    assert (
        f"bars that differ     {first.bars_differing:,} of {first.bars_compared:,}" in text.output
    )
    as_json = runner.invoke(main, ["runs", "compare", a, b, "--json", *root])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == compare_runs([a, b], settings).to_dict()
    every = runner.invoke(main, ["runs", "compare", a, b, "--all-fields", *root])
    assert "* strategy.params.fast" in every.output and "  symbol " in every.output

    for args, code, status in (
        ([a], "COMPARE_TOO_FEW_RUNS", 2),
        ([a, a[:8]], "COMPARE_DUPLICATE_RUN", 2),
        ([a, "deadbeef"], "RUN_NOT_FOUND", 3),
    ):
        failed = runner.invoke(main, ["runs", "compare", *args, *root])
        assert failed.exit_code == status and f"error[{code}]" in failed.stderr, failed.output
        assert "Traceback" not in failed.output + failed.stderr
    monkeypatch.setenv("QUANTRUN_MAX_COMPARE_RUNS", "2")
    over = runner.invoke(main, ["runs", "compare", a, b, runs["hourly"], "--json", *root])
    assert over.exit_code == 4 and json.loads(over.output)["error"]["code"] == "LIMIT_COMPARE_RUNS"


# -- the API and the page ---------------------------------------------------------------------


def test_api_and_page_share_one_view(settings: Settings, runs: dict[str, str]) -> None:
    a, b = runs["a"], runs["b"]
    core = compare_runs([a, b], settings).to_dict()
    with TestClient(create_app(settings, start_worker=False), base_url=BASE_URL) as client:
        api = client.get(f"/api/v1/compare?runs={a[:8]},{b[:8]}")
        assert api.status_code == 200, api.text
        view = api.json()
        twin = client.get(f"/compare?runs={a[:8]},{b[:8]}&format=json").json()
        assert view == twin
        # The core's comparison, with links, colours and curves added for the page.
        assert view["fields"] == core["fields"]
        assert [(r["path"], r["values"]) for r in view["fields"]["rows"]] == [
            ("strategy.params.fast", [10, 12])
        ]
        differing_bars = sorted(
            ts
            for records in [(_records(settings, a), _records(settings, b))]
            for ts in records[0].keys() | records[1].keys()
            if records[0].get(ts) != records[1].get(ts)
        )
        assert view["divergence"][0]["first"]["ts"] == differing_bars[0]
        assert view["divergence"][0]["bars_differing"] == len(differing_bars)
        assert view["metrics"] == core["metrics"]
        first = view["divergence"][0]["first"]
        assert first["ts"] == core["divergence"][0]["first"]["ts"]
        for record in first["reference"]:
            page = record["row"] // 50 + 1
            assert record["url"] == (
                f"/runs/{a}?decisions_page={page}&decision={record['seq']}#decisions"
            )
            rows = client.get(record["api_url"]).json()["items"]
            assert record["seq"] in [r["seq"] for r in rows]
        assert [c["label"] for c in view["curves"]] == ["A", "B"]
        assert view["curves"][0]["equity"][0] == 1.0
        assert view["selection"]["url"] == f"/compare?runs={a[:8]},{b[:8]}"
        # The repeated-parameter form (the run list's form without JavaScript) is the same.
        repeated = client.get(f"/api/v1/compare?runs={a}&runs={b}").json()
        assert repeated["fields"] == view["fields"]

        page = client.get(f"/compare?runs={a[:8]},{b[:8]}")
        assert page.status_code == 200
        assert 'data-field="strategy.params.fast" data-differs="true"' in page.text
        assert 'id="equity-compare-chart"' in page.text
        listing = client.get("/runs")
        assert 'id="compare-form"' in listing.text and f'value="{a}"' in listing.text

        for url, status, code in (
            (f"/api/v1/compare?runs={a}", 400, "COMPARE_TOO_FEW_RUNS"),
            ("/api/v1/compare", 400, "COMPARE_TOO_FEW_RUNS"),
            (f"/api/v1/compare?runs={a},{a[:8]}", 400, "COMPARE_DUPLICATE_RUN"),
            (f"/api/v1/compare?runs={a},0000000000", 404, "RUN_NOT_FOUND"),
            (f"/api/v1/compare?runs={a},{b}&fields=some", 400, "USAGE_INVALID_OPTION"),
        ):
            failed = client.get(url)
            assert failed.status_code == status, failed.text
            assert failed.json()["code"] == code
        missing = client.get(f"/compare?runs={a}")
        assert missing.status_code == 400 and "COMPARE_TOO_FEW_RUNS" in missing.text
        assert "Traceback" not in missing.text
        differing = client.get(f"/api/v1/compare?runs={a},{runs['hourly']}").json()
        assert differing["divergence"][0]["comparable"] is False
        assert "timeframes" in differing["divergence"][0]["reason"]


def test_runs_without_a_decision_are_identical_in_their_decisions(
    settings: Settings, demo_csv: Path
) -> None:
    """Daily bars too few for a 200-day average: neither run records anything."""
    made = [
        create_run(
            str(demo_csv),
            settings,
            **(SMA | {"timeframe": "1d", "params": {"fast": f, "slow": 200}}),
        ).run_id
        for f in (50, 60)
    ]
    assert all(_records(settings, run_id) == {} for run_id in made)
    comparison = compare_runs(made, settings)
    found = comparison.divergences[0].decisions
    assert found is not None and found.first is None
    assert (found.bars_compared, found.bars_differing, found.trades.shared) == (6, 0, 0)
    assert [f.path for f in comparison.differing_fields] == ["strategy.params.fast"]
    assert all(a.identical for a in comparison.artifacts)
    text = CliRunner().invoke(
        main, ["runs", "compare", *made, "--runs-root", str(settings.runs_root)]
    )
    assert "identical            every decision record of the 6 bars" in text.output

"""Your own strategies (issue 14): a strategy file is checked, added, run, edited and deleted,
and the run still verifies from the code it kept. Through the CLI, the API, the web edge and a
real browser."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from quantrun.api import create_run, list_strategies, open_run, verify_run
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings
from quantrun.strategies.source import StrategySource
from quantrun.strategies.store import StrategyStore
from test_web_api import creation_on, open_client, wait_for_job

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "strategies" / "above_sma.py"

RAISES = """
import numpy as np
import polars as pl
from pydantic import Field

from quantrun.strategies.base import Signals, Strategy, StrategyParams


class P(StrategyParams):
    period: int = Field(5, ge=1, le=100)


class Fragile(Strategy):
    id = "fragile"
    version = "1"
    description = "Raises on long data."
    Params = P

    @classmethod
    def signals(cls, bars: pl.DataFrame, params: P) -> Signals:
        if bars.height > 50:
            raise ValueError("too many bars for me")
        return Signals(np.zeros(bars.height, dtype=np.int8))
"""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    write_demo_csv(tmp_path / "DEMO-1m.csv", days=3)
    shutil.copyfile(EXAMPLE, tmp_path / "above_sma.py")
    return tmp_path


def _cli(*args: str, root: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--runs-root", str(root)])
    return result.exit_code, result.output, result.stderr


def test_check_add_run_edit_delete_and_the_run_still_verifies(work: Path) -> None:
    root = work / "root"
    strategy = work / "above_sma.py"
    code, out, _ = _cli("strategies", "check", str(strategy), root=root)
    assert code == 0, out
    code, out, err = _cli("strategies", "add", str(strategy), root=root)
    assert code == 0, out + err
    assert re.search(r"added above_sma v1 \(AboveSma\), code [0-9a-f]{12}", out)

    code, out, err = _cli(
        "runs", "create", str(work / "DEMO-1m.csv"), "--symbol", "DEMO",
        "--strategy", "above_sma", "--param", "period=20", "--timeframe", "1h", "--json",
        root=root,
    )  # fmt: skip
    assert code == 0, out + err
    run_id = json.loads(out)["run_id"]
    settings = Settings(runs_root=root)
    view = open_run(run_id, settings)
    source = StrategySource.from_path(EXAMPLE)
    assert view.manifest.identity.strategy.source_sha256 == source.sha256
    assert view.manifest.identity.schema_version == 2
    kept = view.strategy_source()
    assert kept is not None and kept["sha256"] == source.sha256

    # Changed code under the same version is refused; a new version is added beside it.
    strategy.write_text(
        strategy.read_text().replace("(order > 0)", "(order >= 0)"), encoding="utf-8"
    )
    code, _, err = _cli("strategies", "add", str(strategy), root=root)
    assert code == 2 and "error[STRATEGY_EXISTS]" in err
    strategy.write_text(
        strategy.read_text().replace('version = "1"', 'version = "2"'), encoding="utf-8"
    )
    code, out, err = _cli("strategies", "add", str(strategy), root=root)
    assert code == 0 and "added above_sma v2" in out, out + err

    # The file is edited, then deleted, then unlisted: the run re-runs the code it kept.
    strategy.unlink()
    assert verify_run(run_id, settings, rerun=True).ok
    code, out, _ = _cli("strategies", "remove", "above_sma", root=root)
    assert code == 0 and "v1, v2" in out
    report = verify_run(run_id, settings, rerun=True)
    assert report.ok and report.rerun_compared == "bytes", report.to_dict()
    code, out, _ = _cli("runs", "verify", run_id, "--rerun", root=root)
    assert code == 0 and "compared byte for byte" in out


def test_list_and_show_say_where_the_code_is(work: Path) -> None:
    root = work / "root"
    assert _cli("strategies", "add", str(work / "above_sma.py"), root=root)[0] == 0
    infos = {info.id: info for info in list_strategies(Settings(runs_root=root))}
    assert infos["above_sma"].kind == "added"
    assert infos["above_sma"].origin == str(work / "above_sma.py")
    assert infos["sma_crossover"].kind == "builtin" and infos["sma_crossover"].source_sha256
    code, out, _ = _cli("strategies", "show", "above_sma", root=root)
    assert code == 0 and "class AboveSma(Strategy)" in out and "param period" in out
    code, out, _ = _cli("strategies", "show", "sma_crossover", "--version", "1", root=root)
    assert code == 0 and "sma_crossover v1 (builtin)" in out


def test_an_id_a_builtin_uses_is_refused(work: Path) -> None:
    clash = work / "clash.py"
    clash.write_text(
        EXAMPLE.read_text().replace('id = "above_sma"', 'id = "sma_crossover"'),
        encoding="utf-8",
    )
    code, _, err = _cli("strategies", "add", str(clash), root=work / "root")
    assert code != 0 and "error[" in err
    assert not (work / "root" / "strategies" / "index.json").exists()


def test_a_strategy_that_raises_fails_the_run_with_its_file_and_line(work: Path) -> None:
    settings = Settings(runs_root=work / "root")
    fragile = work / "fragile.py"
    fragile.write_text(RAISES, encoding="utf-8")
    source = StrategySource.from_path(fragile)
    # Stored directly (the checker's short random walk would not make it raise).
    StrategyStore(settings.layout).add(
        source, [{"id": "fragile", "version": "1", "class_name": "Fragile"}], str(fragile)
    )
    with pytest.raises(QuantrunError) as caught:
        create_run(
            str(work / "DEMO-1m.csv"), settings, symbol="DEMO", strategy="fragile", timeframe="15m"
        )
    assert caught.value.code == ErrorCode.STRATEGY_FAILED
    assert "too many bars for me" in caught.value.detail
    assert "fragile.py:" in caught.value.detail and "quantrun/" not in caught.value.detail
    assert not (settings.runs_root / "runs").exists() or not any(
        (settings.runs_root / "runs").iterdir()
    )


def test_the_web_lists_added_strategies_and_runs_one(work: Path) -> None:
    root = work / "root"
    assert _cli("strategies", "add", str(work / "above_sma.py"), root=root)[0] == 0
    settings = creation_on(Settings(runs_root=root))
    with open_client(settings) as client:
        listed = client.get("/api/v1/strategies").json()["strategies"]
        mine = next(s for s in listed if s["id"] == "above_sma")
        assert mine["kind"] == "added" and "class AboveSma" in mine["source"]["files"][0]["text"]
        page = client.get("/strategies")
        assert page.status_code == 200 and "above_sma" in page.text
        assert "never accepts code" in page.text
        form = client.get("/runs/new").text
        assert 'value="above_sma"' in form
        accepted = client.post(
            "/api/v1/runs",
            files={"file": ("demo.csv", (work / "DEMO-1m.csv").read_bytes(), "text/csv")},
            data={"symbol": "DEMO", "strategy": "above_sma", "timeframe": "1h"},
        )
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(client, accepted.json()["job"]["job_id"])
        assert job["state"] == "succeeded", job
        run_page = client.get(f"/runs/{job['run_id']}")
        assert "Strategy code" in run_page.text and "class AboveSma" in run_page.text


HANGS = RAISES.replace(
    'raise ValueError("too many bars for me")', "while True:\n                pass"
)


def test_a_strategy_that_hangs_is_stopped_by_the_time_limit(work: Path) -> None:
    settings = Settings(runs_root=work / "root", strategy_time_limit_seconds=1.0)
    hangs = work / "hangs.py"
    hangs.write_text(HANGS.replace('"fragile"', '"hangs"'), encoding="utf-8")
    source = StrategySource.from_path(hangs)
    StrategyStore(settings.layout).add(
        source, [{"id": "hangs", "version": "1", "class_name": "Fragile"}], str(hangs)
    )
    with pytest.raises(QuantrunError) as caught:
        create_run(
            str(work / "DEMO-1m.csv"), settings, symbol="DEMO", strategy="hangs", timeframe="15m"
        )
    assert caught.value.code == ErrorCode.STRATEGY_TIMEOUT
    assert caught.value.exit_code == 4


ENTRY_POINT_MODULE = EXAMPLE.read_text().replace('id = "above_sma"', 'id = "packaged_sma"')


def test_an_installed_package_provides_a_strategy_through_its_entry_point(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution on sys.path declaring ``[quantrun.strategies] packaged_sma = ...``."""
    site = work / "site"
    (site / "my_strategies").mkdir(parents=True)
    (site / "my_strategies" / "__init__.py").write_text(ENTRY_POINT_MODULE, encoding="utf-8")
    dist = site / "my_strategies-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-strategies\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[quantrun.strategies]\npackaged_sma = my_strategies:AboveSma\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    settings = Settings(runs_root=work / "root")
    run = create_run(
        str(work / "DEMO-1m.csv"), settings, symbol="DEMO", strategy="packaged_sma", timeframe="1h"
    )
    strategy = run.manifest.identity.strategy
    assert strategy.id == "packaged_sma" and strategy.source_sha256
    kept = open_run(run.run_id, settings).strategy_source()
    assert kept is not None and kept["kind"] == "entry_point"
    assert any("my-strategies==1.0" in f["path"] for f in kept["files"])
    assert verify_run(run.run_id, settings, rerun=True).ok


def test_a_user_file_that_registers_its_class_stays_out_of_the_builtins(work: Path) -> None:
    from quantrun.strategies.registry import versions_of

    decorated = work / "decorated.py"
    text = EXAMPLE.read_text().replace('id = "above_sma"', 'id = "decorated_sma"')
    text = text.replace(
        "class AboveSma(Strategy):",
        "from quantrun.strategies.registry import register\n\n\n"
        "@register\nclass AboveSma(Strategy):",
    )
    decorated.write_text(text, encoding="utf-8")
    settings = Settings(runs_root=work / "root")
    assert _cli("strategies", "add", str(decorated), root=settings.runs_root)[0] == 0
    run = create_run(
        str(work / "DEMO-1m.csv"), settings, symbol="DEMO", strategy="decorated_sma", timeframe="1h"
    )
    assert run.created and versions_of("decorated_sma") == []
    kept = open_run(run.run_id, settings).strategy_source()
    assert kept is not None and kept["kind"] == "file"


def test_a_package_folder_is_a_strategy_source_too(work: Path) -> None:
    """A package: __init__.py imports the class from a submodule; every .py file is its code."""
    package = work / "my_pkg"
    package.mkdir()
    (package / "rules.py").write_text(
        EXAMPLE.read_text().replace('id = "above_sma"', 'id = "pkg_sma"'), encoding="utf-8"
    )
    (package / "__init__.py").write_text("from .rules import AboveSma\n", encoding="utf-8")
    settings = Settings(runs_root=work / "root")
    code, out, err = _cli("strategies", "add", str(package), root=settings.runs_root)
    assert code == 0 and "added pkg_sma v1" in out, out + err
    run = create_run(
        str(work / "DEMO-1m.csv"), settings, symbol="DEMO", strategy="pkg_sma", timeframe="1h"
    )
    kept = open_run(run.run_id, settings).strategy_source()
    assert kept is not None and kept["kind"] == "package"
    assert [f["path"] for f in kept["files"]] == ["__init__.py", "rules.py"]
    shutil.rmtree(package)
    assert verify_run(run.run_id, settings, rerun=True).ok

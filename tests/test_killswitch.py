"""The kill switch holds at the builder: CLI, API and queued jobs alike; corrupt means engaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from quantrun.api import create_run, killswitch_status, list_runs, set_killswitch
from quantrun.cli import main
from quantrun.data.demo import write_demo_csv
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.runs.jobs import FAILED, JobStore, execute_job
from quantrun.runs.request import RunCreateRequest
from quantrun.settings import Settings


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("ks") / "demo.csv", days=2)


def _create(csv: Path, settings: Settings) -> str:
    return create_run(
        str(csv), symbol="D", strategy="sma_crossover", timeframe="5m", settings=settings
    ).run_id


def test_engaged_switch_blocks_creation_and_writes_no_run(csv: Path, settings: Settings) -> None:
    set_killswitch(True, "maintenance", settings, actor="tester")
    with pytest.raises(QuantrunError) as caught:
        _create(csv, settings)
    assert caught.value.code == ErrorCode.KILL_SWITCH_ENGAGED
    assert caught.value.exit_code == 4 and caught.value.http_status == 503
    assert "maintenance" in caught.value.detail
    assert list_runs(settings) == []
    assert not (settings.runs_root / "runs").exists()
    set_killswitch(False, "done", settings, actor="tester")
    assert len(_create(csv, settings)) == 64


def test_switch_thrown_mid_run_stops_publication(csv: Path, settings: Settings) -> None:
    def throw_switch(stage: str) -> None:
        if stage == "write":
            set_killswitch(True, "thrown while writing", settings, actor="tester")

    with pytest.raises(QuantrunError) as caught:
        create_run(
            str(csv),
            symbol="D",
            strategy="sma_crossover",
            timeframe="5m",
            settings=settings,
            progress=throw_switch,
        )
    assert caught.value.code == ErrorCode.KILL_SWITCH_ENGAGED
    assert list_runs(settings) == []
    assert not (settings.runs_root / "runs").exists()


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"engaged": "no"}', b"\xff\xfe"])
def test_an_unreadable_state_counts_as_engaged(
    csv: Path, settings: Settings, content: bytes
) -> None:
    control = settings.runs_root / "control"
    control.mkdir(parents=True)
    (control / "killswitch.json").write_bytes(content)
    with pytest.raises(QuantrunError) as caught:
        _create(csv, settings)
    assert caught.value.code == ErrorCode.KILL_SWITCH_ENGAGED
    state = killswitch_status(settings).state
    assert state.engaged is True and state.readable is False


def test_queued_job_fails_with_the_code_and_can_be_retried(csv: Path, settings: Settings) -> None:
    store = JobStore(settings)
    request = RunCreateRequest(
        paths=[str(csv)], symbol="D", strategy="buy_and_hold", timeframe="5m"
    )
    job, _ = store.submit(request, upload_sha256=None)
    set_killswitch(True, "stop jobs", settings, actor="tester")
    done = execute_job(settings, job["job_id"])
    assert done["state"] == FAILED and done["error"]["code"] == "KILL_SWITCH_ENGAGED"
    set_killswitch(False, "resume", settings, actor="tester")
    store.retry(job["job_id"])
    assert execute_job(settings, job["job_id"])["state"] == "succeeded"


def test_cli_switch_and_audit_history(csv: Path, runs_root: Path) -> None:
    runner = CliRunner()
    root = ["--runs-root", str(runs_root)]
    assert runner.invoke(main, ["killswitch", "on", "--reason", "bad feed", *root]).exit_code == 0
    blocked = runner.invoke(
        main,
        ["runs", "create", str(csv), "--symbol", "D", "--strategy", "buy_and_hold", *root],
    )
    assert blocked.exit_code == 4 and "error[KILL_SWITCH_ENGAGED]" in blocked.stderr
    no_reason = runner.invoke(main, ["killswitch", "off", *root])
    assert no_reason.exit_code == 2
    assert runner.invoke(main, ["killswitch", "off", "--reason", "fixed", *root]).exit_code == 0
    status = json.loads(runner.invoke(main, ["killswitch", "status", "--json", *root]).output)
    assert status["state"]["engaged"] is False
    assert [(e["action"], e["reason"]) for e in status["history"]] == [
        ("on", "bad feed"),
        ("off", "fixed"),
    ]
    assert all(e["actor"] and e["at"].endswith("Z") for e in status["history"])

"""The daemon (quantrun.handover, quantrun.launch, `quantrun daemon`, D55): real processes. A
daemon is started with `quantrun daemon start` in a private folder of its own; the console
script hands commands to it, and what a handed-over command does (stdout, stderr, exit status,
every byte of the run) is what the same command does in its own process (QUANTRUN_DAEMON=off)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantrun import handover
from quantrun.data.demo import write_demo_csv
from quantrun.launch import hands_over

QUANTRUN = Path(sys.executable).with_name("quantrun")


def _cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(QUANTRUN), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _status(env: dict[str, str]) -> dict[str, Any]:
    done = _cli(env, "daemon", "status", "--json")
    assert done.returncode == 0, done.stderr
    current = [d for d in json.loads(done.stdout)["daemons"] if d["current"]]
    assert len(current) == 1, done.stdout
    answer = current[0]["daemon"]
    assert isinstance(answer, dict)
    return answer


def _commands(env: dict[str, str]) -> int:
    return int(_status(env)["commands"])


@pytest.fixture(scope="module")
def daemon() -> Iterator[dict[str, str]]:
    """The environment of clients of a daemon running in a private folder of its own (a short
    path: a socket's path must stay under 108 bytes); stopped, and killed if need be, after."""
    base = Path(tempfile.mkdtemp(prefix="qd"))
    env = dict(os.environ, QUANTRUN_DAEMON="on", QUANTRUN_DAEMON_DIR=str(base / "s"))
    started = _cli(env, "daemon", "start", "--idle-minutes", "10", "--json")
    assert started.returncode == 0, started.stderr
    answer = json.loads(started.stdout)
    assert answer["already_running"] is False
    pid = int(answer["daemon"]["pid"])
    try:
        yield env
    finally:
        _cli(env, "daemon", "stop", timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_csv(tmp_path_factory.mktemp("daemon-data") / "demo.csv", days=20)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "runs").rglob("*"))
        if p.is_file()
    }


def test_a_handed_over_run_is_the_run_made_in_its_own_process(
    daemon: dict[str, str], demo_csv: Path, tmp_path: Path
) -> None:
    create = ["runs", "create", str(demo_csv), "--symbol", "DEMOUSD", "--strategy"]
    create += ["rsi_reversion", "--timeframe", "1h", "--json"]
    here_env = dict(daemon, QUANTRUN_DAEMON="off")
    before = _commands(daemon)
    there = _cli(daemon, *create, "--runs-root", str(tmp_path / "there"))
    assert _commands(daemon) == before + 1  # the daemon started it
    here = _cli(here_env, *create, "--runs-root", str(tmp_path / "here"))
    assert _commands(daemon) == before + 1  # and not this one
    assert (there.returncode, there.stderr) == (here.returncode, here.stderr) == (0, "")
    there_out, here_out = json.loads(there.stdout), json.loads(here.stdout)
    assert there_out.pop("path") != here_out.pop("path")  # only the RUNS_ROOT differs
    assert there_out == here_out
    assert _files(tmp_path / "there") == _files(tmp_path / "here")  # byte for byte
    verify = _cli(
        daemon,
        "runs",
        "verify",
        there_out["run_id"],
        "--rerun",
        "--runs-root",
        str(tmp_path / "there"),
    )
    assert verify.returncode == 0, verify.stderr
    assert "byte for byte" in verify.stdout


def test_a_failure_keeps_its_code_message_and_status(
    daemon: dict[str, str], tmp_path: Path
) -> None:
    missing = ["runs", "create", str(tmp_path / "nope.csv"), "--symbol", "X"]
    missing += ["--strategy", "sma_crossover", "--runs-root", str(tmp_path)]
    before = _commands(daemon)
    there = _cli(daemon, *missing)
    here = _cli(dict(daemon, QUANTRUN_DAEMON="off"), *missing)
    assert _commands(daemon) == before + 1
    assert there.returncode == here.returncode == 3
    assert there.stderr == here.stderr
    assert there.stderr.startswith("error[INPUT_NOT_FOUND]")
    usage = _cli(daemon, "runs", "create", "--no-such-flag")
    assert usage.returncode == 2
    assert usage.stderr.startswith("error[USAGE_INVALID_OPTION]")


def test_the_working_directory_and_the_terminal_streams_are_the_clients(
    daemon: dict[str, str], demo_csv: Path, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    shutil.copy(demo_csv, tmp_path / "data" / "bars.csv")
    inspect = [str(QUANTRUN), "data", "inspect", "data/bars.csv", "--json"]
    before = _commands(daemon)
    outputs = []
    for env in (daemon, dict(daemon, QUANTRUN_DAEMON="off")):
        with (tmp_path / "out.json").open("w+b") as out:  # a file, not a pipe, as standard output
            done = subprocess.run(
                inspect, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.PIPE, timeout=120
            )
            assert done.returncode == 0, done.stderr
            out.seek(0)
            outputs.append(out.read())
    assert _commands(daemon) == before + 1
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["checks"]


def test_other_import_time_settings_are_not_handed_over(
    daemon: dict[str, str], tmp_path: Path
) -> None:
    before = _commands(daemon)
    other = dict(daemon, PYTHONQUANTRUNTESTONLY="1")  # a PYTHON* variable: another fingerprint
    done = _cli(other, "runs", "list", "--runs-root", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    assert _commands(daemon) == before
    off = _cli(dict(daemon, QUANTRUN_DAEMON="off"), "runs", "list", "--runs-root", str(tmp_path))
    assert off.returncode == 0
    assert _commands(daemon) == before


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _long_run(
    env: dict[str, str], tmp_path: Path, root: Path, *extra: str
) -> subprocess.Popen[str]:
    """A client of ``env``'s daemon running a `runs create` that takes a while (a year of 1m
    bars into ``root``), its output piped."""
    csv = write_demo_csv(tmp_path / "long.csv", days=365)
    return subprocess.Popen(
        [
            *(str(QUANTRUN), "runs", "create", str(csv), "--symbol", "DEMOUSD"),
            *("--strategy", "sma_crossover", "--timeframe", "1m", "--runs-root", str(root)),
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_a_client_killed_or_interrupted_ends_its_command(
    daemon: dict[str, str], tmp_path: Path, signum: int
) -> None:
    """SIGKILL on the client: its command dies with it (nothing partial after recovery);
    SIGINT: forwarded, the command ends with "aborted" and status 1, as Ctrl-C ends it in its
    own process."""
    pid = int(_status(daemon)["pid"])
    assert _children(pid) == []
    root = tmp_path / "root"
    client = _long_run(daemon, tmp_path, root)
    try:
        assert _wait_for(lambda: _children(pid), 60), "the daemon started no child"
        time.sleep(0.3)
        client.send_signal(signum)
        _, err = client.communicate(timeout=120)
    finally:
        client.kill()
    assert _wait_for(lambda: not _children(pid), 30), "the command outlived its client"
    if signum == signal.SIGINT:
        assert client.returncode == 1, err
        assert "aborted" in err and "Traceback" not in err
    listed = _cli(dict(daemon, QUANTRUN_DAEMON="off"), "runs", "list", "--runs-root", str(root))
    assert listed.returncode == 0
    staging = root / "staging"
    assert not staging.exists() or not any(staging.iterdir())
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_ctrl_z_stops_the_command_and_fg_continues_it(
    daemon: dict[str, str], tmp_path: Path
) -> None:
    """Job control as for a command in its own process: SIGTSTP on the client (Ctrl-Z) stops
    the daemon's child running the command and then the client; SIGCONT on the client (`fg`)
    continues both, and the command ends as it would have."""
    pid = int(_status(daemon)["pid"])
    root = tmp_path / "root"
    client = _long_run(daemon, tmp_path, root, "--json")
    try:
        assert _wait_for(lambda: _children(pid), 60), "the daemon started no child"
        (child,) = _children(pid)
        time.sleep(0.2)
        client.send_signal(signal.SIGTSTP)
        assert _wait_for(lambda: _state(child) == "T" and _state(client.pid) == "T", 10), (
            _state(child),
            _state(client.pid),
        )
        ticks = _cpu_ticks(child)
        time.sleep(0.5)
        assert _cpu_ticks(child) == ticks and _state(child) == "T"  # stopped, not working
        client.send_signal(signal.SIGCONT)
        out, err = client.communicate(timeout=180)
    finally:
        client.kill()
    assert client.returncode == 0, err
    run_id = json.loads(out)["run_id"]
    assert (root / "runs" / run_id / "manifest.json").is_file()
    assert _wait_for(lambda: not _children(pid), 30)


def test_stop_status_and_idle_end(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="qd"))
    env = dict(os.environ, QUANTRUN_DAEMON="on", QUANTRUN_DAEMON_DIR=str(base / "s"))
    try:
        assert json.loads(_cli(env, "daemon", "status", "--json").stdout)["daemons"] == []
        assert _cli(env, "daemon", "status").stdout.strip() == "no daemon running"
        first = json.loads(_cli(env, "daemon", "start", "--json").stdout)
        again = json.loads(_cli(env, "daemon", "start", "--json").stdout)
        assert again["already_running"] is True
        assert again["daemon"]["pid"] == first["daemon"]["pid"]
        assert "this installation's code" in _cli(env, "daemon", "status").stdout
        stopped = _cli(env, "daemon", "stop")
        assert stopped.stdout.strip() == "stopped 1 daemon(s)"
        assert not list((base / "s").glob("*.sock"))
        # A daemon waiting idle for 1.2 s ends by itself and removes its socket.
        idle = json.loads(_cli(env, "daemon", "start", "--idle-minutes", "0.02", "--json").stdout)
        pid = int(idle["daemon"]["pid"])
        assert _wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 30)
        assert not list((base / "s").glob("*.sock"))
        listed = _cli(env, "runs", "list", "--runs-root", str(tmp_path))
        assert listed.returncode == 0  # no daemon: the command runs in its own process
    finally:
        _cli(env, "daemon", "stop", timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_folder_others_can_open_is_never_used(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir(mode=0o700)
    assert handover.private_dir(folder, create=False)
    folder.chmod(0o755)
    assert not handover.private_dir(folder, create=False)
    env = {"QUANTRUN_DAEMON_DIR": str(folder)}
    assert handover.hand_over(["quantrun", "runs", "list"], env) is None
    assert handover.listed(env) == []
    started = _cli(dict(os.environ, QUANTRUN_DAEMON_DIR=str(folder)), "daemon", "start")
    assert started.returncode == 1
    assert started.stderr.startswith("error[DAEMON_START_FAILED]")


def test_which_commands_are_handed_over() -> None:
    assert hands_over(["runs", "create", "x.csv"])
    assert hands_over(["--json", "runs", "list"])
    assert hands_over([])
    assert not hands_over(["serve", "--port", "0"])
    assert not hands_over(["demo", "--serve"])
    assert not hands_over(["daemon", "start"])
    assert not handover.enabled({"QUANTRUN_DAEMON": "off"})
    assert handover.enabled({})


def test_the_fingerprint_follows_the_code_and_the_import_time_environment() -> None:
    base = handover.fingerprint({})
    assert handover.fingerprint({"HOME": "/elsewhere"}) == base  # read at run time: passed on
    assert handover.fingerprint({"NUMBA_OPT": "0"}) != base
    assert handover.fingerprint({"POLARS_MAX_THREADS": "1"}) != base
    assert len(base) == 16


def test_a_daemon_whose_code_changed_while_it_loaded_never_serves(tmp_path: Path) -> None:
    """`daemon start` passes the fingerprint it looked for; a daemon that finds another one
    after its imports (quantrun's files changed meanwhile) ends at once, with the stable code,
    and leaves no socket: clients of the new code never get the old."""
    base = Path(tempfile.mkdtemp(prefix="qd"))
    env = dict(os.environ, QUANTRUN_DAEMON="on", QUANTRUN_DAEMON_DIR=str(base / "s"))
    try:
        began = time.monotonic()
        ran = _cli(env, "daemon", "run", "--idle-minutes", "0.5", "--expect-fingerprint", "0" * 16)
        assert ran.returncode == 1, ran.stderr
        assert ran.stderr.startswith("error[DAEMON_START_FAILED]: quantrun's files changed")
        assert "Traceback" not in ran.stderr
        assert time.monotonic() - began < 25  # ended at once, not after its idle time
        assert not list((base / "s").glob("*.sock"))
        # The fingerprint the client computes is the one a started daemon serves under.
        assert handover.fingerprint(env) == handover.same_code_since(handover.fingerprint(env), env)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_failed_start_repeats_this_starts_error_from_the_log(tmp_path: Path) -> None:
    log = tmp_path / "d.log"
    log.write_text("error[DAEMON_START_FAILED]: an earlier start\n")
    since = log.stat().st_size
    assert handover._last_error(log, since) == ""  # nothing written by this start
    with log.open("a") as stream:
        stream.write("Traceback (most recent call last):\nerror[INTERNAL]: this start\n")
    assert handover._last_error(log, since) == ": error[INTERNAL]: this start"
    assert handover._last_error(tmp_path / "missing.log", 0) == ""

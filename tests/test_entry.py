"""The console script's fast exit (quantrun.cli.entry, D49): real processes, stdout a file or a
pipe; what is kept (the output, the exit status, the atexit handlers, no staging left) and when
it falls back to the interpreter's normal exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from quantrun.data.demo import write_demo_csv

QUANTRUN = Path(sys.executable).with_name("quantrun")

#: A process running quantrun.cli.entry.run(argv) that reports, through a pipe fd both write to
#: with os.write (which module teardown cannot take away), whether the atexit handlers ran and
#: whether the interpreter tore the module down (a global's __del__ runs then, not under
#: os._exit). argv[1]: what to set up first (none, thread, normal), argv[2:]: the command.
PROBE = """
import atexit, os, sys, threading, time
import quantrun.cli.entry as entry

fd = int(os.environ["PROBE_FD"])
atexit.register(os.write, fd, b"atexit;")


class Teardown:
    def __del__(self, write=os.write, fd=fd):
        write(fd, b"teardown;")


marker = Teardown()
setup, sys.argv = sys.argv[1], ["quantrun", *sys.argv[2:]]
if setup == "thread":  # a non-daemon thread still running when the command returns
    threading.Thread(target=time.sleep, args=(1.0,)).start()
elif setup == "normal":
    entry.exit_normally()
entry.run()
"""


def _probe(setup: str, *argv: str) -> tuple[int, str, list[str]]:
    import os

    read, write = os.pipe()
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, setup, *argv],
            capture_output=True,
            text=True,
            env=dict(os.environ, PROBE_FD=str(write)),
            pass_fds=(write,),
            timeout=120,
        )
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as events:
        seen = events.read().decode().split(";")
    return done.returncode, done.stdout, [e for e in seen if e]


def test_a_finished_command_ends_without_teardown_after_its_atexit_handlers() -> None:
    code, out, events = _probe("none", "--version")
    assert code == 0 and "quantrun" in out
    assert events == ["atexit"]


def test_the_exit_status_of_a_failure_is_kept() -> None:
    code, out, events = _probe("none", "runs", "show", "nope", "--json")
    assert code == 3
    assert json.loads(out)["error"]["code"] == "RUN_NOT_FOUND"
    assert events == ["atexit"]


@pytest.mark.parametrize("setup", ["thread", "normal"])
def test_a_running_thread_or_a_server_gets_the_normal_exit(setup: str) -> None:
    code, out, events = _probe(setup, "--version")
    assert code == 0 and "quantrun" in out
    assert events == ["atexit", "teardown"]


def test_runs_create_output_redirected_to_a_file_is_complete(tmp_path: Path) -> None:
    """The console script itself, stdout a file (block-buffered): the whole JSON arrives, the
    run is published, nothing is left in staging, and the exit status is 0."""
    csv = write_demo_csv(tmp_path / "demo.csv")
    root, out = tmp_path / "root", tmp_path / "out.json"
    argv = [str(QUANTRUN), "runs", "create", str(csv), "--symbol", "DEMO"]
    argv += ["--strategy", "sma_crossover", "--runs-root", str(root), "--json"]
    with out.open("wb") as stdout:
        done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert (root / "runs" / result["run_id"] / "manifest.json").is_file()
    assert not list((root / "staging").glob("*"))
    assert json.loads((root / "index.json").read_text())

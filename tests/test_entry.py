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


# -- the allocator (quantrun.allocator, D53) -----------------------------------------------------

#: A child allocating and freeing a 40 MB array ten times: prints the minor page faults the
#: loop took. argv[1] "keep" calls keep_freed_memory() first (and prints what it returned).
FAULTS = """
import resource, sys
import numpy as np
from quantrun.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    print(keep_freed_memory())
base = np.arange(5_000_000, dtype=np.int64)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    total = int((base + 1).sum())
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_blocks_are_reused_instead_of_faulted_in_again() -> None:
    """Without the setting every new 40 MB array is mapped and faulted in anew (numpy asks for
    huge pages, so a few hundred faults each here); with it the second and later arrays reuse
    the first one's pages: the ten arrays fault about as much as one."""
    default = int(_faults("default")[0])
    applied, kept = _faults("keep")
    assert applied == "True"
    assert int(kept) * 5 < default


def test_only_commands_that_do_not_serve_change_the_allocator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import quantrun.cli.entry as entry

    calls: list[bool] = []

    def keep() -> bool:
        calls.append(True)
        return True

    monkeypatch.setattr(entry, "keep_freed_memory", keep)
    monkeypatch.setattr(entry, "main", lambda args: None)
    monkeypatch.setattr(entry, "finish", lambda status: (_ for _ in ()).throw(SystemExit(status)))
    for argv, expected in (
        (["quantrun", "runs", "create", "x.csv"], [True]),
        (["quantrun", "serve", "--port", "0"], []),
        (["quantrun", "demo", "--serve"], []),
        (["quantrun", "daemon", "run"], []),  # long-lived: the default allocator
    ):
        calls.clear()
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit):
            entry.run()
        assert calls == expected, argv

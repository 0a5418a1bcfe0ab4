"""A live ``quantrun serve`` for what needs a real HTTP server: the browser journeys and the
safety tests in ``tests/`` (which import it through pytest's ``pythonpath``) and the load
benchmark (``load.py``).

    with LiveServer(runs_root, enable_run_creation=True) as server:
        page.goto(server.url + "/runs")
        server.restart()                 # stop + start on the same RUNS_ROOT and port

    with running_server(runs_root) as base_url:
        urllib.request.urlopen(base_url + "/api/v1/health/live")

The server runs in its own session (so its job workers can be killed with it), with an
environment free of ``QUANTRUN_*`` so the developer's settings never leak in. It is always
stopped: SIGTERM, a bounded wait, then SIGKILL of the whole process group; an ``atexit`` hook
(and, if nobody else handles it, a SIGTERM handler) does the same for servers still alive when
the interpreter exits or pytest is terminated.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_SECONDS = 0.1
# uvicorn shuts down cleanly on SIGTERM, then re-raises it: -15 from Popen, 143 from a shell.
CLEAN_EXIT_CODES = frozenset({0, -signal.SIGTERM, 128 + signal.SIGTERM})

_alive: dict[int, subprocess.Popen[bytes]] = {}


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server's process group (the server and any job worker it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT)


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_alive.values()):
        if process.poll() is None:
            _kill_group(process)
    _alive.clear()


def _on_sigterm(signum: int, frame: object) -> None:
    """pytest terminated: kill our servers, then die of SIGTERM as we would have anyway."""
    _kill_leftovers()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _cleanup_on_sigterm() -> None:
    # atexit does not run when Python dies of SIGTERM; only take over the default action.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class ServerFailed(RuntimeError):
    """The server did not become ready, or did not stop cleanly."""


class LiveServer:
    """One ``quantrun serve`` subprocess on 127.0.0.1; restartable on the same root and port."""

    def __init__(
        self,
        runs_root: Path,
        *,
        enable_run_creation: bool = False,
        port: int | None = None,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: extra variables for the server (e.g. ``QUANTRUN_RATE_LIMIT_PER_MINUTE``),
        set after the developer's ``QUANTRUN_*`` ones are removed."""
        self.runs_root = runs_root
        self.enable_run_creation = enable_run_creation
        self.env = dict(env or {})
        self.port = port or free_port()
        self.log_path = log_path or runs_root.parent / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "quantrun", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--runs-root", str(self.runs_root)]
        if self.enable_run_creation:
            command.append("--enable-run-creation")
        return command

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self, timeout: float = START_TIMEOUT) -> str:
        if self.process is not None:
            raise ServerFailed("the server is already running")
        _cleanup_on_sigterm()
        self.runs_root.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=_server_env(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _alive[self.process.pid] = self.process
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(check=False)
            raise
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ServerFailed(f"server exited with {code}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health/ready", timeout=2) as r:
                    body = json.loads(r.read())
                # Ready includes "a worker runs when creation is on" (checks.worker).
                if body.get("status") == "ready" and body.get("ready") is True:
                    return
                last = repr(body)
            except (OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(POLL_SECONDS)
        raise ServerFailed(f"server not ready after {timeout}s ({last}):\n{self.log_tail()}")

    def stop(self, *, check: bool = True) -> int | None:
        """SIGTERM, wait, then SIGKILL the group. Returns the exit status (None if not running).

        With ``check``, anything but a clean SIGTERM shutdown raises :class:`ServerFailed`.
        """
        process, self.process = self.process, None
        if process is None:
            return None
        try:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    _kill_group(process)
                    if check:
                        raise ServerFailed(
                            f"server ignored SIGTERM for {STOP_TIMEOUT}s:\n{self.log_tail()}"
                        ) from None
            # Job workers live in the server's group: none may outlive it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        finally:
            _alive.pop(process.pid, None)
        code = process.returncode
        self.exit_codes.append(code)
        if check and code not in CLEAN_EXIT_CODES:
            raise ServerFailed(f"server exited with {code}:\n{self.log_tail()}")
        return code

    def restart(self) -> str:
        self.stop()
        return self.start()

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Never mask the test's own failure with a shutdown complaint.
        self.stop(check=exc_type is None)


@contextlib.contextmanager
def running_server(
    runs_root: Path, *, enable_run_creation: bool = False, port: int | None = None
) -> Iterator[str]:
    """Start a server on ``runs_root``, yield its base URL, always stop it."""
    with LiveServer(runs_root, enable_run_creation=enable_run_creation, port=port) as server:
        yield server.url

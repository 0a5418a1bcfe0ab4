"""Handing a command to the resident daemon (``quantrun daemon``, D55): its address, the code
fingerprint, the wire protocol, the client and the serving loop. Standard library only, so
the console script can try a hand-over before it imports anything heavy.

A daemon is a process that has imported quantrun, polars, numpy and numba and loaded the
compiled kernel once. The console script (:mod:`quantrun.launch`) connects to its socket and
sends the command line, the working directory, the environment and its own standard input,
output and error (the descriptors themselves, ``SCM_RIGHTS``); the daemon forks, and the child
runs the command exactly as a fresh ``quantrun`` process would (same code, the client's
environment, files and terminal), then reports its exit status. So a command costs the
client's start (~0.04 s) instead of the imports (~0.35 s) and numba's (~0.15-0.3 s).

What keeps a hand-over honest:

- **Same code.** A daemon answers only on the socket named by :func:`fingerprint`: a hash of
  quantrun's version, every ``.py``/``.so`` file of the package (path, size, mtime), the
  interpreter, ``sys.path`` and the modification time of each of its folders (a package
  installed or removed changes it), and the environment variables read at import time
  (:data:`IMPORT_ENV_PREFIXES`). Change any and the client finds no daemon and runs the
  command itself; the old daemon ends after its idle time.
- **Same process semantics.** The child gets the client's descriptors as 0, 1 and 2, its
  working directory, environment (``os.environ`` replaced, ``TZ`` re-read) and ``argv``;
  signal dispositions are reset. The client forwards SIGINT, SIGTERM and SIGHUP to the child;
  if the client disappears (killed), the child kills itself with SIGKILL, as the client was:
  a run is then recovered as after any crash.
- **Only its owner.** The socket folder is created ``0700`` and must be owned by the user;
  the daemon refuses a peer of another uid (``SO_PEERCRED``).

``QUANTRUN_DAEMON=off`` turns hand-overs off; ``QUANTRUN_DAEMON_DIR`` moves the socket folder
(default ``$XDG_RUNTIME_DIR/quantrun``, else ``/tmp/quantrun-<uid>``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from quantrun.version import __version__

#: Environment variables that turn hand-overs off, and move the socket folder.
SWITCH_ENV = "QUANTRUN_DAEMON"
DIR_ENV = "QUANTRUN_DAEMON_DIR"
#: Variables read while the daemon imports its libraries (the interpreter's, numba's, polars',
#: the BLAS threads', the C library's and the locale): a daemon serves only a client whose
#: values equal its own.
IMPORT_ENV_PREFIXES = (
    "PYTHON",
    "NUMBA_",
    "POLARS_",
    "OPENBLAS_",
    "OMP_",
    "MKL_",
    "LD_",
    "MALLOC_",
    "GLIBC_TUNABLES",
    "LANG",
    "LC_",
)
#: The signals the client passes on to the child running its command.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Default idle time after which a daemon ends.
IDLE_SECONDS = 3600.0
_HEADER = struct.Struct("!I")
_MAX_MESSAGE = 1 << 24


def enabled(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether hand-overs are on (``QUANTRUN_DAEMON`` is not ``off``/``0``/``no``)."""
    return environ.get(SWITCH_ENV, "").strip().lower() not in ("off", "0", "no", "false")


def socket_dir(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """The folder of the user's daemon sockets (not created here)."""
    if environ.get(DIR_ENV):
        return Path(environ[DIR_ENV])
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "quantrun"
    return Path("/tmp") / f"quantrun-{os.getuid()}"


def _package_files(root: Path) -> Iterator[tuple[str, int, int]]:
    for folder, dirs, files in os.walk(root):  # Path.walk is Python 3.12
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".so")):
                path = Path(folder) / name
                info = path.stat()
                yield str(path.relative_to(root)), info.st_size, info.st_mtime_ns


def fingerprint(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The hash a daemon and its clients must share (see the module docstring); 16 hex
    digits. About a millisecond: a ``stat`` per package file and ``sys.path`` folder."""
    package = Path(__file__).resolve().parent
    folders = []
    for entry in sys.path[1:]:  # [0] is the script's folder or the working directory
        try:
            folders.append((entry, Path(entry or ".").stat().st_mtime_ns))
        except OSError:
            folders.append((entry, -1))
    state = {
        "version": __version__,
        "executable": sys.executable,
        "python": sys.version,
        "path": folders,
        "package": str(package),
        "files": list(_package_files(package)),
        "env": sorted(
            (key, value) for key, value in environ.items() if key.startswith(IMPORT_ENV_PREFIXES)
        ),
        "flags": [repr(sys.flags), sorted(map(str, sys._xoptions.items()))],
        "uid": os.getuid(),
    }
    raw = json.dumps(state, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def socket_path(print_: str, environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """The socket a daemon of fingerprint ``print_`` listens on."""
    return socket_dir(environ) / f"d-{print_}.sock"


def private_dir(folder: Path, create: bool) -> bool:
    """Whether ``folder`` is a directory owned by this user that only they can open (made so
    when ``create``); a folder someone else could write into is never used."""
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return False
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    )


# -- the wire: a 4-byte length, then a JSON object ------------------------------------------


def send_message(
    conn: socket.socket, message: dict[str, Any], fds: list[int] | None = None
) -> None:
    body = json.dumps(message).encode()
    frame = _HEADER.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(conn, [frame], fds)
        conn.sendall(frame[sent:])
    else:
        conn.sendall(frame)


def _recv_exactly(conn: socket.socket, count: int, into: bytearray) -> bool:
    while len(into) < count:
        chunk = conn.recv(count - len(into))
        if not chunk:
            return False
        into += chunk
    return True


def recv_message(conn: socket.socket, with_fds: bool = False) -> tuple[dict[str, Any], list[int]]:
    """One message and the descriptors that came with it; ``({}, [])`` when the peer closed
    the connection first. A malformed message raises ValueError."""
    buffer = bytearray()
    fds: list[int] = []
    if with_fds:
        data, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, 8)
        if not data:
            return {}, fds
        buffer += data
    if not _recv_exactly(conn, _HEADER.size, buffer):
        return {}, fds
    (length,) = _HEADER.unpack(bytes(buffer[: _HEADER.size]))
    if length > _MAX_MESSAGE:
        raise ValueError("message too long")
    body = bytearray(buffer[_HEADER.size :])
    if not _recv_exactly(conn, length, body):
        return {}, fds
    message = json.loads(bytes(body))
    if not isinstance(message, dict):
        raise ValueError("not an object")
    return message, fds


def connect(path: Path, timeout: float | None = None) -> socket.socket | None:
    """A connection to the daemon at ``path``; None when none answers there."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


def ask(path: Path, op: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """Send ``op`` (``ping``, ``stop``) to the daemon at ``path``; its answer, or None."""
    conn = connect(path, timeout)
    if conn is None:
        return None
    try:
        with conn:
            send_message(conn, {"op": op})
            answer, _ = recv_message(conn)
    except (OSError, ValueError):
        return None
    return answer or None


# -- the client ----------------------------------------------------------------------------


#: The exit status a client reports when the daemon's child ended without one (a crash).
LOST_STATUS = 1


def hand_over(
    argv: list[str], environ: dict[str, str] | os._Environ[str] = os.environ
) -> int | None:
    """Run ``argv`` (``sys.argv``: the program, then the command) in this user's daemon for
    this code; its exit status, or None when no daemon took it (the caller runs it)."""
    folder = socket_dir(environ)
    if not enabled(environ) or not private_dir(folder, create=False):
        return None
    path = socket_path(fingerprint(environ), environ)
    conn = connect(path)
    if conn is None:
        return None
    pending: list[int] = []
    child: list[int] = []
    ended: dict[str, Any] = {}
    previous = _forward_signals(child, pending)  # from here on a signal is not lost
    try:
        with conn:
            try:
                request = {
                    "op": "run",
                    "argv": argv,
                    "cwd": str(Path.cwd()),
                    "env": dict(environ),
                    "path0": sys.path[0] if sys.path else "",
                }
                send_message(conn, request, fds=[0, 1, 2])
                started, _ = recv_message(conn)
            except (OSError, ValueError):
                started = {}
            if "pid" in started:
                child.append(int(started["pid"]))
                for signum in pending:
                    _kill(child[0], signum)
                try:
                    ended, _ = recv_message(conn)
                except (OSError, ValueError):
                    ended = {}
    finally:
        _restore(previous)
    if not child:  # nothing ran: the caller runs it, and gets the signals that came meanwhile
        for signum in pending:
            signal.raise_signal(signum)
        return None
    if "status" in ended:
        return int(ended["status"])
    sys.stderr.write(
        "error[INTERNAL]: the daemon's process for this command ended without an exit status\n"
        "  hint: Run it again with QUANTRUN_DAEMON=off; `quantrun daemon stop` ends the "
        "daemon.\n"
    )
    return LOST_STATUS


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signum)


def _forward_signals(child: list[int], pending: list[int]) -> dict[int, Any]:
    """Pass :data:`FORWARDED` signals on to the child once its pid is in ``child``; until
    then keep them in ``pending``. Job control as for a command in its own process: Ctrl-Z
    (SIGTSTP) stops the child and then this client (the shell sees its job stopped); when the
    client is continued (``fg``, ``bg``, SIGCONT) so is the child. The handlers they replace."""

    def forward(signum: int, _frame: object) -> None:
        if child:
            _kill(child[0], signum)
        else:
            pending.append(signum)

    def suspend(_signum: int, _frame: object) -> None:
        if child:
            _kill(child[0], signal.SIGSTOP)
        # SIGSTOP, not SIGTSTP's default action: the kernel drops that one in an orphaned
        # process group, which would leave the child stopped and this client running. The
        # SIGCONT that continues this client continues the child too (``resume``).
        os.kill(os.getpid(), signal.SIGSTOP)

    def resume(_signum: int, _frame: object) -> None:
        if child:
            _kill(child[0], signal.SIGCONT)

    handlers: dict[int, Any] = {signum: forward for signum in FORWARDED}
    handlers |= {signal.SIGTSTP: suspend, signal.SIGCONT: resume}
    return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


# -- the daemon ----------------------------------------------------------------------------


@dataclass
class Served:
    """What a daemon says of itself (``ping``): who it is, for which code, since when, how
    long it waits idle, and how many commands it has started."""

    pid: int
    fingerprint: str
    started: float
    idle_seconds: float
    commands: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "fingerprint": self.fingerprint,
            "started": self.started,
            "idle_seconds": self.idle_seconds,
            "commands": self.commands,
        }


def serve(
    path: Path,
    print_: str,
    command: Callable[[list[str]], int],
    idle_seconds: float = IDLE_SECONDS,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Listen on ``path`` until ``stop`` or ``idle_seconds`` without a connection; each
    ``run`` is forked and its child calls ``command(argv[1:])`` (a status: see
    :func:`_child`). ``print_`` is the fingerprint the socket is named for."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = -1
    try:
        path.unlink(missing_ok=True)
        listener.bind(str(path))
        bound = path.stat().st_ino
        path.chmod(0o600)
        listener.listen(64)
        listener.settimeout(idle_seconds)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
        me = Served(os.getpid(), print_, time.time(), idle_seconds)
        if on_ready is not None:
            on_ready()
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            if not _serve_one(conn, listener, me, command):
                return
    finally:
        listener.close()
        try:
            if path.stat().st_ino == bound:  # still ours, not a successor's
                path.unlink()
        except OSError:
            pass


def _serve_one(
    conn: socket.socket,
    listener: socket.socket,
    me: Served,
    command: Callable[[list[str]], int],
) -> bool:
    """Answer one connection; False when the daemon should stop."""
    fds: list[int] = []
    try:
        conn.settimeout(10.0)
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        if uid != os.getuid():
            return True
        message, fds = recv_message(conn, with_fds=True)
        op = message.get("op")
        if op == "ping":
            send_message(conn, me.to_dict())
        elif op == "stop":
            send_message(conn, {"stopping": True, **me.to_dict()})
            return False
        elif op == "run" and len(fds) == 3 and isinstance(message.get("argv"), list):
            conn.settimeout(None)
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:  # the child never returns
                _child(conn, listener, message, fds, command)
            me.commands += 1
    except (OSError, ValueError):
        pass
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()
    return True


def _child(
    conn: socket.socket,
    listener: socket.socket,
    message: dict[str, Any],
    fds: list[int],
    command: Callable[[list[str]], int],
) -> NoReturn:
    status = LOST_STATUS
    try:
        listener.close()
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        fds.clear()
        _reopen_std_streams()
        os.chdir(str(message["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(message["env"]).items()})
        time.tzset()
        sys.argv = [str(arg) for arg in message["argv"]]
        if sys.path:
            sys.path[0] = str(message.get("path0", sys.path[0]))
        done = threading.Event()
        threading.Thread(target=_watch_client, args=(conn, done), daemon=True).start()
        send_message(conn, {"pid": os.getpid()})
        status = command(sys.argv[1:])
        _finish_like_exit()
        done.set()
        send_message(conn, {"status": status})
    except BaseException:  # the child must end here, whatever happened
        status = LOST_STATUS  # the client sees no status and says so
    os._exit(status)


def _watch_client(conn: socket.socket, done: threading.Event) -> None:
    """Kill this child as the client was killed when the client goes away before the end."""
    with contextlib.suppress(OSError):
        conn.recv(1)
    if not done.is_set():
        os.kill(os.getpid(), signal.SIGKILL)


def _reopen_std_streams() -> None:
    """New ``sys.stdin/stdout/stderr`` over descriptors 0-2, buffered as the interpreter
    would have made them for these descriptors (line-buffered on a terminal)."""
    import io

    encoding = os.environ.get("PYTHONIOENCODING", "").split(":")[0] or "utf-8"
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    streams = []
    for fd, mode in ((0, "rb"), (1, "wb"), (2, "wb")):
        raw = io.open(fd, mode, buffering=0 if unbuffered and fd else -1, closefd=False)  # noqa: SIM115, UP020
        streams.append(
            io.TextIOWrapper(
                raw,
                encoding=encoding,
                errors="backslashreplace" if fd == 2 else "strict",
                line_buffering=fd == 2 or (fd == 1 and os.isatty(1)),
                write_through=unbuffered,
            )
        )
    sys.stdin, sys.stdout, sys.stderr = streams


def _finish_like_exit() -> None:
    """What the interpreter's exit does before the process ends: wait for the non-daemon
    threads, flush the streams, run the ``atexit`` handlers, flush again."""
    import atexit

    main_thread = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main_thread and not thread.daemon:
            thread.join()
    for _ in range(2):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        if _ == 0:
            atexit._run_exitfuncs()


# -- managing daemons (``quantrun daemon start|status|stop``) --------------------------------


@dataclass(frozen=True)
class Listed:
    """One socket in the folder: its daemon's answer (None: nobody answered) and whether it
    runs this code."""

    name: str
    answer: dict[str, Any] | None
    current: bool

    def to_dict(self) -> dict[str, Any]:
        return {"socket": self.name, "current": self.current, "daemon": self.answer}


def log_path(print_: str, environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Where the daemon of fingerprint ``print_`` writes its standard error."""
    return socket_dir(environ) / f"d-{print_}.log"


def listed(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[Listed]:
    """Every daemon socket in the user's folder, each asked who it is."""
    folder = socket_dir(environ)
    if not private_dir(folder, create=False):
        return []
    current = socket_path(fingerprint(environ), environ).name
    return [
        Listed(path.name, ask(path, "ping"), path.name == current)
        for path in sorted(folder.glob("d-*.sock"))
    ]


def stop_all(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[Listed]:
    """Stop every daemon in the folder (this code's and older ones); a socket nobody answers
    on is removed. What was there, as it answered before it stopped."""
    ended = []
    for item in listed(environ):
        path = socket_dir(environ) / item.name
        answer = ask(path, "stop") if item.answer is not None else None
        if answer is None:
            path.unlink(missing_ok=True)
        ended.append(Listed(item.name, answer, item.current))
    return ended


def require_private_dir(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """The socket folder, made ``0700`` if missing; DAEMON_START_FAILED when it exists but is
    not private to this user (a daemon never listens there)."""
    from quantrun.errors import ErrorCode, error  # not on a client's path: a hand-over is lean

    folder = socket_dir(environ)
    if not private_dir(folder, create=True):
        raise error(
            ErrorCode.DAEMON_START_FAILED,
            f"the socket folder {folder} is not a folder only this user can open",
            hint=f"Remove it, or point {DIR_ENV} at a private folder.",
        )
    return folder


def _last_error(log: Path, since: int) -> str:
    """``: <the last error line>`` the daemon wrote to its log from byte ``since`` on (this
    start's part: the log is appended to), or nothing."""
    try:
        with log.open("rb") as stream:
            stream.seek(since)
            lines = stream.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line for line in lines if line.startswith("error[")]
    return f": {errors[-1]}" if errors else ""


def same_code_since(before: str, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The fingerprint now, when it is still ``before`` (taken before the imports);
    DAEMON_START_FAILED when the code or the import-time environment changed meanwhile."""
    now = fingerprint(environ)
    if now != before:
        from quantrun.errors import ErrorCode, error

        raise error(
            ErrorCode.DAEMON_START_FAILED,
            "quantrun's files changed while the daemon was loading them",
            hint="Start it again (`quantrun daemon start`) once they stop changing.",
        )
    return now


def start(
    idle_seconds: float,
    environ: dict[str, str] | os._Environ[str] = os.environ,
    wait_seconds: float = 180.0,
) -> tuple[dict[str, Any], bool]:
    """Start this user's daemon for this code in the background (``quantrun daemon run``, its
    standard error appended to :func:`log_path`) and wait until it answers; (its answer,
    whether it was already running). DAEMON_START_FAILED when it ends or stays silent."""
    import subprocess

    from quantrun.errors import ErrorCode, error  # not on a client's path: a hand-over is lean

    require_private_dir(environ)
    print_ = fingerprint(environ)
    path = socket_path(print_, environ)
    answer = ask(path, "ping")
    if answer is not None:
        return answer, True
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]  # stable, multiprocessing uses it
    minutes = repr(idle_seconds / 60.0)
    argv = [sys.executable, *flags, "-m", "quantrun", "daemon", "run", "--idle-minutes", minutes]
    argv += ["--expect-fingerprint", print_]
    log = log_path(print_, environ)
    with log.open("ab") as stderr:
        since = stderr.tell()
        process = subprocess.Popen(
            argv,
            cwd="/",
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        answer = ask(path, "ping")
        if answer is not None:
            return answer, False
        if process.poll() is not None:
            raise error(
                ErrorCode.DAEMON_START_FAILED,
                f"the daemon ended with status {process.returncode} before it listened"
                f"{_last_error(log, since)}",
                hint=f"Its log is {log}.",
            )
        time.sleep(0.05)
    process.kill()
    raise error(
        ErrorCode.DAEMON_START_FAILED,
        f"the daemon did not answer within {wait_seconds:.0f} s",
        hint=f"Its log is {log}.",
    )

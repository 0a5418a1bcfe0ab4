"""The console script (``quantrun``, ``python -m quantrun``): run one command, then end the
process without the interpreter's teardown.

A finished ``runs create`` has polars, numpy, numba and llvmlite loaded; tearing the interpreter
down (every module's globals cleared, every object freed, the libraries' finalizers) takes about
0.2 s and produces nothing. So after the command, this does what matters of a normal exit, in
the interpreter's order, and then calls ``os._exit`` with the command's exit status (D49):

1. no thread other than daemon ones is still running (the interpreter would wait for it: then
   this falls back to the normal exit, which does);
2. standard output and standard error are flushed (a failure, e.g. a closed pipe, also falls
   back to the normal exit, which reports it as it always has);
3. the ``atexit`` handlers run (``logging.shutdown`` flushes and closes the log handlers;
   ``weakref.finalize`` objects, ``multiprocessing`` and Dask clean up there);
4. both streams are flushed again (a handler may have written).

Only the console script does this. :data:`quantrun.cli.main` itself (what ``CliRunner`` and the
tests invoke) returns or raises ``SystemExit`` as before, and a command that serves (``quantrun
serve``, ``quantrun demo --serve``: uvicorn owns the signals and the shutdown) calls
:func:`exit_normally` so the process ends the ordinary way.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

from quantrun.allocator import keep_freed_memory
from quantrun.cli.base import main

_normal_exit = False


def exit_normally() -> None:
    """This process ends through the interpreter's normal exit, not :func:`run`'s fast one."""
    global _normal_exit
    _normal_exit = True


def run() -> NoReturn:
    """The console script's entry point when no daemon took the command
    (:mod:`quantrun.launch`): :func:`execute`, then :func:`finish` with its exit status."""
    finish(execute(sys.argv[1:]))


def execute(args: list[str]) -> int:
    """Run one command line (``args``: ``sys.argv[1:]``) and return its exit status, without
    ending the process: ``main`` (click, ``standalone_mode=False`` as ``_Group.main`` sets it).
    A command that does not serve keeps freed large blocks for reuse (:mod:`quantrun.allocator`,
    D53). Ctrl-C ends it with "aborted" and status 1 (as click's own handling inside ``main``
    does), not a traceback. The daemon's child for a handed-over command calls this too
    (:mod:`quantrun.handover`)."""
    if not serves(args):
        keep_freed_memory()
    try:
        main(args=args)
    except SystemExit as done:
        return status_of(done.code)
    except KeyboardInterrupt:
        sys.stderr.write("aborted\n")
        return 1
    return 0


def serves(args: list[str]) -> bool:
    """Whether the command line starts a long-lived process (``serve``, ``demo --serve``,
    ``daemon run``/``start``): it keeps the C library's default allocator settings, which give
    memory back."""
    return "serve" in args or "--serve" in args or "daemon" in args


def status_of(code: object) -> int:
    """The process exit status of ``SystemExit(code)``, as the interpreter computes it (a
    message is printed to stderr and gives 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def finish(status: int) -> NoReturn:
    """End the process with ``status``: fast (see the module docstring) when it is safe,
    otherwise through ``sys.exit``."""
    if _normal_exit or _threads_running() or not _flushed():
        sys.exit(status)
    atexit._run_exitfuncs()
    _flushed()
    os._exit(status)


def _threads_running() -> bool:
    main_thread = threading.main_thread()
    return any(
        t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()
    )


def _flushed() -> bool:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True

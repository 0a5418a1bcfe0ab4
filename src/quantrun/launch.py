"""The console script (``quantrun``, ``python -m quantrun``): hand the command to this user's
daemon when one runs this very code (:mod:`quantrun.handover`, D55), otherwise run it here
(:func:`quantrun.cli.entry.run`).

Importing this module imports the standard library and :mod:`quantrun.handover` only, so a
handed-over command costs the interpreter's start and a ``stat`` of the package files; the
command line interface, polars, numpy and numba are imported only when the command runs here.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from quantrun import handover

#: Commands that always run in their own process: the ones that serve (uvicorn owns their
#: signals and lifetime) and the ones that manage the daemon itself.
OWN_PROCESS = frozenset({"serve", "demo", "daemon"})


def run() -> NoReturn:
    """Run ``sys.argv``: in the daemon when :func:`hands_over` and one answers, else here."""
    if hands_over(sys.argv[1:]):
        try:
            status = handover.hand_over(sys.argv)
        except KeyboardInterrupt:  # Ctrl-C before any daemon took the command
            sys.stderr.write("aborted\n")
            sys.exit(1)
        if status is not None:
            sys.exit(status)
    from quantrun.cli.entry import run as run_here

    run_here()


def hands_over(args: list[str]) -> bool:
    """Whether the command line may be handed to a daemon: every command but
    :data:`OWN_PROCESS` (its name is the first argument that is not an option)."""
    name = next((arg for arg in args if not arg.startswith("-")), None)
    return name not in OWN_PROCESS

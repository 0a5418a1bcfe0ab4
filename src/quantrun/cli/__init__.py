"""The command-line edge: parse flags, build Settings, call the core, render the result.

No domain logic lives here. Every failure becomes ``error[CODE]: message`` plus a hint on
stderr (or the error object on stdout with ``--json``) and the exit status of its category:
0 ok, 2 usage, 3 input rejected, 4 blocked by a limit or the kill switch, 1 internal error.
Commands live in one module per noun (data, runs, ops); importing this package registers them.
The console script is :func:`run` (``quantrun.cli.entry``): ``main``, then a fast exit.
"""

from quantrun.cli import (  # noqa: F401  (registers the commands)
    compare,
    daemon,
    data,
    ops,
    runs,
    strategies,
    strategy_check,
    sweeps,
)
from quantrun.cli.base import main
from quantrun.cli.entry import run

__all__ = ["main", "run"]

if __name__ == "__main__":  # pragma: no cover
    main()

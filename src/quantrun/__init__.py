"""quantrun: a local, deterministic backtesting workbench.

The Python API lives in :mod:`quantrun.api`; its main functions are also reachable here and are
imported on first use, so ``import quantrun`` stays cheap::

    import quantrun
    run = quantrun.create_run("btc.csv", symbol="BTCUSDT", strategy="sma_crossover")
    quantrun.open_run(run.run_id).trades()
"""

from typing import Any

from quantrun.version import __version__

_API = ("create_run", "open_run", "list_runs", "list_strategies", "ingest_file", "inspect_file")


def __getattr__(name: str) -> Any:
    if name in _API:
        from quantrun import api

        return getattr(api, name)
    raise AttributeError(f"module 'quantrun' has no attribute {name!r}")


__all__ = ["__version__", *_API]

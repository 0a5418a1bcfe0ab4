"""quantrun: a local, deterministic backtesting workbench.

The Python API lives in :mod:`quantrun.api`; importing this package stays cheap.
"""

__version__ = "0.1.0"

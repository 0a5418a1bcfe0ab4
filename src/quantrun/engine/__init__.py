"""The simulation engine: risk gates, the compiled kernel, decision records.

Import from the modules (``quantrun.engine.risk``, ``quantrun.engine.simulate``, ...): this
package imports nothing itself, so that importing the risk presets does not compile or load
the numba kernel.
"""

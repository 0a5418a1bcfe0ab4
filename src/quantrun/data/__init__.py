"""The data layer: CSV dialects, validation, the canonical store, resampling, quality.

Import from the modules (``quantrun.data.ingest``, ``quantrun.data.resample``, ...): this
package imports nothing itself, so that light users (the CLI's dialect and timeframe
options) do not load polars.
"""

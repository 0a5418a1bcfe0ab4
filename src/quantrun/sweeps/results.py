"""The results table: one row per cell in grid order — its number, its grid values, its run id
and every metric — written as Parquet and CSV, and read back sorted and filtered.

Columns: ``cell``, on a dataset axis ``symbol`` and ``dataset_id`` (D47; a sweep of one
dataset has neither, as before), each axis's parameter (validated values), ``run_id``, then
every metric of :data:`quantrun.metrics.METRICS` in table order (counts as integers, the rest
as floats, an undefined value empty). The bytes depend only on the values, so the same cells
give the same files whatever computed them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from quantrun.errors import ErrorCode, error
from quantrun.metrics import METRICS
from quantrun.runs.export import safe_frame
from quantrun.sweeps.store import CellResult

FIXED_COLUMNS = ("cell", "run_id")
#: The columns that name a cell's dataset on a dataset axis.
DATASET_COLUMNS = ("symbol", "dataset_id")
#: The metrics ``sweeps create`` prints per cell (and ``--json`` carries).
HEADLINE = ("total_return", "sharpe", "max_drawdown", "trades")
#: Metrics where a smaller value is the better one ("best" sorts them ascending).
LOWER_IS_BETTER = frozenset(
    {"annual_volatility", "max_drawdown_duration", "commissions_paid", "ambiguous_bars"}
)


def metric_ids() -> list[str]:
    return [spec.id for spec in METRICS]


def _dtype(metric: str) -> pl.DataType:
    unit = next(spec.unit for spec in METRICS if spec.id == metric)
    return pl.Int64() if unit == "count" else pl.Float64()


def reserved_columns() -> frozenset[str]:
    """Names a grid axis may not take: the table's own columns."""
    return frozenset(FIXED_COLUMNS) | frozenset(DATASET_COLUMNS) | frozenset(metric_ids())


def results_frame(
    axes: Sequence[str],
    params: Sequence[Mapping[str, Any]],
    results: Sequence[CellResult],
    datasets: Sequence[tuple[str, str]] | None = None,
) -> pl.DataFrame:
    """The table of ``results`` (one per cell, in cell order) with each cell's ``params``
    and, on a dataset axis, each cell's ``(symbol, dataset_id)``."""
    columns: list[pl.Series] = [pl.Series("cell", [r.cell for r in results], dtype=pl.Int64)]
    if datasets is not None:
        for position, name in enumerate(DATASET_COLUMNS):
            columns.append(pl.Series(name, [d[position] for d in datasets], dtype=pl.String))
    for name in axes:
        columns.append(pl.Series(name, [p[name] for p in params]))
    columns.append(pl.Series("run_id", [r.run_id for r in results], dtype=pl.String))
    for metric in metric_ids():
        values = [r.values.get(metric) for r in results]
        columns.append(pl.Series(metric, values, dtype=_dtype(metric), strict=False))
    return pl.DataFrame(columns)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.rechunk().write_parquet(sink, compression="zstd", compression_level=1, statistics=True)
    return sink.getvalue()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """RFC 4180 CSV, ``\\n`` line ends, text cells escaped for spreadsheets (D30)."""
    sink = io.BytesIO()
    safe_frame(frame).write_csv(sink, line_terminator="\n", null_value="")
    return sink.getvalue()


def check_metric(metric: str) -> str:
    if metric not in metric_ids():
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"no metric {metric!r}; metrics: {', '.join(metric_ids())}",
        )
    return metric


def ranked(
    frame: pl.DataFrame,
    *,
    by: str | None = None,
    min_trades: int | None = None,
    top: int | None = None,
) -> pl.DataFrame:
    """Cells with at least ``min_trades`` trades, best first by ``by`` (undefined values
    last, ties in grid order), cut to ``top``; grid order when ``by`` is None."""
    if min_trades is not None:
        frame = frame.filter(pl.col("trades").fill_null(0) >= min_trades)
    if by is not None:
        check_metric(by)
        descending = by not in LOWER_IS_BETTER
        frame = frame.sort([by, "cell"], descending=[descending, False], nulls_last=True)
    return frame.head(top) if top is not None else frame

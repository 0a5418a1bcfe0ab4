"""CSV exports that are safe to open in a spreadsheet.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (CSV formula injection): a run's source file
named ``=HYPERLINK(...).csv`` would become a live link. :func:`safe_cell` prefixes such a cell
with an apostrophe, which spreadsheets show as plain text, unless the cell is a plain number
(``-0.0123`` stays a number)::

    safe_cell("=1+2")      # "'=1+2"
    safe_cell("-0.5")      # "-0.5"

Every CSV quantrun writes goes through it: ``trades.csv`` and the runs export
(``quantrun runs list --csv``, ``GET /api/v1/runs.csv``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from quantrun.runs.manifest import RunSummary

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = "^[" + re.escape("".join(FORMULA_START)) + "]"
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

#: Columns of the runs export, in order.
RUN_COLUMNS = (
    "run_id",
    "created_at",
    "symbol",
    "timeframe",
    "strategy",
    "params",
    "risk_level",
    "sources",
    "first_bar",
    "last_bar",
    "total_return",
    "max_drawdown",
    "sharpe",
    "trades",
    "final_equity",
    "read_only",
)


def safe_cell(value: Any) -> str:
    """``value`` as CSV cell text that no spreadsheet evaluates as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The same frame with every string column's cells made safe (numbers are untouched)."""
    import polars as pl  # here, not at the top: the runs export and the CLI do not need it

    return frame.with_columns(
        pl.when(
            pl.col(name).str.contains(_FORMULA_START) & ~pl.col(name).str.contains(_NUMBER.pattern)
        )
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """RFC 4180 CSV (``\\n`` line ends), every cell through :func:`safe_cell`."""
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return sink.getvalue().encode("utf-8")


def runs_csv(rows: Iterable[tuple[RunSummary, list[str]]]) -> bytes:
    """The runs export: one row per (run, its source file names), columns RUN_COLUMNS."""
    return csv_bytes(
        RUN_COLUMNS,
        (
            [values[column] for column in RUN_COLUMNS]
            for values in (row.export_values(sources) for row, sources in rows)
        ),
    )

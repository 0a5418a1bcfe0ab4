"""CSV dialects: which column is which, and whether a file is a Binance kline export.

``COLUMN_ALIASES`` is the declared table of accepted header names (matched case-insensitively,
surrounding whitespace ignored). ``BINANCE_COLUMNS`` is the positional layout of Binance kline
files, which may come with or without a header row.

The time column is found by its alias, or named with ``time_column`` (``--time-column``); a
file with neither whose first column is unnamed (``INDEX_COLUMN_NAMES``: what pandas'
``DataFrame.to_csv()`` writes for its index) takes that column when its first value parses as
a timestamp. The choice is recorded (:class:`TimeColumn`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quantrun.errors import ErrorCode, error

FIELDS = ("ts", "open", "high", "low", "close", "volume")
PRICE_FIELDS = ("open", "high", "low", "close")

#: field -> accepted header names (lower case).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "time", "date", "datetime", "timestamp", "open_time", "open time", "opentime"),
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "close_price"),
    "volume": ("volume", "vol", "v", "base_volume"),
}

#: Header names (lower case) of a first column that holds a pandas index: no name (what
#: ``DataFrame.to_csv()`` writes), the name pandas gives it when read back, ``reset_index()``'s.
INDEX_COLUMN_NAMES = ("", "unnamed: 0", "index")

#: Binance kline export, 12 columns, in file order.
BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)


class Format(enum.StrEnum):
    AUTO = "auto"
    GENERIC = "generic"
    BINANCE = "binance"


_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


@dataclass(frozen=True)
class TimeColumn:
    """A time column not found by its alias: which one, and why it was taken."""

    #: The header's name for it, as written ("" for an unnamed column).
    name: str
    #: 1-based column number.
    column: int
    #: ``time-column`` (named by the user) or ``pandas-index`` (an unnamed first column).
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "column": self.column, "rule": self.rule}


@dataclass(frozen=True)
class Layout:
    """How one file maps onto the canonical fields."""

    format: Format
    has_header: bool
    #: canonical field -> column index in the file
    positions: dict[str, int]
    #: column names to use: the header's, or Binance names for a headerless file
    names: tuple[str, ...]
    #: how the time column was chosen, when not by its alias
    time_column: TimeColumn | None = None

    @property
    def column_count(self) -> int:
        return len(self.names)


def _split(line: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.split(",")]


def detect_layout(
    first_line: str,
    requested: Format,
    *,
    time_column: str | None = None,
    is_time: Callable[[], bool] | None = None,
) -> Layout:
    """Decide header/no header and the column of each field from the first line.

    ``time_column`` names the time column (``--time-column``); ``is_time`` says whether the
    first data row's first cell parses as a timestamp (asked only of an unnamed first column
    when no column is a time column by its name)."""
    cells = _split(first_line)
    numeric = all(_NUMBER.match(c) for c in cells if c != "") and cells[0] != ""
    if numeric and time_column is not None:
        raise error(
            ErrorCode.CSV_MISSING_COLUMN,
            f"--time-column {time_column[:40]!r} was given but the file has no header line",
            lines=[1],
            hint="Add a header line, or leave out --time-column for a headerless Binance file.",
        )
    if numeric:
        if requested == Format.GENERIC:
            raise error(
                ErrorCode.CSV_MISSING_COLUMN,
                "the first line holds numbers, not column names; the generic format needs a "
                "header line",
                lines=[1],
                hint="Add a header line (time,open,high,low,close,volume), or pass "
                "--format binance for a headerless Binance kline file.",
            )
        if len(cells) < len(FIELDS):
            raise error(
                ErrorCode.CSV_MISSING_COLUMN,
                f"headerless file with {len(cells)} columns; a Binance kline file has "
                f"{len(BINANCE_COLUMNS)} (open_time, open, high, low, close, volume, ...)",
                lines=[1],
            )
        by_index = {field: i for i, field in enumerate(FIELDS)}
        names = list(BINANCE_COLUMNS[: len(cells)])
        names += [f"extra_{i}" for i in range(len(names), len(cells))]
        return Layout(Format.BINANCE, False, by_index, tuple(names))

    names = [c.lower() for c in cells]
    positions: dict[str, int] = {}
    chosen: TimeColumn | None = None
    if time_column is not None:
        chosen = _named_time_column(cells, names, time_column)
        positions["ts"] = chosen.column - 1
    for field, aliases in COLUMN_ALIASES.items():
        if field in positions:
            continue
        found = [i for i, name in enumerate(names) if name in aliases]
        if len(found) > 1:
            shown = ", ".join(repr(cells[i]) for i in found)
            raise error(
                ErrorCode.CSV_AMBIGUOUS_COLUMN,
                f"columns {shown} all name the {field} field",
                lines=[1],
            )
        if found:
            positions[field] = found[0]
    if chosen is not None and list(positions.values()).count(positions["ts"]) > 1:
        other = next(f for f, i in positions.items() if f != "ts" and i == positions["ts"])
        raise error(
            ErrorCode.CSV_AMBIGUOUS_COLUMN,
            f"--time-column {time_column!r} names the {other} column",
            lines=[1],
            hint="Name the column that holds the bar times.",
        )
    index_note = ""
    if "ts" not in positions and names[0] in INDEX_COLUMN_NAMES and len(cells) > 1:
        if is_time is not None and is_time():
            chosen = TimeColumn(cells[0], 1, "pandas-index")
            positions["ts"] = 0
        else:
            index_note = " (the unnamed first column does not hold timestamps)"
    missing = [f for f in FIELDS if f not in positions]
    if missing:
        raise error(
            ErrorCode.CSV_MISSING_COLUMN,
            f"missing column(s) {', '.join(missing)}; header has: "
            f"{', '.join(_shown(c) for c in cells[:20])}{' …' if len(cells) > 20 else ''}"
            + index_note
            + _delimiter_note(first_line)
            + _line_end_note(first_line),
            lines=[1],
            extra={"missing": missing},
        )
    is_binance = tuple(names[: len(BINANCE_COLUMNS)]) == BINANCE_COLUMNS
    if requested == Format.BINANCE and not is_binance:
        raise error(
            ErrorCode.CSV_MISSING_COLUMN,
            "--format binance was given but the header is not a Binance kline header",
            lines=[1],
            hint="Pass --format generic (or auto) for this file.",
        )
    fmt = Format.BINANCE if is_binance and requested != Format.GENERIC else Format.GENERIC
    return Layout(fmt, True, positions, tuple(cells), chosen)


def _named_time_column(cells: list[str], names: list[str], wanted: str) -> TimeColumn:
    """The column ``--time-column`` names (case-insensitively, spaces and quotes ignored)."""
    key = wanted.strip().strip('"').strip().lower()
    found = [i for i, name in enumerate(names) if name == key]
    if not found:
        raise error(
            ErrorCode.CSV_MISSING_COLUMN,
            f"no column named {_shown(wanted)!r} (--time-column); header has: "
            f"{', '.join(_shown(c) for c in cells[:20])}{' …' if len(cells) > 20 else ''}",
            lines=[1],
            extra={"missing": ["ts"]},
        )
    if len(found) > 1:
        raise error(
            ErrorCode.CSV_AMBIGUOUS_COLUMN,
            f"{len(found)} columns are named {_shown(wanted)!r} (--time-column)",
            lines=[1],
        )
    return TimeColumn(cells[found[0]], found[0] + 1, "time-column")


def _shown(cell: str, width: int = 40) -> str:
    """A header cell as it may be shown to a person: control characters (a terminal escape
    sequence in a hostile file) escaped, and cut to ``width`` characters."""
    if not cell.isprintable():
        cell = cell.encode("unicode_escape").decode("ascii")
    return cell if len(cell) <= width else cell[: width - 1] + "…"


def _line_end_note(line: str) -> str:
    if "\r" in line:
        return " (the lines seem to end in a bare CR, as on classic Mac OS; use LF or CRLF)"
    return ""


def _delimiter_note(line: str) -> str:
    for delim, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if line.count(delim) >= 3 and line.count(",") < 3:
            return f" (the header seems separated by {name}; quantrun reads comma-separated files)"
    return ""

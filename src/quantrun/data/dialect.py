"""CSV dialects: which column is which, and whether a file is a Binance kline export.

``COLUMN_ALIASES`` is the declared table of accepted header names (matched case-insensitively,
surrounding whitespace ignored). ``BINANCE_COLUMNS`` is the positional layout of Binance kline
files, which may come with or without a header row.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

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
class Layout:
    """How one file maps onto the canonical fields."""

    format: Format
    has_header: bool
    #: canonical field -> column index in the file
    positions: dict[str, int]
    #: column names to use: the header's, or Binance names for a headerless file
    names: tuple[str, ...]

    @property
    def column_count(self) -> int:
        return len(self.names)


def _split(line: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.split(",")]


def detect_layout(first_line: str, requested: Format) -> Layout:
    """Decide header/no header and the column of each field from the first line."""
    cells = _split(first_line)
    numeric = all(_NUMBER.match(c) for c in cells if c != "") and cells[0] != ""
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
    for field, aliases in COLUMN_ALIASES.items():
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
    missing = [f for f in FIELDS if f not in positions]
    if missing:
        raise error(
            ErrorCode.CSV_MISSING_COLUMN,
            f"missing column(s) {', '.join(missing)}; header has: "
            f"{', '.join(_shown(c) for c in cells[:20])}{' …' if len(cells) > 20 else ''}"
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
    return Layout(fmt, True, positions, tuple(cells))


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

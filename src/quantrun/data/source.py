"""Sources: where raw bars come from. A :class:`Source` describes itself and yields a
:class:`RawBars` table (one row per input line, cells still as the file wrote them) that
``validation`` turns into the canonical frame. CSV is the only source for now; a Parquet file
or an exchange download would be a new class here, not a change to validation or storage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from quantrun.data.dialect import FIELDS, Format, Layout, detect_layout
from quantrun.data.timestamps import parse_timestamps
from quantrun.errors import ErrorCode, error, format_lines

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ\x90\x00", "a Windows executable"),
    (b"PK\x03\x04", "a ZIP archive (or an .xlsx workbook)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"PAR1", "a Parquet file"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"SQLite format 3", "an SQLite database"),
)
#: Text that is not a CSV table: (how it starts, lower case with whitespace removed; what it is).
_NOT_CSV: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"<!doctypehtml", b"<html", b"<head", b"<body"), "an HTML page"),
    ((b"<?xml", b"<!--"), "an XML document"),
    ((b'{"', b"{}", b"[{", b"[[", b'["', b"[]"), "JSON"),
)
_SPACE = re.compile(rb"\s+")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_NON_SPACE = re.compile(rb"\S")
#: Bytes read at a time while measuring line lengths.
_SCAN_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    """Provenance of one input file. ``path`` is as the user gave it. ``time_column``: how
    the time column was chosen when not by its alias (``--time-column``, or an unnamed first
    column holding a pandas index); recorded only then."""

    path: str
    name: str
    bytes: int
    sha256: str
    format: str
    has_header: bool
    rows: int
    time_column: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields a run manifest records of an input file."""
        return {
            "path": self.path,
            "name": self.name,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "format": self.format,
            "has_header": self.has_header,
            "rows": self.rows,
        }

    def reported(self) -> dict[str, Any]:
        """What ``data inspect|ingest`` and the preview show: :meth:`to_dict` and, when it was
        not found by its alias, the time column."""
        if self.time_column is None:
            return self.to_dict()
        return self.to_dict() | {"time_column": self.time_column}


@dataclass(frozen=True)
class RawBars:
    """Raw cells of every input row plus where each came from.

    ``frame`` has the canonical field columns (String) and ``file`` (index into ``files``) and
    ``line`` (1-based line number in that file).
    """

    frame: pl.DataFrame
    files: list[SourceFile] = field(default_factory=list)

    def where(self, file_index: int, line: int) -> str:
        if len(self.files) > 1:
            return f"{self.files[file_index].name}:{line}"
        return str(line)


class Source(Protocol):
    """A provider of raw bars. Implementations must not write anything."""

    def describe(self) -> dict[str, Any]: ...

    def read(self) -> RawBars: ...


@dataclass(frozen=True)
class CsvSource:
    """One or more CSV files, concatenated in the order given."""

    paths: Sequence[str]
    format: Format = Format.AUTO
    #: The time column's name when it is not one of the aliases (``--time-column``).
    time_column: str | None = None
    max_bytes: int = 1 << 30
    max_rows: int = 20_000_000
    max_line_bytes: int = 1 << 20
    max_columns: int = 256

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "csv", "paths": list(self.paths), "format": str(self.format)}
        if self.time_column is not None:
            out["time_column"] = self.time_column
        return out

    def read(self) -> RawBars:
        sizes = [self._size(p) for p in self.paths]
        total = sum(sizes)
        if total > self.max_bytes:
            raise error(
                ErrorCode.LIMIT_INPUT_SIZE,
                f"input is {total:,} bytes; the limit is {self.max_bytes:,} bytes",
                extra={"bytes": total, "limit": self.max_bytes},
            )
        frames: list[pl.DataFrame] = []
        files: list[SourceFile] = []
        rows = 0
        for index, path in enumerate(self.paths):
            _check_line_lengths(path, self.max_line_bytes)
            frame, info = _read_one(path, index, self.format, self.max_columns, self.time_column)
            rows += frame.height
            if rows > self.max_rows:
                raise error(
                    ErrorCode.LIMIT_ROWS,
                    f"input has more than {self.max_rows:,} rows (the limit)",
                    extra={"limit": self.max_rows},
                )
            frames.append(frame)
            files.append(info)
        frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")
        return RawBars(frame, files)

    @staticmethod
    def _size(path: str) -> int:
        p = Path(path)
        if not p.is_file():
            what = "is a directory, not a file" if p.is_dir() else "does not exist"
            raise error(ErrorCode.INPUT_NOT_FOUND, f"{Path(path).name!r} {what}")
        return p.stat().st_size


def _check_line_lengths(path: str, limit: int) -> None:
    """Refuse a file with a line longer than ``limit`` bytes, reading it a chunk at a time into
    one reused buffer: a file that is one enormous line is refused after about ``limit`` bytes,
    never loaded. Lines are not counted on the way (the scan stays a memory-speed pass); the
    number of the line refused is counted only then (:func:`_line_at`)."""
    name = Path(path).name
    buffer = bytearray(_SCAN_CHUNK)
    offset = 0  # file position of the chunk in ``buffer``
    open_line = 0  # bytes of the line still open at the end of the previous chunk
    with Path(path).open("rb", buffering=0) as stream:
        while size := stream.readinto(buffer):
            first = buffer.find(b"\n", 0, size)
            if first < 0:
                open_line += size
                if open_line > limit:
                    raise _line_too_long(name, _line_at(path, offset), limit)
                offset += size
                continue
            if open_line + first > limit:
                raise _line_too_long(name, _line_at(path, offset), limit)
            last = buffer.rfind(b"\n", 0, size)
            if last - first - 1 > limit:  # a whole line inside this chunk may be too long
                inside = np.frombuffer(buffer, np.uint8, last - first + 1, first)
                ends = np.flatnonzero(inside == 10)
                over = np.flatnonzero(np.diff(ends) - 1 > limit)
                if over.size:
                    start = offset + first + int(ends[over[0]]) + 1
                    raise _line_too_long(name, _line_at(path, start), limit)
            open_line = size - last - 1
            if open_line > limit:
                raise _line_too_long(name, _line_at(path, offset + last + 1), limit)
            offset += size


def _line_at(path: str, position: int) -> int:
    """The 1-based number of the line holding byte ``position`` of the file at ``path``."""
    newlines = 0
    with Path(path).open("rb") as stream:
        while position > 0 and (chunk := stream.read(min(_SCAN_CHUNK, position))):
            newlines += chunk.count(b"\n")
            position -= len(chunk)
    return newlines + 1


def _line_too_long(name: str, line: int, limit: int) -> Exception:
    return error(
        ErrorCode.LIMIT_LINE_LENGTH,
        f"{name!r}: line {line} is longer than {limit:,} bytes (the limit)",
        lines=[line],
        extra={"limit": limit},
    )


def _sniff_binary(data: bytes, name: str) -> None:
    head = data[:4096]
    if head.startswith(_UTF32_BOMS):
        raise error(
            ErrorCode.INPUT_ENCODING,
            f"{name!r} looks like UTF-32 text; quantrun reads UTF-8",
            hint="Re-save the file as UTF-8 (iconv -f UTF-32 -t UTF-8 in.csv > out.csv).",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        len(head) >= 4 and (head[1:2] == b"\x00" or head[0:1] == b"\x00") and b"\x00" in head[:64]
    ):
        raise error(
            ErrorCode.INPUT_ENCODING,
            f"{name!r} looks like UTF-16 text; quantrun reads UTF-8",
            hint="Re-save the file as UTF-8 (iconv -f UTF-16 -t UTF-8 in.csv > out.csv).",
        )
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise error(ErrorCode.INPUT_BINARY, f"{name!r} is {what}, not a CSV text file")
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise error(
            ErrorCode.INPUT_BINARY, f"{name!r} contains NUL bytes (line {line})", lines=[line]
        )


def _sniff_not_csv(data: bytes, name: str) -> None:
    head = _SPACE.sub(b"", data[:64]).lower()
    for prefixes, what in _NOT_CSV:
        if head.startswith(prefixes):
            raise error(
                ErrorCode.INPUT_BINARY,
                f"{name!r} is {what}, not a CSV file",
                lines=[1],
                hint="Pass the CSV file itself; a page saved from a browser or an API's JSON "
                "answer is not one.",
            )


def _check_utf8(data: bytes, name: str) -> None:
    if data.isascii():  # the common case, ten times faster than decoding
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            ErrorCode.INPUT_ENCODING,
            f"{name!r} is not valid UTF-8: byte 0x{data[exc.start]:02x} on line {line}",
            lines=[line],
        ) from None


def _ragged_line(text: bytes, expected: int) -> int | None:
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip() and raw.count(b",") + 1 > expected and b'"' not in raw:
            return number
    return None


def _read_one(
    path: str, index: int, fmt: Format, max_columns: int, time_column: str | None = None
) -> tuple[pl.DataFrame, SourceFile]:
    name = Path(path).name
    data = Path(path).read_bytes()
    size = len(data)
    # Hash on a worker thread (hashlib releases the GIL) while polars parses the same bytes.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest_future = pool.submit(_sha256, data)
        frame, layout = _read_checked(data, index, fmt, name, max_columns, time_column)
        digest = digest_future.result()
    info = SourceFile(
        path=path,
        name=name,
        bytes=size,
        sha256=digest,
        format=str(layout.format),
        has_header=layout.has_header,
        rows=frame.height,
        time_column=None if layout.time_column is None else layout.time_column.to_dict(),
    )
    return frame, info


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_checked(
    data: bytes,
    index: int,
    fmt: Format,
    name: str,
    max_columns: int,
    time_column: str | None = None,
) -> tuple[pl.DataFrame, Layout]:
    if not data or data.isspace():
        raise error(ErrorCode.INPUT_EMPTY, f"{name!r} is empty")
    _sniff_binary(data, name)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
        if not data or data.isspace():
            raise error(ErrorCode.INPUT_EMPTY, f"{name!r} is empty (a byte-order mark only)")
    tail = data[-4096:]
    if tail[len(tail.rstrip()) :].count(b"\n") > 1:
        # Blank lines at the very end are how many exporters finish a file, not missing rows.
        data = data.rstrip() + b"\n"
    _check_utf8(data, name)
    _sniff_not_csv(data, name)
    newline = data.find(b"\n")
    first_line = (data if newline < 0 else data[:newline]).decode("utf-8").rstrip("\r")
    columns = first_line.count(",") + 1
    if columns > max_columns:
        raise error(
            ErrorCode.LIMIT_COLUMNS,
            f"{name!r} has {columns:,} columns; the limit is {max_columns:,}",
            lines=[1],
            extra={"columns": columns, "limit": max_columns},
        )
    if not first_line.strip():
        raise error(
            ErrorCode.CSV_MALFORMED,
            f"{name!r} starts with a blank line",
            lines=[1],
            hint="Remove the blank line(s) before the header.",
        )
    layout = detect_layout(
        first_line,
        fmt,
        time_column=time_column,
        is_time=lambda: _parses_as_time(_first_cell_of_second_line(data, newline)),
    )
    if layout.has_header and (newline < 0 or _NON_SPACE.search(data, newline) is None):
        raise error(ErrorCode.INPUT_EMPTY, f"{name!r} has a header but no data rows")
    frame = _parse(data, layout, name, _first_data_cell(data, newline, layout))
    if frame.height == 0:
        raise error(ErrorCode.INPUT_EMPTY, f"{name!r} has a header but no data rows")
    first_data_line = 2 if layout.has_header else 1
    frame = frame.with_columns(
        file=pl.lit(index, pl.Int32),
        line=pl.int_range(first_data_line, first_data_line + frame.height, dtype=pl.Int64),
    )
    return frame, layout


def _first_cell_of_second_line(data: bytes, newline: int) -> str:
    if newline < 0:
        return ""
    end = data.find(b"\n", newline + 1)
    line = data[newline + 1 : end if end >= 0 else len(data)].decode("utf-8", "replace")
    return line.split(",", 1)[0].strip().strip('"')


def _parses_as_time(cell: str) -> bool:
    """Whether ``cell`` is a timestamp quantrun reads (an epoch, or ISO-8601; a naive time
    counts, its zone is asked for later)."""
    if not cell:
        return False
    parsed = parse_timestamps(pl.Series([cell]), "UTC")
    return parsed.micros.null_count() == 0


def _first_data_cell(data: bytes, newline: int, layout: Layout) -> str:
    """The first data row's timestamp cell, to guess the column type."""
    start = newline + 1 if layout.has_header else 0
    end = data.find(b"\n", start)
    line = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace")
    cells = line.split(",")
    index = layout.positions["ts"]
    return cells[index].strip().strip('"') if index < len(cells) else ""


def _parse(data: bytes, layout: Layout, name: str, first_ts: str) -> pl.DataFrame:
    """Parse the six field columns; typed on the fast path, as text when a cell won't parse.

    Clean files parse straight into Int64/Float64 columns. Anything odd (spaces, bad numbers,
    mixed forms) is re-read as text so validation can name each offending line.
    """
    wanted = [layout.positions[f] for f in FIELDS]
    names = [f"c{i}" for i in range(layout.column_count)]
    ts_type = pl.Int64 if first_ts.strip().lstrip("-").isdigit() else pl.String
    typed = {names[layout.positions["ts"]]: ts_type} | {
        names[layout.positions[f]]: pl.Float64 for f in FIELDS[1:]
    }
    for overrides in (typed, None):
        try:
            raw = pl.read_csv(
                data,
                has_header=False,
                skip_rows=1 if layout.has_header else 0,
                new_columns=names,
                columns=wanted,
                schema_overrides=overrides,
                infer_schema=False,
                quote_char='"',
                raise_if_empty=False,
            )
            break
        except pl.exceptions.PolarsError as exc:
            if overrides is None:
                line = _ragged_line(data, layout.column_count)
                where = (
                    f"; {format_lines([line], 1)} has more fields than the header" if line else ""
                )
                raise error(
                    ErrorCode.CSV_MALFORMED,
                    f"{name!r} could not be read as CSV{where}",
                    lines=[line] if line else [],
                    extra={"reason": str(exc).splitlines()[0][:200]},
                ) from None
    return raw.select(pl.col(names[layout.positions[f]]).alias(f) for f in FIELDS)

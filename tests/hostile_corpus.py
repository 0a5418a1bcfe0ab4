"""A corpus of hostile and tricky input files, generated deterministically (nothing binary is
committed). ``BAD`` lists files that must be refused, each with the stable code it must be
refused with; ``GOOD`` lists awkward files that must be accepted, with what they hold.

Each case's ``data`` is either the file's bytes or a function that writes the file at a path
(for the files too big to hold in memory, such as a 1 GB line).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from quantrun.errors import ErrorCode

E = ErrorCode
Writer = Callable[[Path], None]

HEADER = "time,open,high,low,close,volume"
#: 2024-01-01T00:00:00Z, the first bar of every generated series.
T0_S = 1_704_067_200
GIB = 1 << 30
MIB = 1 << 20


def iso(minute: int, offset: str = "Z") -> str:
    """The ISO time of bar ``minute`` (UTC), written with ``offset`` (the same instant)."""
    utc = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    if offset == "Z":
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    hours, minutes = (int(x) for x in offset[1:].split(":"))
    sign = 1 if offset[0] == "+" else -1
    return utc.astimezone(timezone(sign * timedelta(hours=hours, minutes=minutes))).isoformat()


def row(
    minute: int,
    o: float = 100.0,
    h: float = 101.0,
    lo: float = 99.0,
    c: float = 100.5,
    v: float = 10.0,
    ts: str | None = None,
) -> str:
    return f"{ts if ts is not None else iso(minute)},{o:g},{h:g},{lo:g},{c:g},{v:g}"


def rows(n: int, start: int = 0) -> list[str]:
    """``n`` valid consecutive 1-minute rows with a small price walk."""
    out = []
    for i in range(start, start + n):
        o = 100 + i * 0.5
        c = o + (0.25 if i % 2 == 0 else -0.25)
        out.append(row(i, o, max(o, c) + 0.5, min(o, c) - 0.5, c, 10 + i))
    return out


def csv(lines: list[str], header: str | None = HEADER, newline: str = "\n") -> bytes:
    body = ([header] if header is not None else []) + lines
    return (newline.join(body) + newline).encode("utf-8")


VALID = csv(rows(6))


def with_row(index: int, line: str, n: int = 6) -> bytes:
    lines = rows(n)
    lines[index] = line
    return csv(lines)


def kline(minute: int) -> str:
    """A headerless Binance kline row (12 fields, epoch milliseconds) for bar ``minute``."""
    open_ms = (T0_S + 60 * minute) * 1000
    return f"{open_ms},1,2,0.5,1.5,3,{open_ms + 59_999},4,5,6,7,0"


def _zip(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # A fixed date_time keeps the archive's bytes the same on every run.
        archive.writestr(zipfile.ZipInfo("bars.csv", date_time=(2024, 1, 1, 0, 0, 0)), payload)
    return buffer.getvalue()


def _random_bytes(seed: int, n: int, low: int = 0) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(low, 256) for _ in range(n))


def write_long_line(path: Path, total: int = 15 * 64 * MIB) -> None:
    """A single line of digits, 960 MiB (just under the default 1 GiB size limit, so the
    line-length limit is what refuses it), written in 64 MiB chunks."""
    chunk = b"1234567890" * (64 * MIB // 10) + b"1234"
    assert len(chunk) == 64 * MIB and total % len(chunk) == 0
    with path.open("wb") as out:
        for _ in range(total // len(chunk)):
            out.write(chunk)


@dataclass(frozen=True)
class Bad:
    """A file that must be refused with ``code``."""

    name: str
    data: bytes | Writer
    code: ErrorCode
    suffix: str = ".csv"
    #: too big for the in-process CLI runner loop; tested once on its own
    huge: bool = False


@dataclass(frozen=True)
class Good:
    """A file that must be accepted: ``rows`` bars, the first at ``first_bar`` (UTC)."""

    name: str
    data: bytes
    rows: int
    first_bar: str
    #: the --timezone to ingest it with
    timezone: str | None = None


_HTML = b"""<!DOCTYPE html>
<html><head><title>404 Not Found</title></head>
<body><h1>Not Found</h1><p>time,open,high,low,close,volume</p></body></html>
"""
_JSON = b'[{"time": "2024-01-01T00:00:00Z", "open": 100, "high": 101, "low": 99, "close": 100.5,'
_JSON += b' "volume": 10}]\n'
_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
_ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00>\x00\x01\x00\x00\x00" + b"\x00" * 40
_WIDE_HEADER = HEADER + "".join(f",extra{i}" for i in range(10_000 - 6))
_WIDE_ROW = rows(1)[0] + ",1" * (10_000 - 6)

BAD: list[Bad] = [
    # --- nothing to read
    Bad("empty file", b"", E.INPUT_EMPTY),
    Bad("whitespace only", b"  \n\t\n \r\n", E.INPUT_EMPTY),
    Bad("newlines only", b"\n\n\n\n", E.INPUT_EMPTY),
    Bad("only a UTF-8 BOM", b"\xef\xbb\xbf", E.INPUT_EMPTY),
    Bad("BOM then whitespace", b"\xef\xbb\xbf \r\n\r\n", E.INPUT_EMPTY),
    Bad("header only", csv([]), E.INPUT_EMPTY),
    Bad("header and blank lines", csv(["", "  ", ""]), E.INPUT_EMPTY),
    Bad("BOM and header only, no newline", b"\xef\xbb\xbf" + HEADER.encode(), E.INPUT_EMPTY),
    # --- truncated
    Bad("truncated mid-row", VALID + b"2024-01-01T00:06:00Z,103,104", E.CSV_MISSING_VALUE),
    Bad("truncated mid-timestamp", VALID + b"2024-01-01T00:0", E.CSV_MISSING_VALUE),
    Bad(
        "truncated mid-number",
        VALID + b"2024-01-01T00:06:00Z,103,104,102,103.5,1.5e",
        E.CSV_BAD_NUMBER,
    ),
    Bad(
        "truncated mid-quote",
        VALID + b'2024-01-01T00:06:00Z,103,104,102,"103.',
        E.CSV_MISSING_VALUE,
    ),
    # --- not text
    Bad("random bytes", _random_bytes(1, 4096), E.INPUT_BINARY),
    Bad("random high bytes (no NUL)", _random_bytes(2, 4096, low=128), E.INPUT_ENCODING),
    Bad("PNG image", _PNG + _random_bytes(3, 512), E.INPUT_BINARY),
    Bad("ELF executable", _ELF + _random_bytes(4, 512), E.INPUT_BINARY),
    Bad("NUL bytes inside a CSV", VALID[:60] + b"\x00\x00" + VALID[60:], E.INPUT_BINARY),
    Bad("zip archive of a valid CSV", _zip(VALID), E.INPUT_BINARY, suffix=".zip"),
    Bad("gzip of a valid CSV", gzip.compress(VALID, mtime=0), E.INPUT_BINARY, suffix=".csv.gz"),
    Bad("bzip2 of a valid CSV", bz2.compress(VALID), E.INPUT_BINARY),
    Bad("xz of a valid CSV", lzma.compress(VALID), E.INPUT_BINARY),
    Bad("PDF document", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", E.INPUT_BINARY),
    Bad("HTML page saved as .csv", _HTML, E.INPUT_BINARY),
    Bad("JSON file", _JSON, E.INPUT_BINARY, suffix=".json"),
    # --- wrong encoding
    Bad("UTF-16 LE with BOM", VALID.decode().encode("utf-16"), E.INPUT_ENCODING),
    Bad("UTF-16 BE with BOM", b"\xfe\xff" + VALID.decode().encode("utf-16-be"), E.INPUT_ENCODING),
    Bad("UTF-16 LE without BOM", VALID.decode().encode("utf-16-le"), E.INPUT_ENCODING),
    Bad("UTF-32 LE with BOM", VALID.decode().encode("utf-32"), E.INPUT_ENCODING),
    Bad(
        "UTF-32 BE with BOM",
        b"\x00\x00\xfe\xff" + VALID.decode().encode("utf-32-be"),
        E.INPUT_ENCODING,
    ),
    Bad(
        "Latin-1 (invalid UTF-8)",
        csv(rows(3), header=HEADER + ",exchange").replace(b"\n2024", b",Z\xfcrich\n2024"),
        E.INPUT_ENCODING,
    ),
    Bad(
        "lone UTF-8 surrogate",
        VALID + b"2024-01-01T00:06:00Z,1,2,0.5,1,\xed\xa0\x80\n",
        E.INPUT_ENCODING,
    ),
    # --- other dialects
    Bad(
        "semicolons and decimal commas",
        b"time;open;high;low;close;volume\n2024-01-01T00:00:00Z;100,5;101,5;99,5;100,75;10\n",
        E.CSV_MISSING_COLUMN,
    ),
    Bad("tab-separated", VALID.replace(b",", b"\t"), E.CSV_MISSING_COLUMN),
    Bad(
        "quoted decimal commas",
        csv(['2024-01-01T00:00:00Z,"100,5","101,5","99,5","100,75",10']),
        E.CSV_BAD_NUMBER,
    ),
    Bad(
        "thousands separators",
        csv(['2024-01-01T00:00:00Z,100,101,99,100.5,"1,234"']),
        E.CSV_BAD_NUMBER,
    ),
    Bad("classic Mac CR line ends", VALID.replace(b"\n", b"\r"), E.CSV_MISSING_COLUMN),
    Bad("blank first line", b"\n" + VALID, E.CSV_MALFORMED),
    # --- timestamps
    Bad(
        "Excel local dates dd/mm/yyyy",
        csv([row(0, ts="01/02/2024 13:00"), row(1, ts="01/02/2024 13:01")]),
        E.CSV_BAD_TIMESTAMP,
    ),
    Bad(
        "naive ISO dates",
        csv([row(0, ts="2024-01-02 13:00"), row(1, ts="2024-01-02 13:01")]),
        E.CSV_NAIVE_TIMESTAMP,
    ),
    Bad(
        "mixed ISO with and without offset",
        csv([row(0), row(1, ts="2024-01-01 00:01")]),
        E.CSV_AMBIGUOUS_TIMESTAMP,
    ),
    Bad(
        "mixed epoch units",
        csv([row(0, ts=str(T0_S)), row(1, ts=str((T0_S + 60) * 1000))]),
        E.CSV_AMBIGUOUS_TIMESTAMP,
    ),
    Bad("ISO then epoch", csv([row(0), row(1, ts=str(T0_S + 60))]), E.CSV_BAD_TIMESTAMP),
    Bad(
        "yyyymmdd integers",
        csv([row(0, ts="20240101"), row(1, ts="20240102")]),
        E.CSV_BAD_TIMESTAMP,
    ),
    Bad("year 2300", csv([row(0, ts="2300-01-01T00:00:00Z")]), E.CSV_TIMESTAMP_OUT_OF_RANGE),
    Bad("before 1970", csv([row(0, ts="1969-12-31T23:59:00Z")]), E.CSV_TIMESTAMP_OUT_OF_RANGE),
    Bad("5000-digit epoch", csv([row(0, ts="9" * 5000)]), E.CSV_BAD_TIMESTAMP),
    Bad(
        "most negative int64 epoch",
        csv([row(0, ts=str(-(2**63))), row(1, ts=str(T0_S + 60))]),
        E.CSV_BAD_TIMESTAMP,
    ),
    Bad("fractional epoch", csv([row(0, ts=f"{T0_S}.5")]), E.CSV_BAD_TIMESTAMP),
    Bad(
        "nanoseconds off the microsecond", csv([row(0, ts=f"{T0_S}000000001")]), E.CSV_BAD_TIMESTAMP
    ),
    Bad(
        "Arabic-Indic digits in an epoch",
        csv([row(0, ts="\u0661\u0667\u0660\u0664")]),
        E.CSV_BAD_TIMESTAMP,
    ),
    Bad("BOM inside a row", csv(["\ufeff" + rows(1)[0]]), E.CSV_BAD_TIMESTAMP),
    Bad(
        "duplicate timestamps, conflicting",
        with_row(3, row(2, 1, 2, 0.5, 1.5, 3)),
        E.CSV_DUPLICATE_TIMESTAMP,
    ),
    Bad(
        "duplicate rows, exact",
        csv(rows(3) + rows(1, start=2) + rows(2, start=3)),
        E.CSV_DUPLICATE_TIMESTAMP,
    ),
    Bad("unsorted rows", csv(rows(3, start=3) + rows(3)), E.CSV_UNSORTED),
    Bad("off the minute grid", with_row(2, row(2, ts="2024-01-01T00:02:30Z")), E.CSV_OFF_GRID),
    Bad("5m bars declared 1m", csv([row(5 * i) for i in range(5)]), E.CSV_TIMEFRAME_MISMATCH),
    # --- values
    Bad("NaN price", with_row(1, row(1, c=float("nan"))), E.CSV_NONFINITE),
    Bad("inf price", with_row(1, row(1, h=float("inf"))), E.CSV_NONFINITE),
    Bad(
        "400-digit price",
        with_row(1, row(1).replace(",101,", "," + "9" * 400 + ",")),
        E.CSV_NONFINITE,
    ),
    Bad("1e400 volume", with_row(1, row(1).rsplit(",", 1)[0] + ",1e400"), E.CSV_NONFINITE),
    Bad("negative price", with_row(1, row(1, o=-100)), E.CSV_NONPOSITIVE_PRICE),
    Bad("zero price", with_row(1, row(1, lo=0)), E.CSV_NONPOSITIVE_PRICE),
    Bad("negative volume", with_row(1, row(1, v=-1)), E.CSV_NEGATIVE_VOLUME),
    Bad("high below low", with_row(1, row(1, 100, 99, 101, 100)), E.CSV_HIGH_BELOW_LOW),
    Bad("high below close", with_row(1, row(1, 100, 101, 99, 102)), E.CSV_HIGH_BELOW_OPEN_CLOSE),
    Bad("low above open", with_row(1, row(1, 98, 101, 99, 100)), E.CSV_LOW_ABOVE_OPEN_CLOSE),
    Bad(
        "formula cell =cmd|",
        with_row(1, row(1).replace(",101,", ",=cmd|' /C calc'!A0,")),
        E.CSV_BAD_NUMBER,
    ),
    Bad(
        "formula cell @SUM",
        with_row(1, row(1).replace(",99,", ",@SUM(1+1)*cmd|' /C calc'!A0,")),
        E.CSV_BAD_NUMBER,
    ),
    Bad("formula as timestamp", with_row(0, row(0, ts="=NOW()")), E.CSV_BAD_TIMESTAMP),
    Bad("hexadecimal price", with_row(1, row(1).replace(",101,", ",0x65,")), E.CSV_BAD_NUMBER),
    Bad(
        "digit separators in a price",
        with_row(1, row(1).replace(",101,", ",1_01,")),
        E.CSV_BAD_NUMBER,
    ),
    Bad("missing value", with_row(1, row(1).replace(",99,", ",,")), E.CSV_MISSING_VALUE),
    # --- structure
    Bad(
        "missing columns",
        csv([r.rsplit(",", 1)[0] for r in rows(3)], header="time,open,high,low,close"),
        E.CSV_MISSING_COLUMN,
    ),
    Bad(
        "duplicated column names",
        csv(
            [r.replace(",", ",100,", 1) for r in rows(3)],
            header="time,open,open,high,low,close,volume",
        ),
        E.CSV_AMBIGUOUS_COLUMN,
    ),
    Bad(
        "two timestamp aliases",
        csv([f"{r.split(',')[0]},{r}" for r in rows(3)], header="timestamp," + HEADER),
        E.CSV_AMBIGUOUS_COLUMN,
    ),
    Bad("headerless, three columns", csv([f"{T0_S},1,2"], header=None), E.CSV_MISSING_COLUMN),
    Bad("extra field on one row", with_row(2, row(2) + ",99"), E.CSV_MALFORMED),
    Bad("5,000 extra fields on one row", with_row(2, row(2) + ",1" * 5000), E.CSV_MALFORMED),
    Bad(
        "quoted comma in the header",
        csv(rows(2), header='"time,utc",open,high,low,close,volume'),
        E.CSV_MALFORMED,
    ),
    Bad(
        "quoted newline in a price",
        with_row(1, row(1).replace(",101,", ',"10\n1",')),
        E.CSV_BAD_NUMBER,
    ),
    Bad("unbalanced quote mid-file", with_row(2, row(2).replace(",99", ',"99')), E.CSV_MALFORMED),
    Bad(
        "header with escape sequences",
        csv(rows(2), header="\x1b[2J\x1b[31mtime,open,high,low"),
        E.CSV_MISSING_COLUMN,
    ),
    # --- limits
    Bad("10,000 columns", csv([_WIDE_ROW], header=_WIDE_HEADER), E.LIMIT_COLUMNS),
    Bad("2 MiB line after valid rows", VALID + b"7" * (2 * MIB) + b"\n", E.LIMIT_LINE_LENGTH),
    Bad("2 MiB header without line ends", b"time" + b",x" * MIB, E.LIMIT_LINE_LENGTH),
    Bad("1 GB single line", write_long_line, E.LIMIT_LINE_LENGTH, huge=True),
]

GOOD: list[Good] = [
    Good("plain", VALID, 6, "2024-01-01T00:00:00Z"),
    Good("UTF-8 BOM", b"\xef\xbb\xbf" + VALID, 6, "2024-01-01T00:00:00Z"),
    Good("CRLF line ends", csv(rows(6), newline="\r\n"), 6, "2024-01-01T00:00:00Z"),
    Good("BOM and CRLF", b"\xef\xbb\xbf" + csv(rows(4), newline="\r\n"), 4, "2024-01-01T00:00:00Z"),
    Good("no final newline", VALID.rstrip(b"\n"), 6, "2024-01-01T00:00:00Z"),
    Good("trailing blank lines", VALID + b"\n\n\r\n", 6, "2024-01-01T00:00:00Z"),
    Good(
        "extra columns",
        csv([r + ",BTCUSDT,42" for r in rows(5)], header=HEADER + ",symbol,trades"),
        5,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "columns reordered, upper case",
        csv(
            [",".join(r.split(",")[::-1]) for r in rows(5)],
            header="VOLUME,Close,Low,High,Open,Timestamp",
        ),
        5,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "offset +05:30",
        csv([row(i, ts=iso(i, "+05:30")) for i in range(4)]),
        4,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "offset -08:00",
        csv([row(i, ts=iso(i, "-08:00")) for i in range(4)]),
        4,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "mixed offsets, one instant each",
        csv([row(0, ts=iso(0, "+05:30")), row(1), row(2, ts=iso(2, "-08:00"))]),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "gaps in the series",
        csv(rows(3) + rows(3, start=60) + rows(2, start=600)),
        8,
        "2024-01-01T00:00:00Z",
    ),
    Good("zero-volume bars", csv([row(i, v=0) for i in range(5)]), 5, "2024-01-01T00:00:00Z"),
    Good(
        "flat zero-volume bars",
        csv([row(i, 5, 5, 5, 5, 0) for i in range(3)]),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "quoted numeric fields",
        csv(['"' + r.replace(",", '","') + '"' for r in rows(4)]),
        4,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "spaces around cells",
        csv([" " + r.replace(",", " , ") + " " for r in rows(4)]),
        4,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "scientific notation",
        csv([row(i).replace(",100.5,", ",1.005e2,") for i in range(3)]),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "epoch seconds",
        csv([row(i, ts=str(T0_S + 60 * i)) for i in range(3)]),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "epoch milliseconds",
        csv([row(i, ts=str((T0_S + 60 * i) * 1000)) for i in range(3)]),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "epoch nanoseconds",
        csv([row(i, ts=str((T0_S + 60 * i) * 10**9)) for i in range(3)]),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "headerless Binance klines",
        csv([kline(i) for i in range(3)], header=None),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "naive times with a named zone",
        csv([row(i, ts=f"2024-01-01 05:3{i}") for i in range(3)]),
        3,
        "2024-01-01T00:00:00Z",
        timezone="Asia/Kolkata",
    ),
    Good(
        "lower-case z, no seconds",
        csv([row(i, ts=f"2024-01-01T00:0{i}z") for i in range(3)]),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "non-ASCII extra column",
        csv([r + ",Zürich" for r in rows(3)], header=HEADER + ",venue"),
        3,
        "2024-01-01T00:00:00Z",
    ),
    Good(
        "a long but legal line",
        csv([r + ",x" + "y" * 100_000 for r in rows(2)], header=HEADER + ",note"),
        2,
        "2024-01-01T00:00:00Z",
    ),
]


def materialise(data: bytes | Writer, path: Path) -> Path:
    """Write a case's file at ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        data(path)
    return path

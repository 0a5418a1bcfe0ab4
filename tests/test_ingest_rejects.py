"""Every way an input is refused: the stable code, the offending lines, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import HEADER, T0_MS, CsvWriter, minute_rows, tree
from quantrun.api import ingest_file
from quantrun.errors import ErrorCode, QuantrunError
from quantrun.settings import Settings


def _rows_with(index: int, row: str, n: int = 6) -> list[str]:
    rows = minute_rows(n)
    rows[index] = row
    return rows


def _ts(i: int) -> int:
    return T0_MS + i * 60_000


# (case id, rows, header, expected code, expected first line numbers, extra ingest kwargs)
CASES: list[tuple[str, list[str], str | None, ErrorCode, list[int], dict[str, object]]] = [
    ("header only", [], HEADER, ErrorCode.INPUT_EMPTY, [], {}),
    (
        "missing column",
        [r.rsplit(",", 1)[0] for r in minute_rows(3)],
        "time,open,high,low,close",
        ErrorCode.CSV_MISSING_COLUMN,
        [1],
        {},
    ),
    (
        "two timestamp columns",
        [f"{r.split(',')[0]},{r}" for r in minute_rows(3)],
        "timestamp,time,open,high,low,close,volume",
        ErrorCode.CSV_AMBIGUOUS_COLUMN,
        [1],
        {},
    ),
    (
        "extra field on a row",
        _rows_with(2, f"{_ts(2)},1,2,0.5,1.5,3,99"),
        HEADER,
        ErrorCode.CSV_MALFORMED,
        [4],
        {},
    ),
    (
        "missing value",
        _rows_with(1, f"{_ts(1)},1,2,0.5,,3"),
        HEADER,
        ErrorCode.CSV_MISSING_VALUE,
        [3],
        {},
    ),
    ("blank line inside", _rows_with(3, ""), HEADER, ErrorCode.CSV_MISSING_VALUE, [5], {}),
    (
        "unparseable time",
        _rows_with(2, "yesterday,1,2,0.5,1.5,3"),
        HEADER,
        ErrorCode.CSV_BAD_TIMESTAMP,
        [4],
        {},
    ),
    (
        "yyyymmdd integer",
        _rows_with(0, "20240101,1,2,0.5,1.5,3"),
        HEADER,
        ErrorCode.CSV_BAD_TIMESTAMP,
        [2],
        {},
    ),
    (
        "naive ISO",
        ["2024-01-01T00:00:00,1,2,0.5,1.5,3", "2024-01-01T00:01:00,1,2,0.5,1.5,3"],
        HEADER,
        ErrorCode.CSV_NAIVE_TIMESTAMP,
        [2, 3],
        {},
    ),
    (
        "ISO with and without offset",
        ["2024-01-01T00:00:00Z,1,2,0.5,1.5,3", "2024-01-01T00:01:00,1,2,0.5,1.5,3"],
        HEADER,
        ErrorCode.CSV_AMBIGUOUS_TIMESTAMP,
        [3],
        {},
    ),
    (
        "epoch units mixed",
        _rows_with(3, f"{_ts(3) // 1000},1,2,0.5,1.5,3"),
        HEADER,
        ErrorCode.CSV_AMBIGUOUS_TIMESTAMP,
        [5],
        {},
    ),
    (
        "local time repeated at DST end",
        ["2024-11-03 01:30:00,1,2,0.5,1.5,3", "2024-11-03 01:31:00,1,2,0.5,1.5,3"],
        HEADER,
        ErrorCode.CSV_AMBIGUOUS_TIMESTAMP,
        [2, 3],
        {"timezone": "America/New_York"},
    ),
    (
        "year 2300",
        ["2300-01-01T00:00:00Z,1,2,0.5,1.5,3"],
        HEADER,
        ErrorCode.CSV_TIMESTAMP_OUT_OF_RANGE,
        [2],
        {},
    ),
    (
        "text price",
        _rows_with(4, f"{_ts(4)},abc,2,0.5,1.5,3"),
        HEADER,
        ErrorCode.CSV_BAD_NUMBER,
        [6],
        {},
    ),
    (
        "decimal comma",
        _rows_with(1, f'{_ts(1)},"1,5",2,0.5,1.5,3'),
        HEADER,
        ErrorCode.CSV_BAD_NUMBER,
        [3],
        {},
    ),
    ("NaN", _rows_with(2, f"{_ts(2)},NaN,2,0.5,1.5,3"), HEADER, ErrorCode.CSV_NONFINITE, [4], {}),
    (
        "inf volume",
        _rows_with(2, f"{_ts(2)},1,2,0.5,1.5,inf"),
        HEADER,
        ErrorCode.CSV_NONFINITE,
        [4],
        {},
    ),
    (
        "zero price",
        _rows_with(2, f"{_ts(2)},0,2,0,1.5,3"),
        HEADER,
        ErrorCode.CSV_NONPOSITIVE_PRICE,
        [4],
        {},
    ),
    (
        "negative price",
        _rows_with(0, f"{_ts(0)},-1,2,-2,1.5,3"),
        HEADER,
        ErrorCode.CSV_NONPOSITIVE_PRICE,
        [2],
        {},
    ),
    (
        "high below low",
        _rows_with(3, f"{_ts(3)},1,0.5,2,1,3"),
        HEADER,
        ErrorCode.CSV_HIGH_BELOW_LOW,
        [5],
        {},
    ),
    (
        "high below close",
        _rows_with(3, f"{_ts(3)},1,1.5,0.5,1.8,3"),
        HEADER,
        ErrorCode.CSV_HIGH_BELOW_OPEN_CLOSE,
        [5],
        {},
    ),
    (
        "low above open",
        _rows_with(3, f"{_ts(3)},1,2,1.2,1.5,3"),
        HEADER,
        ErrorCode.CSV_LOW_ABOVE_OPEN_CLOSE,
        [5],
        {},
    ),
    (
        "negative volume",
        _rows_with(5, f"{_ts(5)},1,2,0.5,1.5,-3"),
        HEADER,
        ErrorCode.CSV_NEGATIVE_VOLUME,
        [7],
        {},
    ),
    (
        "off the grid",
        _rows_with(2, f"{_ts(2) + 30_000},1,2,0.5,1.5,3"),
        HEADER,
        ErrorCode.CSV_OFF_GRID,
        [4],
        {},
    ),
    (
        "conflicting duplicate",
        _rows_with(3, f"{_ts(2)},1,2,0.5,1.5,3"),
        HEADER,
        ErrorCode.CSV_DUPLICATE_TIMESTAMP,
        [5],
        {},
    ),
    (
        "conflicting duplicate survives the exact-duplicate repair",
        _rows_with(3, f"{_ts(2)},1,2,0.5,1.5,3"),
        HEADER,
        ErrorCode.CSV_DUPLICATE_TIMESTAMP,
        [5],
        {"drop_exact_duplicates": True},
    ),
    (
        "exact duplicate",
        [*minute_rows(3), minute_rows(3)[2]],
        HEADER,
        ErrorCode.CSV_DUPLICATE_TIMESTAMP,
        [5],
        {},
    ),
    (
        "unsorted",
        [minute_rows(4)[i] for i in (0, 2, 1, 3)],
        HEADER,
        ErrorCode.CSV_UNSORTED,
        [4],
        {},
    ),
    (
        "5-minute bars declared 1m",
        [r for i, r in enumerate(minute_rows(30)) if i % 5 == 0],
        HEADER,
        ErrorCode.CSV_TIMEFRAME_MISMATCH,
        [],
        {},
    ),
    (
        "1m bars declared 1h",
        minute_rows(5),
        HEADER,
        ErrorCode.CSV_OFF_GRID,
        [3, 4, 5, 6],
        {"timeframe": "1h"},
    ),
    (
        "numbers as first line with --format generic",
        minute_rows(3),
        None,
        ErrorCode.CSV_MISSING_COLUMN,
        [1],
        {"format": "generic"},
    ),
]


@pytest.mark.parametrize(
    ("rows", "header", "code", "lines", "kwargs"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_rejected_with_code_and_lines(
    write_csv: CsvWriter,
    settings: Settings,
    runs_root: Path,
    rows: list[str],
    header: str | None,
    code: ErrorCode,
    lines: list[int],
    kwargs: dict[str, object],
) -> None:
    path = write_csv(rows, header=header)
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(path)], settings, **kwargs)
    exc = caught.value
    assert exc.code == code, exc.detail
    assert exc.lines[: len(lines)] == lines
    assert exc.exit_code in (3, 4)
    assert exc.hint and exc.title
    assert str(path.parent) not in exc.detail  # the user's own path is never echoed whole
    assert tree(runs_root) == []


def _raw(tmp_path: Path, data: bytes, name: str = "raw.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"", ErrorCode.INPUT_EMPTY, id="zero bytes"),
        pytest.param(b"\n\n  \n", ErrorCode.INPUT_EMPTY, id="only blank lines"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 40, ErrorCode.INPUT_BINARY, id="zip"),
        pytest.param(b"\x1f\x8b\x08\x00rest", ErrorCode.INPUT_BINARY, id="gzip"),
        pytest.param(b"PAR1....", ErrorCode.INPUT_BINARY, id="parquet"),
        pytest.param(HEADER.encode() + b"\n1,2\x00,3\n", ErrorCode.INPUT_BINARY, id="NUL byte"),
        pytest.param(
            (HEADER + "\n" + "\n".join(minute_rows(3)) + "\n").encode("utf-16"),
            ErrorCode.INPUT_ENCODING,
            id="utf-16",
        ),
        pytest.param(
            HEADER.encode() + b"\n" + minute_rows(1)[0].encode() + b",\xe9t\xe9\n",
            ErrorCode.INPUT_ENCODING,
            id="latin-1 byte",
        ),
        pytest.param(
            b"time;open;high;low;close;volume\n2024-01-01T00:00:00Z;1,0;2,0;0,5;1,5;3\n",
            ErrorCode.CSV_MISSING_COLUMN,
            id="semicolons and decimal commas",
        ),
        pytest.param(b"\nfoo,bar\n", ErrorCode.CSV_MALFORMED, id="leading blank line"),
    ],
)
def test_rejected_whole_file(
    tmp_path: Path, settings: Settings, runs_root: Path, data: bytes, code: ErrorCode
) -> None:
    path = _raw(tmp_path, data)
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(path)], settings)
    assert caught.value.code == code, caught.value.detail
    assert tree(runs_root) == []


def test_semicolon_file_gets_a_delimiter_note(tmp_path: Path, settings: Settings) -> None:
    path = _raw(tmp_path, b"time;open;high;low;close;volume\n2024-01-01T00:00:00Z;1;2;0;1;3\n")
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(path)], settings)
    assert "semicolons" in caught.value.detail


def test_latin1_error_names_the_line(tmp_path: Path, settings: Settings) -> None:
    data = (HEADER + "\n" + "\n".join(minute_rows(3))).encode() + b"\nnot,\xff\n"
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(_raw(tmp_path, data))], settings)
    assert caught.value.code == ErrorCode.INPUT_ENCODING
    assert caught.value.lines == [5]


def test_missing_file_and_directory(tmp_path: Path, settings: Settings) -> None:
    for target in (tmp_path / "nope.csv", tmp_path):
        with pytest.raises(QuantrunError) as caught:
            ingest_file([str(target)], settings)
        assert caught.value.code == ErrorCode.INPUT_NOT_FOUND
        assert str(tmp_path) not in caught.value.detail


def test_size_limit_blocks_before_reading(
    write_csv: CsvWriter, runs_root: Path, tmp_path: Path
) -> None:
    path = write_csv(minute_rows(50))
    small = Settings(runs_root=runs_root, max_input_bytes=path.stat().st_size - 1)
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(path)], small)
    assert caught.value.code == ErrorCode.LIMIT_INPUT_SIZE
    assert caught.value.exit_code == 4
    assert tree(runs_root) == []


def test_row_limit(write_csv: CsvWriter, runs_root: Path) -> None:
    path = write_csv(minute_rows(11))
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(path)], Settings(runs_root=runs_root, max_rows=10))
    assert caught.value.code == ErrorCode.LIMIT_ROWS
    assert caught.value.exit_code == 4
    assert tree(runs_root) == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"timezone": "Mars/Olympus"}, ErrorCode.TIMEZONE_UNKNOWN),
        ({"timeframe": "7m"}, ErrorCode.TIMEFRAME_UNKNOWN),
        ({"format": "excel"}, ErrorCode.USAGE_INVALID_OPTION),
        ({"symbol": "no spaces please"}, ErrorCode.USAGE_INVALID_OPTION),
    ],
)
def test_usage_errors(
    write_csv: CsvWriter, settings: Settings, kwargs: dict[str, str], code: ErrorCode
) -> None:
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(write_csv(minute_rows(3)))], settings, **kwargs)
    assert caught.value.code == code
    assert caught.value.exit_code == 2


def test_first_error_mentions_the_other_failures(write_csv: CsvWriter, settings: Settings) -> None:
    rows = minute_rows(6)
    rows[1] = f"{_ts(1)},1,2,0.5,,3"  # missing value
    rows[4] = f"{_ts(4)},1,2,0.5,1.5,-3"  # negative volume
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(write_csv(rows))], settings)
    assert caught.value.code == ErrorCode.CSV_MISSING_VALUE
    assert "CSV_NEGATIVE_VOLUME" in caught.value.detail
    assert caught.value.extra["failing_checks"] == ["CSV_MISSING_VALUE", "CSV_NEGATIVE_VOLUME"]


def test_many_offending_rows_are_capped_with_a_count(
    write_csv: CsvWriter, settings: Settings
) -> None:
    rows = [f"{_ts(i)},1,2,0.5,1.5,-1" for i in range(40)]
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(write_csv(rows))], settings)
    assert caught.value.lines == list(range(2, 12))
    assert "40 row(s)" in caught.value.detail and "(and 30 more)" in caught.value.detail

"""Hostile inputs: every file in the corpus is refused with its stable code (or, for the tricky
valid ones, accepted), through the Python API, the CLI runner and a real process; nothing is
ever written for a refused file; a fuzzer checks that no other exception type escapes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import tree
from hostile_corpus import BAD, GOOD, HEADER, MIB, VALID, Bad, Good, csv, materialise, rows
from quantrun.api import ingest_file, inspect_file
from quantrun.cli import main
from quantrun.data import source
from quantrun.errors import CATALOGUE, ErrorCode, QuantrunError
from quantrun.settings import Settings

SMALL_BAD = [c for c in BAD if not c.huge]
HUGE = next(c for c in BAD if c.huge)
_LIMIT_ENV = (
    "QUANTRUN_RUNS_ROOT",
    "QUANTRUN_MAX_INPUT_BYTES",
    "QUANTRUN_MAX_ROWS",
    "QUANTRUN_MAX_LINE_BYTES",
    "QUANTRUN_MAX_COLUMNS",
)


def test_corpus_is_big_enough_and_names_are_unique() -> None:
    assert len(BAD) >= 40 and len(GOOD) >= 10
    names = [c.name for c in BAD] + [c.name for c in GOOD]
    assert len(names) == len(set(names))
    assert all(c.code in CATALOGUE and c.code is not ErrorCode.INTERNAL for c in BAD)


def _refusal(settings_: Settings, path: Path, case: Bad) -> QuantrunError:
    with pytest.raises(QuantrunError) as caught:
        ingest_file([str(path)], settings_)
    return caught.value


def _assert_refused(exc: QuantrunError, code: ErrorCode) -> None:
    assert exc.code == code, f"{exc.code}: {exc.detail}"
    assert exc.code in CATALOGUE and exc.code is not ErrorCode.INTERNAL
    assert exc.exit_code == CATALOGUE[code].exit_code


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in _LIMIT_ENV:
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.mark.parametrize("case", SMALL_BAD, ids=lambda c: c.name)
def test_bad_file_is_refused_by_the_api(
    case: Bad, tmp_path: Path, runs_root: Path, settings: Settings
) -> None:
    path = materialise(case.data, tmp_path / "in" / f"input{case.suffix}")
    before = tree(runs_root)
    _assert_refused(_refusal(settings, path, case), case.code)
    try:
        inspection = inspect_file([str(path)], settings)
    except QuantrunError as exc:
        _assert_refused(exc, case.code)
    else:
        assert inspection.error is not None and inspection.bars is None
        _assert_refused(inspection.error, case.code)
    assert tree(runs_root) == before == []


@pytest.mark.parametrize("case", SMALL_BAD, ids=lambda c: c.name)
def test_bad_file_is_refused_by_the_cli(
    case: Bad, tmp_path: Path, runs_root: Path, runner: CliRunner
) -> None:
    path = materialise(case.data, tmp_path / "in" / f"input{case.suffix}")
    ingest = runner.invoke(main, ["data", "ingest", str(path), "--runs-root", str(runs_root)])
    inspect = runner.invoke(
        main, ["data", "inspect", str(path), "--runs-root", str(runs_root), "--json"]
    )
    for result in (ingest, inspect):
        assert result.exit_code == CATALOGUE[case.code].exit_code, result.output
        assert "Traceback" not in result.output
        assert str(runs_root) not in result.output
    # The error names the file, never where it is (inspect's report echoes the path as given).
    assert f"error[{case.code}]: " in ingest.stderr and str(tmp_path) not in ingest.output
    assert f'"code": "{case.code}"' in inspect.stdout
    assert tree(runs_root) == []


@pytest.mark.parametrize("case", GOOD, ids=lambda c: c.name)
def test_tricky_valid_file_is_accepted(case: Good, tmp_path: Path, settings: Settings) -> None:
    path = materialise(case.data, tmp_path / "good.csv")
    result = ingest_file([str(path)], settings, timezone=case.timezone)
    assert result.quality["rows"] == case.rows
    assert result.quality["first_bar"] == case.first_bar
    assert (
        inspect_file([str(path)], settings, timezone=case.timezone).dataset_id == result.dataset_id
    )


# --- the 1 GB line: one file, refused by the API, the CLI and a real process


@pytest.fixture(scope="module")
def huge_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = materialise(HUGE.data, tmp_path_factory.mktemp("huge") / "one-line.csv")
    try:
        yield path
    finally:
        path.unlink()


def test_huge_line_is_refused_without_reading_the_file(
    huge_line: Path, runs_root: Path, settings: Settings
) -> None:
    assert huge_line.stat().st_size > 900 * MIB
    tracemalloc.start()
    try:
        exc = _refusal(settings, huge_line, HUGE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_refused(exc, ErrorCode.LIMIT_LINE_LENGTH)
    assert exc.lines == [1]
    assert peak < 16 * MIB  # the limit (1 MiB) plus a chunk, not the file
    assert tree(runs_root) == []


def test_huge_line_through_the_cli_runner(
    huge_line: Path, runs_root: Path, runner: CliRunner
) -> None:
    result = runner.invoke(main, ["data", "ingest", str(huge_line), "--runs-root", str(runs_root)])
    assert result.exit_code == 4
    assert "error[LIMIT_LINE_LENGTH]: 'one-line.csv': line 1 is longer than" in result.stderr
    assert "QUANTRUN_MAX_LINE_BYTES" in result.stderr  # the hint
    assert tree(runs_root) == []


# Runs ``python -m quantrun ARGS`` and, at exit, writes the process's own peak RSS (VmHWM of
# its address space). ru_maxrss from wait4 would not do: on Linux it carries the parent's
# high-water mark across fork + exec, i.e. pytest's memory, not the child's.
_PEAK_RSS_WRAPPER = """
import atexit, runpy, sys
out = sys.argv[1]
def _peak():
    with open("/proc/self/status") as status, open(out, "w") as sink:
        sink.write(next(l for l in status if l.startswith("VmHWM:")).split()[1])
atexit.register(_peak)
sys.argv = ["quantrun", *sys.argv[2:]]
runpy.run_module("quantrun", run_name="__main__")
"""


def _run_quantrun(args: list[str], workdir: Path) -> tuple[int, str, float]:
    """Run ``python -m quantrun`` in a child process: exit status, output, peak RSS in MiB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTRUN_")}
    out_path = workdir / "child-output.txt"
    peak_path = workdir / "child-peak-kib.txt"
    with out_path.open("wb") as out:
        child = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS_WRAPPER, str(peak_path), *args],
            stdout=out,
            stderr=out,
            env=env,
            check=False,
        )
    rss_mib = int(peak_path.read_text()) / 1024  # VmHWM is in KiB
    return child.returncode, out_path.read_text(encoding="utf-8"), rss_mib


def test_huge_line_in_a_real_process(huge_line: Path, tmp_path: Path, runs_root: Path) -> None:
    status, output, rss_mib = _run_quantrun(
        ["data", "ingest", str(huge_line), "--runs-root", str(runs_root)], tmp_path
    )
    assert status == 4, output
    assert output.startswith("error[LIMIT_LINE_LENGTH]: ")
    assert "Traceback" not in output and str(runs_root) not in output
    assert rss_mib < 400, f"peak RSS {rss_mib:.0f} MiB"  # interpreter + polars + ~2 MiB read
    assert tree(runs_root) == []


@pytest.mark.parametrize(
    "name", ["zip archive of a valid CSV", "UTF-16 LE with BOM", "10,000 columns"]
)
def test_refusals_in_a_real_process(name: str, tmp_path: Path, runs_root: Path) -> None:
    case = next(c for c in BAD if c.name == name)
    path = materialise(case.data, tmp_path / f"input{case.suffix}")
    status, output, _ = _run_quantrun(
        ["data", "ingest", str(path), "--runs-root", str(runs_root), "--json"], tmp_path
    )
    assert status == CATALOGUE[case.code].exit_code, output
    assert f'"code": "{case.code}"' in output
    assert "Traceback" not in output and str(tmp_path) not in output
    assert tree(runs_root) == []


# --- the limits are settings, and the line scan is exact at chunk boundaries


def test_limits_come_from_settings(tmp_path: Path, runs_root: Path) -> None:
    path = materialise(
        csv([r + ",1,2" for r in rows(3)], header=HEADER + ",a,b"), tmp_path / "8.csv"
    )
    narrow = Settings(runs_root=runs_root, max_columns=7)
    with pytest.raises(QuantrunError) as columns:
        ingest_file([str(path)], narrow)
    assert columns.value.code is ErrorCode.LIMIT_COLUMNS
    assert columns.value.extra == {"columns": 8, "limit": 7}
    short = Settings(runs_root=runs_root, max_line_bytes=40)
    with pytest.raises(QuantrunError) as line:
        ingest_file([str(path)], short)
    assert line.value.code is ErrorCode.LIMIT_LINE_LENGTH
    assert line.value.lines == [2]  # the header is 35 bytes, the first row longer
    assert ingest_file([str(path)], Settings(runs_root=runs_root, max_columns=8)).created
    wide = ingest_file([str(path)], Settings(runs_root=runs_root, max_line_bytes=64))
    assert wide.quality["rows"] == 3


def _longest_line(data: bytes) -> tuple[int, int]:
    """(length, 1-based number) of the first longest line, the slow obvious way."""
    lengths = [len(line) for line in data.split(b"\n")]
    longest = max(lengths)
    return longest, lengths.index(longest) + 1


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    data=st.lists(st.sampled_from([b"\n", b"x", b"yy", b"\r\n", b"z" * 9]), max_size=60).map(
        b"".join
    ),
    limit=st.integers(0, 12),
    chunk=st.integers(1, 16),
)
def test_line_scan_matches_a_plain_split(data: bytes, limit: int, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.csv"
        path.write_bytes(data)
        longest, number = _longest_line(data)
        saved = source._SCAN_CHUNK
        source._SCAN_CHUNK = chunk
        try:
            if longest <= limit:
                source._check_line_lengths(str(path), limit)
                return
            with pytest.raises(QuantrunError) as caught:
                source._check_line_lengths(str(path), limit)
        finally:
            source._SCAN_CHUNK = saved
    assert caught.value.code is ErrorCode.LIMIT_LINE_LENGTH
    # The scan names the first line found over the limit, which is at or before the longest.
    first_over = next(i for i, n in enumerate(data.split(b"\n"), 1) if len(n) > limit)
    assert caught.value.lines == [first_over] and first_over <= number


# --- the fuzzer: mutated and random files either ingest or fail with a catalogue code

_TOKENS = [
    b",",
    b'"',
    b"\x00",
    b"\n",
    b"\r",
    b";",
    b"\t",
    b" ",
    b"\xef\xbb\xbf",
    b"\xff",
    b"nan",
    b"-inf",
    b"inf",
    b"-1",
    b"0",
    b"1e400",
    b"-1e-400",
    b"9" * 40,
    b"1" * 20,
    b"=cmd|'/C x'!A0",
    b"2024-01-01T00:00:00Z",
    b"2024-01-01 00:00",
    b"+05:30",
    b"1704067200000",
    b"\xc3\xa9",
    b"time",
    b"volume",
    b"open_time",
    b'""',
    b"\\",
    b"#",
]
_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
    st.integers(-(10**30), 10**30).map(lambda i: str(i).encode()),
    st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(_TOKENS),
)


_SEEDS = [
    VALID,
    csv(rows(8), newline="\r\n"),
    csv([row.replace(":00Z", ":00+05:30", 1) for row in rows(5)]),
    csv([f"{1_704_067_200_000 + 60_000 * i},1,2,0.5,1.5,{i},0,0,0,0,0,0" for i in range(6)], None),
    csv([f"{1_704_067_200 + 60 * i},{100 + i},{102 + i},{99 + i},{101 + i},0" for i in range(6)]),
]


@st.composite
def mutated_csv(draw: st.DrawFn) -> bytes:
    """A small valid OHLCV CSV with one to four mutations, mostly below the header."""
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    body = data.find(b"\n") + 1 if draw(st.integers(0, 4)) else 0
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "cell", "swap"]))
        end = max(len(data) - 1, 0)
        at = draw(st.integers(min(body, end), end))
        if kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(_TOKENS), _CELLS))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif kind == "cell":
            lines = bytes(data).split(b"\n")
            index = draw(st.integers(0 if body == 0 else min(1, len(lines) - 1), len(lines) - 1))
            cells = lines[index].split(b",")
            cells[draw(st.integers(0, len(cells) - 1))] = draw(_CELLS)
            lines[index] = b",".join(cells)
            data = bytearray(b"\n".join(lines))
        else:  # swap two columns on every line
            i, j = draw(st.integers(0, 5)), draw(st.integers(0, 5))
            lines = []
            for line in bytes(data).split(b"\n"):
                cells = line.split(b",")
                if max(i, j) < len(cells):
                    cells[i], cells[j] = cells[j], cells[i]
                lines.append(b",".join(cells))
            data = bytearray(b"\n".join(lines))
    return bytes(data)


_OPTIONS = st.fixed_dictionaries(
    {
        "timeframe": st.sampled_from(["1m", "1m", "1m", "5m", "1d"]),
        "timezone": st.sampled_from([None, None, "UTC", "America/New_York"]),
        "format": st.sampled_from(["auto", "auto", "auto", "generic", "binance"]),
        "sort": st.booleans(),
        "drop_exact_duplicates": st.booleans(),
    }
)
_FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _ingest_or_refuse(data: bytes, options: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(data)
        runs_root = Path(tmp) / "rr"
        # Small limits, so the limit refusals are fuzzed too.
        limits = Settings(runs_root=runs_root, max_line_bytes=4096, max_columns=64)
        try:
            ingest_file([str(path)], limits, **options)
        except QuantrunError as exc:
            assert exc.code in CATALOGUE and exc.code is not ErrorCode.INTERNAL, exc.detail
            assert tree(runs_root) == []


@_FUZZ
@given(data=mutated_csv(), options=_OPTIONS)
def test_fuzz_mutated_csv(data: bytes, options: dict[str, object]) -> None:
    _ingest_or_refuse(data, options)


@_FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(_CELLS, max_size=40).map(lambda cells: b",".join(cells) + b"\n"),
    ),
    options=_OPTIONS,
)
def test_fuzz_random_bytes(data: bytes, options: dict[str, object]) -> None:
    _ingest_or_refuse(data, options)

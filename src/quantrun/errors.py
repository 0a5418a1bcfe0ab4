"""The error catalogue: every failure a user can see, with a stable code.

Exception tree (one class per outcome, the code says which failure it was)::

    QuantrunError            base; carries code, detail, hint, offending lines
    ├── UsageError           the request itself is wrong (bad flag value)      exit 2, HTTP 400
    ├── InputRejected        the input data failed validation (fail closed)   exit 3, HTTP 422
    ├── LimitBlocked         a limit or the kill switch refused the work     exit 4, HTTP 413/429
    ├── NotFound             an id that does not exist                         exit 3, HTTP 404
    └── InternalError        a bug or an environment failure                  exit 1, HTTP 500

``CATALOGUE`` is the one table the CLI, the docs (``docs/errors.md``) and the tests read.
Raise with :func:`error`, which picks the class from the catalogue::

    raise error(ErrorCode.CSV_MISSING_COLUMN, "no 'close' column", lines=[1])
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_REPORTED_LINES = 10


class ErrorCode(enum.StrEnum):
    """Stable error codes. Renaming one is a breaking change."""

    # usage
    USAGE_INVALID_OPTION = "USAGE_INVALID_OPTION"
    TIMEFRAME_UNKNOWN = "TIMEFRAME_UNKNOWN"
    TIMEZONE_UNKNOWN = "TIMEZONE_UNKNOWN"
    RESAMPLE_DOWNWARD = "RESAMPLE_DOWNWARD"
    CALENDAR_UNKNOWN = "CALENDAR_UNKNOWN"
    CALENDAR_UNAVAILABLE = "CALENDAR_UNAVAILABLE"
    SETTINGS_INVALID = "SETTINGS_INVALID"
    # input rejected: the file as a whole
    INPUT_NOT_FOUND = "INPUT_NOT_FOUND"
    INPUT_EMPTY = "INPUT_EMPTY"
    INPUT_BINARY = "INPUT_BINARY"
    INPUT_ENCODING = "INPUT_ENCODING"
    CSV_MALFORMED = "CSV_MALFORMED"
    CSV_MISSING_COLUMN = "CSV_MISSING_COLUMN"
    CSV_AMBIGUOUS_COLUMN = "CSV_AMBIGUOUS_COLUMN"
    # input rejected: row-level checks
    CSV_MISSING_VALUE = "CSV_MISSING_VALUE"
    CSV_BAD_TIMESTAMP = "CSV_BAD_TIMESTAMP"
    CSV_NAIVE_TIMESTAMP = "CSV_NAIVE_TIMESTAMP"
    CSV_AMBIGUOUS_TIMESTAMP = "CSV_AMBIGUOUS_TIMESTAMP"
    CSV_TIMESTAMP_OUT_OF_RANGE = "CSV_TIMESTAMP_OUT_OF_RANGE"
    CSV_BAD_NUMBER = "CSV_BAD_NUMBER"
    CSV_NONFINITE = "CSV_NONFINITE"
    CSV_NONPOSITIVE_PRICE = "CSV_NONPOSITIVE_PRICE"
    CSV_HIGH_BELOW_LOW = "CSV_HIGH_BELOW_LOW"
    CSV_HIGH_BELOW_OPEN_CLOSE = "CSV_HIGH_BELOW_OPEN_CLOSE"
    CSV_LOW_ABOVE_OPEN_CLOSE = "CSV_LOW_ABOVE_OPEN_CLOSE"
    CSV_NEGATIVE_VOLUME = "CSV_NEGATIVE_VOLUME"
    CSV_OFF_GRID = "CSV_OFF_GRID"
    CSV_UNSORTED = "CSV_UNSORTED"
    CSV_DUPLICATE_TIMESTAMP = "CSV_DUPLICATE_TIMESTAMP"
    CSV_TIMEFRAME_MISMATCH = "CSV_TIMEFRAME_MISMATCH"
    RESAMPLE_SESSION_GRID = "RESAMPLE_SESSION_GRID"
    CALENDAR_OUT_OF_RANGE = "CALENDAR_OUT_OF_RANGE"
    # strategies, risk, runs
    STRATEGY_UNKNOWN = "STRATEGY_UNKNOWN"
    STRATEGY_PARAMS_INVALID = "STRATEGY_PARAMS_INVALID"
    RISK_LEVEL_UNKNOWN = "RISK_LEVEL_UNKNOWN"
    RISK_CONFIG_INVALID = "RISK_CONFIG_INVALID"
    COSTS_INVALID = "COSTS_INVALID"
    RUN_WINDOW_INVALID = "RUN_WINDOW_INVALID"
    RUN_RISK_CONFLICT = "RUN_RISK_CONFLICT"
    STRATEGY_SOURCE_INVALID = "STRATEGY_SOURCE_INVALID"
    STRATEGY_EXISTS = "STRATEGY_EXISTS"
    STRATEGY_FAILED = "STRATEGY_FAILED"
    STRATEGY_TIMEOUT = "STRATEGY_TIMEOUT"
    STRATEGY_IMPORT_FAILED = "STRATEGY_IMPORT_FAILED"
    STRATEGY_NONE_FOUND = "STRATEGY_NONE_FOUND"
    STRATEGY_ID_INVALID = "STRATEGY_ID_INVALID"
    STRATEGY_ID_DUPLICATE = "STRATEGY_ID_DUPLICATE"
    STRATEGY_ID_BUILTIN = "STRATEGY_ID_BUILTIN"
    STRATEGY_PARAMS_INVALID_MODEL = "STRATEGY_PARAMS_INVALID_MODEL"
    STRATEGY_SIGNALS_INVALID = "STRATEGY_SIGNALS_INVALID"
    STRATEGY_NONDETERMINISTIC = "STRATEGY_NONDETERMINISTIC"
    STRATEGY_LOOKAHEAD = "STRATEGY_LOOKAHEAD"
    STRATEGY_WARMUP = "STRATEGY_WARMUP"
    STRATEGY_CHECK_TIMEOUT = "STRATEGY_CHECK_TIMEOUT"
    STRATEGY_CHECK_CRASHED = "STRATEGY_CHECK_CRASHED"
    RUN_WINDOW_EMPTY = "RUN_WINDOW_EMPTY"
    RUN_NOT_FOUND = "RUN_NOT_FOUND"
    RUN_VERIFY_FAILED = "RUN_VERIFY_FAILED"
    RUN_CREATION_DISABLED = "RUN_CREATION_DISABLED"
    UPLOAD_MISSING = "UPLOAD_MISSING"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    JOB_NOT_RETRYABLE = "JOB_NOT_RETRYABLE"
    JOB_INTERRUPTED = "JOB_INTERRUPTED"
    LIMIT_QUEUE_FULL = "LIMIT_QUEUE_FULL"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    KILL_SWITCH_ENGAGED = "KILL_SWITCH_ENGAGED"
    COMPARE_TOO_FEW_RUNS = "COMPARE_TOO_FEW_RUNS"
    COMPARE_DUPLICATE_RUN = "COMPARE_DUPLICATE_RUN"
    SWEEP_GRID_INVALID = "SWEEP_GRID_INVALID"
    SWEEP_PARAM_UNKNOWN = "SWEEP_PARAM_UNKNOWN"
    SWEEP_RANGE_INVALID = "SWEEP_RANGE_INVALID"
    SWEEP_VALUE_INVALID = "SWEEP_VALUE_INVALID"
    SWEEP_CELLS_INVALID = "SWEEP_CELLS_INVALID"
    SWEEP_NOT_FOUND = "SWEEP_NOT_FOUND"
    SWEEP_IN_PROGRESS = "SWEEP_IN_PROGRESS"
    SWEEP_INTERRUPTED = "SWEEP_INTERRUPTED"
    SWEEP_EXECUTOR_FAILED = "SWEEP_EXECUTOR_FAILED"
    SWEEP_INPUT_CHANGED = "SWEEP_INPUT_CHANGED"
    SWEEP_DATASET_DUPLICATE = "SWEEP_DATASET_DUPLICATE"
    SWEEP_DATASET_MISMATCH = "SWEEP_DATASET_MISMATCH"
    # limits
    LIMIT_INPUT_SIZE = "LIMIT_INPUT_SIZE"
    LIMIT_ROWS = "LIMIT_ROWS"
    LIMIT_LINE_LENGTH = "LIMIT_LINE_LENGTH"
    LIMIT_COLUMNS = "LIMIT_COLUMNS"
    LIMIT_CONCURRENT_BUILDS = "LIMIT_CONCURRENT_BUILDS"
    LIMIT_RATE = "LIMIT_RATE"
    LIMIT_DISK_FULL = "LIMIT_DISK_FULL"
    LIMIT_COMPARE_RUNS = "LIMIT_COMPARE_RUNS"
    LIMIT_SWEEP_CELLS = "LIMIT_SWEEP_CELLS"
    # web hardening
    HOST_NOT_ALLOWED = "HOST_NOT_ALLOWED"
    CSRF_REJECTED = "CSRF_REJECTED"
    # providers: public archives fetched over the network
    FETCH_UNREACHABLE = "FETCH_UNREACHABLE"
    FETCH_NOT_FOUND = "FETCH_NOT_FOUND"
    FETCH_CHECKSUM_MISMATCH = "FETCH_CHECKSUM_MISMATCH"
    FETCH_TRUNCATED = "FETCH_TRUNCATED"
    FETCH_ARCHIVE_INVALID = "FETCH_ARCHIVE_INVALID"
    FETCH_INTERRUPTED = "FETCH_INTERRUPTED"
    # storage / lookups
    DATASET_NOT_FOUND = "DATASET_NOT_FOUND"
    DATASET_CORRUPT = "DATASET_CORRUPT"
    STORAGE_FAILED = "STORAGE_FAILED"
    DAEMON_START_FAILED = "DAEMON_START_FAILED"
    INTERNAL = "INTERNAL"


class Category(enum.StrEnum):
    USAGE = "usage"
    INPUT = "input"
    LIMIT = "limit"
    NOT_FOUND = "not_found"
    INTERNAL = "internal"


#: Exit status of the CLI for each category (documented in docs/cli.md).
EXIT_CODES: dict[Category, int] = {
    Category.USAGE: 2,
    Category.INPUT: 3,
    Category.NOT_FOUND: 3,
    Category.LIMIT: 4,
    Category.INTERNAL: 1,
}


@dataclass(frozen=True)
class ErrorSpec:
    code: ErrorCode
    category: Category
    http_status: int
    title: str
    hint: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.category]


def _spec(code: ErrorCode, category: Category, status: int, title: str, hint: str) -> ErrorSpec:
    return ErrorSpec(code, category, status, title, hint)


_U, _I, _L, _N, _X = (
    Category.USAGE,
    Category.INPUT,
    Category.LIMIT,
    Category.NOT_FOUND,
    Category.INTERNAL,
)
E = ErrorCode

CATALOGUE: dict[ErrorCode, ErrorSpec] = {
    s.code: s
    for s in (
        _spec(
            E.USAGE_INVALID_OPTION,
            _U,
            400,
            "Invalid option",
            "Check the option's value against `quantrun COMMAND --help`.",
        ),
        _spec(
            E.TIMEFRAME_UNKNOWN,
            _U,
            400,
            "Unknown timeframe",
            "Use one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w.",
        ),
        _spec(
            E.TIMEZONE_UNKNOWN,
            _U,
            400,
            "Unknown time zone",
            "Name an IANA time zone such as UTC, Europe/London or America/New_York.",
        ),
        _spec(
            E.RESAMPLE_DOWNWARD,
            _U,
            400,
            "Cannot resample to a finer timeframe",
            "Pick a timeframe that is a whole multiple of the dataset's base timeframe.",
        ),
        _spec(
            E.CALENDAR_UNKNOWN,
            _U,
            400,
            "Unknown exchange calendar",
            "Name a calendar of the exchange-calendars library, such as XNYS, XLON, XTKS or 24/5 "
            "(the message lists close names).",
        ),
        _spec(
            E.CALENDAR_UNAVAILABLE,
            _U,
            400,
            "Exchange calendars are not installed",
            "Install the optional extra (pip install 'quantrun[calendars]'), or leave out "
            "--calendar to treat the data as trading around the clock.",
        ),
        _spec(
            E.SETTINGS_INVALID,
            _U,
            400,
            "Invalid setting",
            "Fix the QUANTRUN_* environment variable or flag named in the message.",
        ),
        _spec(
            E.STRATEGY_UNKNOWN,
            _U,
            400,
            "Unknown strategy",
            "Run `quantrun strategies list` to see the registered strategies.",
        ),
        _spec(
            E.STRATEGY_PARAMS_INVALID,
            _U,
            400,
            "Invalid strategy parameters",
            "Pass parameters as --param name=value; `quantrun strategies list` shows each "
            "strategy's parameters, types and ranges.",
        ),
        _spec(
            E.RISK_LEVEL_UNKNOWN,
            _U,
            400,
            "Unknown risk level",
            "Use conservative, moderate or aggressive, or give a JSON risk file with --risk-file.",
        ),
        _spec(
            E.RISK_CONFIG_INVALID,
            _U,
            400,
            "Invalid risk configuration",
            "A risk file is a JSON object with position_fraction (0 < f <= 1), stop_loss_pct, "
            "take_profit_pct, max_drawdown_halt_pct (each a percentage or null) and allow_short.",
        ),
        _spec(
            E.COSTS_INVALID,
            _U,
            400,
            "Invalid costs",
            "Commission and slippage are basis points from 0 to 1000; cash must be above zero.",
        ),
        _spec(
            E.RUN_WINDOW_INVALID,
            _U,
            400,
            "Invalid time window",
            "Give --start/--end as ISO-8601 with an offset or Z (2024-01-31T00:00:00Z); "
            "start must be before end.",
        ),
        _spec(
            E.STRATEGY_SOURCE_INVALID,
            _U,
            400,
            "Not a strategy source",
            "Give a UTF-8 .py file or a package folder (with __init__.py) under the size limit "
            "that defines Strategy subclasses; `quantrun strategies check PATH` reports why.",
        ),
        _spec(
            E.STRATEGY_EXISTS,
            _U,
            409,
            "Strategy id and version already taken",
            "A strategy id and version name one source: bump `version` in your class to add "
            "changed code, or pick an id no built-in uses (`quantrun strategies list`).",
        ),
        _spec(
            E.STRATEGY_TIMEOUT,
            _L,
            422,
            "The strategy took too long",
            "The strategy's signals did not finish within QUANTRUN_STRATEGY_TIME_LIMIT_SECONDS; "
            "look for an endless loop (`quantrun strategies check PATH` reports its time per "
            "100k bars) or raise the limit.",
        ),
        _spec(
            E.STRATEGY_FAILED,
            _I,
            422,
            "The strategy raised an error",
            "Fix the strategy's code at the file and line the message names (check it with "
            "`quantrun strategies check PATH`), add it again with a new version, and retry.",
        ),
        _spec(
            E.STRATEGY_IMPORT_FAILED,
            _U,
            422,
            "The strategy code does not import",
            "Fix the error at the file and line the message names; the code must import on its "
            "own (quantrun and the packages installed beside it, nothing from its own folder "
            "unless it is a package).",
        ),
        _spec(
            E.STRATEGY_NONE_FOUND,
            _U,
            422,
            "No strategy in the code",
            "Define a subclass of quantrun.strategies.base.Strategy with id, version, "
            "description, Params and a signals classmethod (docs/strategies.md).",
        ),
        _spec(
            E.STRATEGY_ID_INVALID,
            _U,
            422,
            "Malformed strategy id, version or description",
            "An id is lower-case letters, digits and underscores, starting with a letter (at most "
            "64); a version is letters, digits, '.', '_' or '-' (at most 32); a description is "
            "one non-empty line.",
        ),
        _spec(
            E.STRATEGY_ID_DUPLICATE,
            _U,
            422,
            "Two strategies claim one id and version",
            "Give each class in the code its own id, or its own version of a shared id.",
        ),
        _spec(
            E.STRATEGY_ID_BUILTIN,
            _U,
            422,
            "Strategy id taken by a built-in",
            "Pick an id that no built-in uses (`quantrun strategies list` shows them).",
        ),
        _spec(
            E.STRATEGY_PARAMS_INVALID_MODEL,
            _U,
            422,
            "Invalid parameter model",
            "Params is a frozen pydantic model (subclass StrategyParams) whose fields all have "
            "valid defaults; a number needs both bounds (Field(ge=..., le=...)), a string its "
            "choices (Literal[...]).",
        ),
        _spec(
            E.STRATEGY_SIGNALS_INVALID,
            _U,
            422,
            "Invalid signals",
            "signals is a classmethod returning Signals: target an int8 array of -1, 0 or +1 with "
            "one value per bar, each indicator a float64 array of the same length.",
        ),
        _spec(
            E.STRATEGY_NONDETERMINISTIC,
            _U,
            422,
            "Signals differ between two calls",
            "The same bars and parameters must give the same signals: seed any randomness "
            "(np.random.default_rng(seed)) and keep no state between calls (no clock, no "
            "globals).",
        ),
        _spec(
            E.STRATEGY_LOOKAHEAD,
            _U,
            422,
            "Signals look ahead",
            "Bar i may use bars 0..i only: no shift(-k), no centred windows, no statistic of the "
            "whole frame (its max, mean or a normalisation) applied to earlier bars.",
        ),
        _spec(
            E.STRATEGY_WARMUP,
            _U,
            422,
            "Indicator warms up with zeros",
            "Leave an indicator NaN until its window is full: fill_null(0), fillna(0) or np.zeros "
            "start it at a value it never had.",
        ),
        _spec(
            E.STRATEGY_CHECK_TIMEOUT,
            _U,
            422,
            "Strategy check timed out",
            "Look for a loop that never ends or a slow per-bar Python loop, or raise "
            "QUANTRUN_STRATEGY_CHECK_TIMEOUT_SECONDS.",
        ),
        _spec(
            E.STRATEGY_CHECK_CRASHED,
            _U,
            422,
            "Strategy check ended without a report",
            "The code ended the checking process (os._exit, a signal, a crash in native code) "
            "before it could report; call its signals from plain Python to see where.",
        ),
        _spec(
            E.RUN_RISK_CONFLICT,
            _U,
            400,
            "More than one risk choice",
            "Give one of --risk LEVEL or --risk-file FILE (API: risk, risk_file or "
            "risk_config), not several.",
        ),
        _spec(
            E.RUN_WINDOW_EMPTY,
            _I,
            422,
            "No bars in the window",
            "Widen --start/--end or pick a finer --timeframe; `quantrun data inspect` shows the "
            "data's first and last bar.",
        ),
        _spec(
            E.RUN_NOT_FOUND,
            _N,
            404,
            "Run not found",
            "List runs with `quantrun runs list`; a run id is 64 hexadecimal characters.",
        ),
        _spec(
            E.RUN_VERIFY_FAILED,
            _I,
            409,
            "Run does not verify",
            "An artifact differs from its manifest; run `quantrun registry check` and rebuild "
            "the run from its inputs.",
        ),
        _spec(
            E.RUN_CREATION_DISABLED,
            _L,
            403,
            "Run creation is switched off",
            "Start the server with --enable-run-creation (or QUANTRUN_ENABLE_RUN_CREATION=1); "
            "the CLI `quantrun runs create` works regardless.",
        ),
        _spec(
            E.UPLOAD_MISSING,
            _U,
            400,
            "No CSV file in the request",
            "Attach the CSV as the multipart field `file`.",
        ),
        _spec(
            E.JOB_NOT_FOUND,
            _N,
            404,
            "Job not found",
            "Job ids are 64 hexadecimal characters; see the run list for jobs in flight.",
        ),
        _spec(
            E.JOB_NOT_RETRYABLE,
            _U,
            409,
            "Job cannot be retried",
            "Only a failed job can be retried; a queued or running one is still in progress.",
        ),
        _spec(
            E.JOB_INTERRUPTED,
            _X,
            500,
            "Job interrupted",
            "The worker stopped (server restart or crash) before the job finished; retry it — "
            "a retry can never create a second run.",
        ),
        _spec(
            E.LIMIT_QUEUE_FULL,
            _L,
            503,
            "Too many jobs queued",
            "Wait for queued jobs to finish, or raise QUANTRUN_MAX_QUEUED_JOBS.",
        ),
        _spec(
            E.ROUTE_NOT_FOUND,
            _N,
            404,
            "No such page or endpoint",
            "Check the address; the API is described at /docs.",
        ),
        _spec(
            E.KILL_SWITCH_ENGAGED,
            _L,
            503,
            "Run creation is stopped by the kill switch",
            "See `quantrun killswitch status` for who stopped it and why; "
            "`quantrun killswitch off --reason TEXT` releases it.",
        ),
        _spec(
            E.COMPARE_TOO_FEW_RUNS,
            _U,
            400,
            "A comparison needs two or more runs",
            "Name at least two runs: run ids or unique prefixes of 8+ hexadecimal characters "
            "(`quantrun runs list` shows them).",
        ),
        _spec(
            E.COMPARE_DUPLICATE_RUN,
            _U,
            400,
            "The same run is named twice",
            "Name each run once; a prefix and the full id of one run count as the same run.",
        ),
        _spec(
            E.SWEEP_GRID_INVALID,
            _U,
            400,
            "Malformed sweep grid",
            "Give each axis as --grid NAME=V1,V2,... or --grid NAME=START:STOP:STEP, each name "
            "once and each value once (a grid file: a JSON object of NAME: values); see "
            "docs/sweeps.md.",
        ),
        _spec(
            E.SWEEP_PARAM_UNKNOWN,
            _U,
            400,
            "The strategy has no such parameter",
            "Name the strategy's own parameters; `quantrun strategies list` shows them.",
        ),
        _spec(
            E.SWEEP_RANGE_INVALID,
            _U,
            400,
            "Empty or malformed range",
            "Write a range as START:STOP:STEP with numbers, STEP above 0 and START at most "
            "STOP (both ends are included when on the step).",
        ),
        _spec(
            E.SWEEP_VALUE_INVALID,
            _U,
            400,
            "Not a number for a numeric parameter",
            "Give numbers for numeric parameters; `quantrun strategies list` shows each "
            "parameter's type and range.",
        ),
        _spec(
            E.SWEEP_CELLS_INVALID,
            _U,
            400,
            "The strategy refuses cells of the grid",
            "Change the grid so every cell is valid (e.g. fast below slow), or pass "
            "--skip-invalid to leave those cells out (they are recorded as skipped).",
        ),
        _spec(
            E.SWEEP_NOT_FOUND,
            _N,
            404,
            "Sweep not found",
            "List sweeps with `quantrun sweeps list`; a sweep id is 64 hexadecimal characters, "
            "or a unique prefix of at least 8.",
        ),
        _spec(
            E.SWEEP_IN_PROGRESS,
            _L,
            409,
            "The sweep is being computed by another process",
            "Wait for the other process to finish (the same command then returns its result at "
            "once), or stop it; a stopped sweep resumes where it was.",
        ),
        _spec(
            E.SWEEP_INTERRUPTED,
            _X,
            500,
            "Sweep interrupted",
            "Every finished cell is kept: run the same command again and it computes only the "
            "missing cells.",
        ),
        _spec(
            E.SWEEP_EXECUTOR_FAILED,
            _X,
            502,
            "The sweep's executor failed",
            "Check the Dask scheduler's address and that every worker runs the same quantrun "
            "and libraries (pip install 'quantrun[dask]'), or use --executor local; finished "
            "cells are kept for the next attempt.",
        ),
        _spec(
            E.SWEEP_INPUT_CHANGED,
            _I,
            409,
            "The sweep's input no longer gives its cells",
            "The input files changed or moved since the sweep: run the command from the folder "
            "the sweep was created in with the same files, or create the sweep again.",
        ),
        _spec(
            E.SWEEP_DATASET_DUPLICATE,
            _U,
            400,
            "The same dataset twice on the dataset axis",
            "Name each dataset of the axis once: the same files and symbol, the same stored "
            "dataset, or the same bars under two names make the same cells twice.",
        ),
        _spec(
            E.SWEEP_DATASET_MISMATCH,
            _U,
            400,
            "A dataset of the axis is not what it is named",
            "A stored dataset holds one symbol and one bar length: name it with its own symbol "
            "(`quantrun data list` shows them) and pass its bar length as --base-timeframe.",
        ),
        _spec(
            E.INPUT_NOT_FOUND,
            _I,
            404,
            "Input file not found",
            "Check the path; it is read relative to the current directory.",
        ),
        _spec(
            E.INPUT_EMPTY,
            _I,
            422,
            "Input has no data rows",
            "Pass a CSV file with a header line and at least one bar.",
        ),
        _spec(
            E.INPUT_BINARY,
            _I,
            422,
            "Input is not a text CSV file",
            "Export the data as plain CSV (unzip archives first; Excel: Save As > CSV UTF-8).",
        ),
        _spec(
            E.INPUT_ENCODING,
            _I,
            422,
            "Input is not UTF-8 text",
            "Re-save the file as UTF-8 (Excel: Save As > CSV UTF-8; iconv -f LATIN1 -t UTF-8).",
        ),
        _spec(
            E.CSV_MALFORMED,
            _I,
            422,
            "Malformed CSV",
            "Every line needs the same comma-separated fields as the header; "
            "quantrun reads ',' as the delimiter and '.' as the decimal point.",
        ),
        _spec(
            E.CSV_MISSING_COLUMN,
            _I,
            422,
            "Required column missing",
            "Provide a timestamp column (time, date, datetime, timestamp, open_time) and "
            "open, high, low, close, volume; see docs/formats.md for accepted names.",
        ),
        _spec(
            E.CSV_AMBIGUOUS_COLUMN,
            _I,
            422,
            "Two columns claim the same field",
            "Keep one of the named columns (or rename the other) so each field has one source.",
        ),
        _spec(
            E.CSV_MISSING_VALUE,
            _I,
            422,
            "Missing value",
            "Fill or remove the rows named; quantrun never fills values itself.",
        ),
        _spec(
            E.CSV_BAD_TIMESTAMP,
            _I,
            422,
            "Unparseable timestamp",
            "Use ISO-8601 with an offset (2024-01-31T13:00:00Z, 2024-01-31 13:00:00+02:00) "
            "or integer epoch seconds/milliseconds/microseconds/nanoseconds.",
        ),
        _spec(
            E.CSV_NAIVE_TIMESTAMP,
            _I,
            422,
            "Timestamp without a time zone",
            "Add an offset to the timestamps, or name their zone with --timezone "
            "(e.g. --timezone UTC); it is recorded with the dataset.",
        ),
        _spec(
            E.CSV_AMBIGUOUS_TIMESTAMP,
            _I,
            422,
            "Ambiguous timestamp",
            "Use one timestamp form for the whole file (all epochs of one unit, or all ISO "
            "with offsets); local times that repeat or skip at a DST change need offsets.",
        ),
        _spec(
            E.CSV_TIMESTAMP_OUT_OF_RANGE,
            _I,
            422,
            "Timestamp out of range",
            "Timestamps must fall between 1970-01-01 and 2200-01-01 UTC; check the epoch unit.",
        ),
        _spec(
            E.CSV_BAD_NUMBER,
            _I,
            422,
            "Unparseable number",
            "Prices and volume must be plain decimal numbers with '.' as the decimal point "
            "and no thousands separators.",
        ),
        _spec(
            E.CSV_NONFINITE,
            _I,
            422,
            "NaN or infinite value",
            "Remove or correct the rows named; NaN and inf are never accepted.",
        ),
        _spec(
            E.CSV_NONPOSITIVE_PRICE,
            _I,
            422,
            "Price is zero or negative",
            "Correct the rows named; every open, high, low and close must be above zero.",
        ),
        _spec(
            E.CSV_HIGH_BELOW_LOW,
            _I,
            422,
            "High below low",
            "Correct the rows named; check that the high and low columns are not swapped.",
        ),
        _spec(
            E.CSV_HIGH_BELOW_OPEN_CLOSE,
            _I,
            422,
            "High below open or close",
            "Correct the rows named; the high must be at least max(open, close).",
        ),
        _spec(
            E.CSV_LOW_ABOVE_OPEN_CLOSE,
            _I,
            422,
            "Low above open or close",
            "Correct the rows named; the low must be at most min(open, close).",
        ),
        _spec(
            E.CSV_NEGATIVE_VOLUME,
            _I,
            422,
            "Negative volume",
            "Correct the rows named; volume must be zero or more.",
        ),
        _spec(
            E.CSV_OFF_GRID,
            _I,
            422,
            "Bar off the timeframe grid",
            "Each bar must open on a multiple of the declared timeframe (UTC, epoch-aligned); "
            "the file may mix timeframes, or needs a different --timeframe.",
        ),
        _spec(
            E.CSV_UNSORTED,
            _I,
            422,
            "Rows out of time order",
            "Sort the file by time, or pass --sort to let quantrun sort it (recorded).",
        ),
        _spec(
            E.CSV_DUPLICATE_TIMESTAMP,
            _I,
            422,
            "Duplicate timestamp",
            "Remove the duplicates; identical repeated rows can be dropped with "
            "--drop-exact-duplicates (recorded). Conflicting rows must be fixed by hand.",
        ),
        _spec(
            E.CSV_TIMEFRAME_MISMATCH,
            _I,
            422,
            "File does not match the declared timeframe",
            "Pass the file's real timeframe with --timeframe (the message names the likely one).",
        ),
        _spec(
            E.RESAMPLE_SESSION_GRID,
            _I,
            422,
            "Bars open on an exchange's session grid",
            "These bars open on their sessions' grid (e.g. 09:30), not on the UTC grid; resample "
            "them with the sessions of their calendar, or run on the dataset's own timeframe.",
        ),
        _spec(
            E.CALENDAR_OUT_OF_RANGE,
            _I,
            422,
            "The calendar does not cover the data's dates",
            "The exchange-calendars library defines this calendar's sessions for some years only "
            "(the message says which); leave out --calendar for bars outside them.",
        ),
        _spec(
            E.LIMIT_INPUT_SIZE,
            _L,
            413,
            "Input larger than the size limit",
            "Split the file, or raise QUANTRUN_MAX_INPUT_BYTES if this machine can take it.",
        ),
        _spec(
            E.LIMIT_ROWS,
            _L,
            413,
            "Too many rows",
            "Trim the file, or raise QUANTRUN_MAX_ROWS if this machine can take it.",
        ),
        _spec(
            E.LIMIT_LINE_LENGTH,
            _L,
            413,
            "A line is too long",
            "No OHLCV row is this long: the file is probably not a bar CSV, or its line ends "
            "are missing. Check the file; QUANTRUN_MAX_LINE_BYTES sets the limit.",
        ),
        _spec(
            E.LIMIT_COLUMNS,
            _L,
            413,
            "Too many columns",
            "An OHLCV file needs a handful of columns; drop the extra ones or check the "
            "delimiter. QUANTRUN_MAX_COLUMNS sets the limit.",
        ),
        _spec(
            E.LIMIT_CONCURRENT_BUILDS,
            _L,
            503,
            "Too many runs are being built at once",
            "Wait for a build to finish and try again, or raise QUANTRUN_MAX_CONCURRENT_JOBS.",
        ),
        _spec(
            E.LIMIT_RATE,
            _L,
            429,
            "Too many requests from this client",
            "Wait for the number of seconds in the Retry-After header, then try again; "
            "QUANTRUN_RATE_LIMIT_PER_MINUTE sets the rate.",
        ),
        _spec(
            E.LIMIT_DISK_FULL,
            _L,
            507,
            "Not enough free disk space",
            "Free space on the disk that holds RUNS_ROOT, or lower "
            "QUANTRUN_MIN_FREE_DISK_BYTES if this machine can run closer to full.",
        ),
        _spec(
            E.LIMIT_COMPARE_RUNS,
            _L,
            400,
            "Too many runs in one comparison",
            "Compare fewer runs at once, or raise QUANTRUN_MAX_COMPARE_RUNS.",
        ),
        _spec(
            E.LIMIT_SWEEP_CELLS,
            _L,
            413,
            "Too many cells in one sweep",
            "Use fewer or coarser axes, or raise QUANTRUN_MAX_SWEEP_CELLS.",
        ),
        _spec(
            E.HOST_NOT_ALLOWED,
            _U,
            400,
            "Host not allowed",
            "Open the service by one of its allowed host names (127.0.0.1 or localhost by "
            "default); QUANTRUN_ALLOWED_HOSTS adds more.",
        ),
        _spec(
            E.CSRF_REJECTED,
            _L,
            403,
            "Cross-site request refused",
            "Submit from quantrun's own pages. Scripts may call the API directly; a browser "
            "page on another origin cannot.",
        ),
        _spec(
            E.FETCH_UNREACHABLE,
            _X,
            502,
            "Archive host unreachable",
            "Check the network and the host's address (QUANTRUN_BINANCE_BASE_URL); a slow link "
            "may need a larger QUANTRUN_FETCH_TIMEOUT_SECONDS. Archives verified so far are "
            "cached: the same command again fetches only the rest.",
        ),
        _spec(
            E.FETCH_NOT_FOUND,
            _N,
            404,
            "Archive not published",
            "Check the symbol, market and interval, and that the period is over: a month's "
            "archive appears early in the next month, a day's on the next day (--daily for "
            "the days of the current month).",
        ),
        _spec(
            E.FETCH_CHECKSUM_MISMATCH,
            _I,
            502,
            "Archive does not match its published checksum",
            "Nothing was kept. Run the command again; if it fails the same way, the host's "
            "archive or its .CHECKSUM file is damaged: report it to the provider.",
        ),
        _spec(
            E.FETCH_TRUNCATED,
            _X,
            502,
            "Download cut short",
            "The connection ended before the whole archive arrived, on every attempt; nothing "
            "partial was kept. Run the command again later, or raise QUANTRUN_FETCH_RETRIES.",
        ),
        _spec(
            E.FETCH_ARCHIVE_INVALID,
            _I,
            502,
            "Archive does not hold the expected file",
            "The archive is not a zip holding exactly the one CSV file its name promises; "
            "nothing was kept. Report it to the provider.",
        ),
        _spec(
            E.FETCH_INTERRUPTED,
            _X,
            500,
            "Fetch interrupted",
            "Partial downloads were removed and the archives verified before the interruption "
            "are cached: the same command again fetches only the rest.",
        ),
        _spec(
            E.DATASET_NOT_FOUND,
            _N,
            404,
            "Dataset not found",
            "List stored datasets with `quantrun data list`, or ingest the file first.",
        ),
        _spec(
            E.DATASET_CORRUPT,
            _I,
            409,
            "Stored dataset does not verify",
            "A file of the dataset changed after it was stored. Remove its folder under "
            "RUNS_ROOT/datasets, then ingest or fetch the data again.",
        ),
        _spec(
            E.STORAGE_FAILED,
            _X,
            500,
            "Could not write to RUNS_ROOT",
            "Check that RUNS_ROOT is writable and the disk has room; nothing partial was kept.",
        ),
        _spec(
            E.DAEMON_START_FAILED,
            _X,
            500,
            "The daemon did not start",
            "Commands still run, each in its own process. The message names the daemon's log.",
        ),
        _spec(
            E.INTERNAL,
            _X,
            500,
            "Internal error",
            "This is a bug in quantrun; rerun with QUANTRUN_LOG_LEVEL=debug and report it.",
        ),
    )
}


class QuantrunError(Exception):
    """Base of every user-facing failure. ``code`` is stable; ``detail`` is for people."""

    category: Category = Category.INTERNAL

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        hint: str | None = None,
        lines: Sequence[int] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.spec = CATALOGUE[code]
        self.code = code
        self.detail = detail
        self.hint = hint or self.spec.hint
        self.lines = list(lines)[:MAX_REPORTED_LINES]
        self.extra = dict(extra or {})

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def exit_code(self) -> int:
        return self.spec.exit_code

    @property
    def http_status(self) -> int:
        return self.spec.http_status

    def to_dict(self) -> dict[str, Any]:
        """The error object every edge shows: CLI ``--json``, API problem+json body."""
        out: dict[str, Any] = {
            "code": str(self.code),
            "title": self.title,
            "detail": self.detail,
            "hint": self.hint,
        }
        if self.lines:
            out["lines"] = self.lines
        if self.extra:
            out["extra"] = self.extra
        return out


class UsageError(QuantrunError):
    category = Category.USAGE


class InputRejected(QuantrunError):
    category = Category.INPUT


class LimitBlocked(QuantrunError):
    category = Category.LIMIT


class NotFound(QuantrunError):
    category = Category.NOT_FOUND


class InternalError(QuantrunError):
    category = Category.INTERNAL


_CLASSES: dict[Category, type[QuantrunError]] = {
    Category.USAGE: UsageError,
    Category.INPUT: InputRejected,
    Category.LIMIT: LimitBlocked,
    Category.NOT_FOUND: NotFound,
    Category.INTERNAL: InternalError,
}


def error(
    code: ErrorCode,
    detail: str,
    *,
    hint: str | None = None,
    lines: Sequence[int] = (),
    extra: dict[str, Any] | None = None,
) -> QuantrunError:
    """Build the exception for ``code``, of the class its catalogue category names."""
    cls = _CLASSES[CATALOGUE[code].category]
    return cls(code, detail, hint=hint, lines=lines, extra=extra)


def format_lines(lines: Sequence[int], total: int) -> str:
    """'lines 3, 9, 12 (and 40 more)' for messages."""
    shown = list(lines)[:MAX_REPORTED_LINES]
    if not shown:
        return ""
    word = "line" if len(shown) == 1 and total == 1 else "lines"
    text = f"{word} {', '.join(str(n) for n in shown)}"
    if total > len(shown):
        text += f" (and {total - len(shown)} more)"
    return text

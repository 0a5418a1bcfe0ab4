"""The web edge's wording of the error catalogue's hints.

Some catalogue hints (``quantrun.errors.CATALOGUE``) name CLI flags or commands (``--sort``,
``quantrun strategies list``). Everything the web answers with an error (problem+json bodies,
the error page, a job's error, the validation preview) passes through :func:`for_web`, which
puts the form's field (then the API's) in their place. The core's catalogue stays edge-neutral
and imports nothing from here; docs/errors.md lists these hints.
"""

from __future__ import annotations

from typing import Any

from quantrun.errors import CATALOGUE, ErrorCode

E = ErrorCode

#: Hints for the web edge where the catalogue's hint names CLI flags or commands: the form's
#: field, then the API's. Anything not listed here reads the same on every edge.
WEB_HINTS: dict[ErrorCode, str] = {
    E.USAGE_INVALID_OPTION: "Check the field the message names; the API's fields and their "
    "allowed values are described at /docs.",
    E.STRATEGY_UNKNOWN: "Pick a strategy from the list on /runs/new "
    "(GET /api/v1/strategies lists them).",
    E.STRATEGY_PARAMS_INVALID: "Check the strategy's parameter fields: /runs/new shows each "
    "one's type and range (API: params is a JSON object; GET /api/v1/strategies describes them).",
    E.RISK_LEVEL_UNKNOWN: "Use conservative, moderate or aggressive.",
    E.RUN_RISK_CONFLICT: "Choose one risk level in 'Risk level' (API: risk, or risk_config from "
    "Python), not several.",
    E.RUN_WINDOW_INVALID: "Give Start and End as ISO-8601 with an offset or Z "
    "(2024-01-31T00:00:00Z); start must be before end.",
    E.RUN_WINDOW_EMPTY: "Widen Start/End or pick a finer timeframe; the validation preview "
    "shows the data's first and last bar.",
    E.RUN_NOT_FOUND: "Pick a run from /runs (GET /api/v1/runs); a run id is 64 hexadecimal "
    "characters, or a unique prefix of at least 8.",
    E.COMPARE_TOO_FEW_RUNS: "Tick two or more runs on /runs and press Compare (API: runs=ID,ID "
    "with run ids or unique prefixes of 8+ hexadecimal characters).",
    E.CSV_NAIVE_TIMESTAMP: "Add an offset to the timestamps, or choose their zone in 'Time zone "
    "of naive timestamps' (API: timezone=UTC); it is recorded with the dataset.",
    E.CSV_OFF_GRID: "Each bar must open on a multiple of the file's bar length (UTC, "
    "epoch-aligned); the file may mix bar lengths, or needs a different 'File's own bar length'.",
    E.CSV_UNSORTED: "Sort the file by time, or tick 'Sort rows by time' (API: sort=true) to let "
    "quantrun sort it (recorded).",
    E.CSV_DUPLICATE_TIMESTAMP: "Remove the duplicates; identical repeated rows can be dropped by "
    "ticking 'Drop exact duplicate rows' (API: drop_exact_duplicates=true; recorded). "
    "Conflicting rows must be fixed by hand.",
    E.CSV_TIMEFRAME_MISMATCH: "Choose the file's real bar length in 'File's own bar length' "
    "(API: base_timeframe, or timeframe for /api/v1/inspect); the message names the likely one.",
}


def for_web(error_object: dict[str, Any]) -> dict[str, Any]:
    """An error object (``QuantrunError.to_dict()`` shape) with the web's hint when the object
    carries the catalogue's own hint for its code (a hint written for one occurrence stays)."""
    try:
        code = ErrorCode(str(error_object.get("code")))
    except ValueError:
        return error_object
    if code in WEB_HINTS and error_object.get("hint") == CATALOGUE[code].hint:
        return error_object | {"hint": WEB_HINTS[code]}
    return error_object

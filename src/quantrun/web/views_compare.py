"""The comparison's view model: one function for ``/compare`` and ``GET /api/v1/compare``.

The selection lives in the URL (``?runs=A,B,C``, run ids or 8+ hex prefixes, the first is the
reference; ``&fields=all`` to list every input), so back/forward, reloads and shared links show
the same view. The core does the comparison (:func:`quantrun.api.compare_runs`); this adds the
links, the overlay curves and each run's colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from quantrun.api import compare_runs
from quantrun.runs.compare import split_refs
from quantrun.web.views import CHART_MAX_BARS, Context

#: Curve points drawn in all (a curve), whatever the number of runs, and at most the run
#: page's CHART_MAX_BARS a run (the bars that keep each chunk's lowest and highest equity, as on
#: the run page), so the page stays responsive at QUANTRUN_MAX_COMPARE_RUNS runs.
CURVE_POINTS = 20_000
#: The run page's decision table opens with this many rows per page (run.html).
DECISIONS_PAGE_SIZE = 50
#: One colour per run, in order (cycled past ten); the page's legend and charts share it.
PALETTE = (
    "#2457c5",
    "#d9480f",
    "#2b8a3e",
    "#9c36b5",
    "#c2255c",
    "#0b7285",
    "#e67700",
    "#5c7cfa",
    "#495057",
    "#82c91e",
)
FIELDS_SHOWN = ("differing", "all")


def compare_url(refs: Sequence[str], fields: str = "differing", *, api: bool = False) -> str:
    """The page (or API) address of a comparison; ``runs`` keeps its commas readable."""
    query = urlencode({"runs": ",".join(refs)} | ({"fields": fields} if fields == "all" else {}))
    return ("/api/v1/compare?" if api else "/compare?") + query.replace("%2C", ",")


def _decision_links(run_id: str, record: dict[str, Any]) -> dict[str, Any]:
    page = int(record["row"]) // DECISIONS_PAGE_SIZE + 1
    query = urlencode({"decisions_page": page, "decision": record["seq"]})
    api = urlencode({"page": page, "size": DECISIONS_PAGE_SIZE})
    return record | {
        "url": f"/runs/{run_id}?{query}#decisions",
        "api_url": f"/api/v1/runs/{run_id}/decisions?{api}",
    }


def compare_view(
    ctx: Context, runs: Sequence[str] | None, fields: str = "differing"
) -> dict[str, Any]:
    """The runs ``runs`` names compared (see :class:`quantrun.runs.compare.Comparison`), with
    the overlay curves, links to each run and to the decision records where they part."""
    refs = split_refs(list(runs or []))
    comparison = compare_runs(refs, ctx.settings, all_fields=fields == "all", recover=False)
    data = comparison.to_dict()
    for i, run in enumerate(data["runs"]):
        others = [r for j, r in enumerate(refs) if j != i]
        run |= {
            "url": f"/runs/{run['run_id']}",
            "color": PALETTE[i % len(PALETTE)],
            "without_url": compare_url(others, fields) if len(others) >= 2 else None,
        }
        data["runs"][i] = run
    for divergence in data["divergence"]:
        first = divergence.get("first")
        if first:
            first["reference"] = [
                _decision_links(divergence["reference_id"], r) for r in first["reference"]
            ]
            first["other"] = [_decision_links(divergence["run_id"], r) for r in first["other"]]
    curves = comparison.curves(CURVE_POINTS, per_run_max=CHART_MAX_BARS)
    data["curves"] = [c.to_dict() for c in curves]
    data["selection"] = {
        "runs": refs,
        "fields": fields,
        "limit": ctx.settings.max_compare_runs,
        "url": compare_url(refs, fields),
        "api_url": compare_url(refs, fields, api=True),
        "all_fields_url": compare_url(refs, "all"),
        "differing_fields_url": compare_url(refs, "differing"),
    }
    return data

"""Comparing runs: which inputs differ, the metrics side by side, and where the decisions part.

A comparison reads the runs' artifacts only (DESIGN §9). The first run given is the reference:
each run is labelled A, B, C, ... in the order given, metric deltas are to A, and the decisions
of each other run are compared with A's (:mod:`quantrun.runs.divergence`)::

    comparison = compare(registry, ["4b09c990", "755fc509"], limit=20)
    [f.path for f in comparison.differing_fields]       # ['strategy.params.fast']
    comparison.divergences[0].decisions.first.ts         # '2024-01-02T18:00:00Z'

Inputs are the manifest's fields flattened to dotted paths (``strategy.params.fast``), grouped
by section; ``identity`` marks the ones that decide the run id, the others (dataset span, engine
libraries, resampling rules in full, ingest options) are recorded context.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import BaseModel

from quantrun.data.request import InputOptions
from quantrun.errors import ErrorCode, QuantrunError, error
from quantrun.metrics import metric_ids
from quantrun.runs.artifacts import decimate
from quantrun.runs.divergence import DecisionDiff, diverge, not_comparable
from quantrun.runs.manifest import Manifest
from quantrun.runs.reader import RunView
from quantrun.runs.registry import Registry
from quantrun.runs.request import RunCreateRequest

#: The sections of the input table, in display order.
SECTIONS: tuple[str, ...] = (
    "dataset",
    "ingest",
    "symbol",
    "timeframe",
    "window",
    "strategy",
    "risk",
    "costs",
    "engine",
    "resampling",
)
#: Identity fields placed under another name (the rest keep theirs: a field added to the
#: identity later shows up without an edit here).
_RENAMED = {
    "dataset_id": "dataset.dataset_id",
    "schema_version": "engine.schema_version",
    "engine_version": "engine.engine_version",
    "resample_rules_version": "resampling.rules_version",
    "risk": "risk.config",
}

#: Resolves a sweep cell (``SWEEP_ID``, ``K``) to its run id. Sweeps live above runs/ (a sweep
#: is made of runs), so they hand their resolver in; there are no sweeps yet.
CellResolver = Callable[[str, int], str]


def labels(n: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ...: the names runs go by in a comparison."""
    out = []
    for i in range(n):
        name, i = "", i + 1
        while i:
            i, rest = divmod(i - 1, 26)
            name = string.ascii_uppercase[rest] + name
        out.append(name)
    return out


# -- choosing the runs ------------------------------------------------------------------------


def split_refs(refs: Sequence[str] | str) -> list[str]:
    """Run references from a list and/or comma-separated text (``A,B`` as in the URL)."""
    items = [refs] if isinstance(refs, str) else list(refs)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def resolve_ref(registry: Registry, ref: str, cells: CellResolver | None = None) -> str:
    """A run id from a full id, a unique prefix of 8+ hex characters or a sweep cell
    ``SWEEP_ID:K`` (when a sweep resolver is given; sweeps do not exist yet)."""
    if ":" in ref:
        sweep_id, _, k = ref.partition(":")
        if cells is not None and k.isdigit():
            return registry.resolve_id(cells(sweep_id, int(k)))
        raise error(
            ErrorCode.USAGE_INVALID_OPTION,
            f"{ref[:80]!r} names a sweep cell (SWEEP_ID:K), and there are no sweeps yet",
            hint="Compare runs by run id, or by a unique prefix of at least 8 hexadecimal "
            "characters (`quantrun runs list` shows them).",
        )
    return registry.resolve_id(ref)


def resolve_runs(
    registry: Registry, refs: Sequence[str] | str, *, limit: int, cells: CellResolver | None = None
) -> list[str]:
    """The run ids to compare, in the order given; refused before any run is opened when
    there are fewer than two, more than ``limit``, or one run named twice."""
    given = split_refs(refs)
    if len(given) < 2:
        raise error(
            ErrorCode.COMPARE_TOO_FEW_RUNS,
            f"a comparison needs at least two runs; {len(given)} given",
        )
    if len(given) > limit:
        raise error(
            ErrorCode.LIMIT_COMPARE_RUNS,
            f"{len(given)} runs given; at most {limit} are compared at once",
            extra={"limit": limit},
        )
    run_ids = [resolve_ref(registry, ref, cells) for ref in given]
    seen: dict[str, str] = {}
    for ref, run_id in zip(given, run_ids, strict=True):
        if run_id in seen:
            same = "given twice" if seen[run_id] == ref else f"and {seen[run_id]!r} are one run"
            raise error(
                ErrorCode.COMPARE_DUPLICATE_RUN,
                f"{ref[:80]!r} {same} ({run_id[:12]}); each run is compared once",
            )
        seen[run_id] = ref
    return run_ids


# -- the inputs -------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _flatten(path: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{path}.{key}", item, out)
    else:
        out[path] = value


def _ingest_options(manifest: Manifest) -> dict[str, Any]:
    """How the input files were read (they decide the dataset id with its bytes)."""
    try:
        request = RunCreateRequest.from_record(manifest.request)
    except (ValueError, TypeError, QuantrunError):
        return {}  # a request this version cannot read back: its options are shown as absent
    return {name: _json(getattr(request, name)) for name in InputOptions.model_fields}


def run_inputs(manifest: Manifest) -> dict[str, tuple[bool, Any]]:
    """Every input of a run as ``path -> (decides the run id, value)``."""
    identity = manifest.identity
    decided: dict[str, Any] = {}
    for name in type(identity).model_fields:
        _flatten(_RENAMED.get(name, name), _json(getattr(identity, name)), decided)
    dataset, summary, engine = manifest.dataset, manifest.summary, manifest.engine
    recorded: dict[str, Any] = {
        "dataset.content_sha256": dataset.content_sha256,
        "dataset.base_timeframe": dataset.base_timeframe,
        "dataset.rows": dataset.rows,
        "dataset.first_bar": dataset.first_bar,
        "dataset.last_bar": dataset.last_bar,
        "dataset.source_names": manifest.source_names,
        "dataset.source_sha256": [s.sha256 for s in dataset.sources],
        "window.first_bar": summary.first_bar,
        "window.last_bar": summary.last_bar,
        "window.bars": summary.bars,
        "risk.level": manifest.risk.level,
        "engine.quantrun_version": engine.quantrun_version,
        "resampling.partial_bars": manifest.resampling.partial_bars,
        "resampling.dropped_trailing_base_bars": manifest.resampling.dropped_trailing_base_bars,
    }
    _flatten("ingest", _ingest_options(manifest), recorded)
    _flatten("engine.libraries", engine.libraries, recorded)
    _flatten("resampling.rules", manifest.resampling.rules, recorded)
    merged = {path: (True, value) for path, value in decided.items()}
    merged |= {path: (False, value) for path, value in recorded.items() if path not in merged}
    order = {name: i for i, name in enumerate(SECTIONS)}
    return dict(sorted(merged.items(), key=lambda kv: order.get(kv[0].split(".")[0], len(order))))


_ABSENT = object()


@dataclass(frozen=True)
class FieldDiff:
    """One input across the runs; a value is None where a run has no such field."""

    path: str
    identity: bool
    values: tuple[Any, ...]
    differs: bool

    @property
    def section(self) -> str:
        return self.path.split(".")[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "section": self.section,
            "identity": self.identity,
            "differs": self.differs,
            "values": list(self.values),
        }


def field_diffs(manifests: Sequence[Manifest]) -> list[FieldDiff]:
    tables = [run_inputs(m) for m in manifests]
    paths: dict[str, bool] = {}
    for table in tables:
        for path, (decides, _value) in table.items():
            paths[path] = paths.get(path, False) or decides
    order = {name: i for i, name in enumerate(SECTIONS)}
    rows = []
    for path in sorted(paths, key=lambda p: order.get(p.split(".")[0], len(order))):
        raw = [table[path][1] if path in table else _ABSENT for table in tables]
        differs = any(value != raw[0] or (value is _ABSENT) != (raw[0] is _ABSENT) for value in raw)
        values = tuple(None if value is _ABSENT else value for value in raw)
        rows.append(FieldDiff(path, paths[path], values, differs))
    return rows


# -- the numbers ------------------------------------------------------------------------------


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class MetricRow:
    """One metric across the runs: values, the delta of each to the reference (None for the
    reference and where either value is undefined) and the reference's convention."""

    id: str
    label: str
    unit: str
    values: tuple[Any, ...]
    deltas: tuple[int | float | None, ...]
    conventions: tuple[dict[str, Any], ...]

    @property
    def convention(self) -> dict[str, Any]:
        return self.conventions[0]

    @property
    def conventions_differ(self) -> bool:
        return any(c != self.conventions[0] for c in self.conventions)

    def convention_differences(self) -> list[str]:
        """The convention's keys whose values differ between the runs."""
        keys = dict.fromkeys(k for c in self.conventions for k in c)
        return [k for k in keys if len({repr(c.get(k)) for c in self.conventions}) > 1]

    def to_dict(self) -> dict[str, Any]:
        """Values, deltas and the reference's convention; every run's convention as well
        (``conventions``) when they differ, so numbers are never read as like for like."""
        out = {
            "id": self.id,
            "label": self.label,
            "unit": self.unit,
            "values": list(self.values),
            "deltas": list(self.deltas),
            "convention": self.convention,
            "conventions_differ": self.conventions_differ,
        }
        if self.conventions_differ:
            out |= {
                "conventions": list(self.conventions),
                "convention_differences": self.convention_differences(),
            }
        return out


def metric_rows(views: Sequence[RunView]) -> list[MetricRow]:
    tables = [v.metrics for v in views]
    known = metric_ids()
    ids = [m for m in known if any(m in t for t in tables)]
    ids += sorted({m for t in tables for m in t} - set(ids))
    rows = []
    for metric_id in ids:
        present = [t[metric_id] for t in tables if metric_id in t]
        first = present[0]
        values = tuple((t.get(metric_id) or {}).get("value") for t in tables)
        conventions = tuple((t.get(metric_id) or {}).get("convention") or {} for t in tables)
        base = _number(values[0])
        deltas: list[int | float | None] = [None]
        for value in values[1:]:
            number = _number(value)
            deltas.append(None if number is None or base is None else number - base)
        rows.append(
            MetricRow(
                id=metric_id,
                label=str(first.get("label", metric_id)),
                unit=str(first.get("unit", "")),
                values=values,
                deltas=tuple(deltas),
                conventions=conventions,
            )
        )
    return rows


# -- the comparison ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparedRun:
    label: str
    run_id: str
    symbol: str
    timeframe: str
    strategy: str
    strategy_version: str
    params: dict[str, Any]
    risk_level: str | None
    first_bar: str
    last_bar: str
    bars: int
    read_only: bool

    @classmethod
    def of(cls, label: str, view: RunView) -> ComparedRun:
        identity, summary = view.manifest.identity, view.manifest.summary
        return cls(
            label=label,
            run_id=view.run_id,
            symbol=identity.symbol,
            timeframe=identity.timeframe,
            strategy=identity.strategy.id,
            strategy_version=identity.strategy.version,
            params=identity.strategy.params,
            risk_level=view.manifest.risk.level,
            first_bar=summary.first_bar,
            last_bar=summary.last_bar,
            bars=summary.bars,
            read_only=view.read_only,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Divergence:
    """A run's decisions against the reference's: compared (``decisions``) or why not."""

    run: str
    reference: str
    run_id: str
    reference_id: str
    reason: str | None
    note: str | None
    decisions: DecisionDiff | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "reference": self.reference,
            "run_id": self.run_id,
            "reference_id": self.reference_id,
            "comparable": self.decisions is not None,
            "reason": self.reason,
            "note": self.note,
            **(self.decisions.to_dict() if self.decisions else {}),
        }


@dataclass(frozen=True)
class ArtifactDiff:
    """One artifact across the runs: its sha256 in each (None where a run lacks it)."""

    name: str
    sha256: tuple[str | None, ...]

    @property
    def identical(self) -> bool:
        return None not in self.sha256 and len(set(self.sha256)) == 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "identical": self.identical, "sha256": list(self.sha256)}


@dataclass(frozen=True)
class Curve:
    """One run's equity (divided by its first value) and drawdown, decimated for display."""

    label: str
    run_id: str
    ts: list[str]
    equity: list[float]
    drawdown: list[float]
    bars: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"points": len(self.ts)}


@dataclass(frozen=True)
class Comparison:
    runs: tuple[ComparedRun, ...]
    fields: tuple[FieldDiff, ...]
    metrics: tuple[MetricRow, ...]
    divergences: tuple[Divergence, ...]
    artifacts: tuple[ArtifactDiff, ...]
    all_fields: bool = False
    views: tuple[RunView, ...] = field(default=(), repr=False, compare=False)

    @property
    def differing_fields(self) -> list[FieldDiff]:
        return [f for f in self.fields if f.differs]

    def to_dict(self) -> dict[str, Any]:
        """The comparison as ``runs compare --json`` and ``GET /api/v1/compare`` give it:
        ``fields.rows`` holds the differing inputs only unless ``all_fields``."""
        shown = self.fields if self.all_fields else tuple(self.differing_fields)
        return {
            "reference": self.runs[0].label,
            "runs": [r.to_dict() for r in self.runs],
            "fields": {
                "shown": "all" if self.all_fields else "differing",
                "total": len(self.fields),
                "differing": len(self.differing_fields),
                "rows": [f.to_dict() for f in shown],
            },
            "metrics": [m.to_dict() for m in self.metrics],
            "divergence": [d.to_dict() for d in self.divergences],
            "artifacts": [a.to_dict() for a in self.artifacts],
        }

    def curves(self, max_points: int, per_run_max: int | None = None) -> list[Curve]:
        """Each run's normalised equity and drawdown for an overlay chart: at most
        ``max_points`` points in all and ``per_run_max`` a run, at the bars that keep each
        chunk's lowest and highest equity (:func:`~quantrun.runs.artifacts.decimate`, as on
        the run page)."""
        per_run = max_points // max(1, len(self.views))
        if per_run_max is not None:
            per_run = min(per_run, per_run_max)
        per_run = max(100, per_run - 2)  # decimate() may add the first and the last point
        out = []
        for run, view in zip(self.runs, self.views, strict=True):
            series = view.series()
            equity = series["equity"].to_numpy()
            start = float(equity[0]) if equity.size and equity[0] else 1.0
            keep = decimate(equity, per_run)
            picked = series[keep]
            out.append(
                Curve(
                    label=run.label,
                    run_id=run.run_id,
                    ts=picked["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_list(),
                    equity=(picked["equity"] / start).to_list(),
                    drawdown=picked["drawdown"].cast(pl.Float64).to_list(),
                    bars=int(equity.size),
                )
            )
        return out


def _divergence(run: ComparedRun, ref: ComparedRun, view: RunView, base: RunView) -> Divergence:
    reason = not_comparable(base, view)
    note = None
    if reason is None and (run.first_bar, run.last_bar) != (ref.first_bar, ref.last_bar):
        note = (
            f"{ref.label} and {run.label} simulated different windows; their decisions are "
            "compared over the bars both simulated"
        )
    return Divergence(
        run=run.label,
        reference=ref.label,
        run_id=run.run_id,
        reference_id=ref.run_id,
        reason=reason,
        note=note,
        decisions=diverge(base, view) if reason is None else None,
    )


def _artifacts(views: Sequence[RunView]) -> list[ArtifactDiff]:
    tables = [{a.name: a.sha256 for a in v.manifest.artifacts} for v in views]
    names = list(dict.fromkeys(name for t in tables for name in t))
    return [ArtifactDiff(name, tuple(t.get(name) for t in tables)) for name in names]


def compare(
    registry: Registry,
    refs: Sequence[str] | str,
    *,
    limit: int,
    all_fields: bool = False,
    cells: CellResolver | None = None,
) -> Comparison:
    """Compare the runs ``refs`` names (run ids, 8+ hex prefixes; the first is the reference).

    Refused with COMPARE_TOO_FEW_RUNS, LIMIT_COMPARE_RUNS, COMPARE_DUPLICATE_RUN or
    RUN_NOT_FOUND before anything is read."""
    run_ids = resolve_runs(registry, refs, limit=limit, cells=cells)
    views = [RunView.open(registry, run_id) for run_id in run_ids]
    runs = [ComparedRun.of(label, v) for label, v in zip(labels(len(views)), views, strict=True)]
    divergences = [
        _divergence(run, runs[0], view, views[0])
        for run, view in zip(runs[1:], views[1:], strict=True)
    ]
    return Comparison(
        runs=tuple(runs),
        fields=tuple(field_diffs([v.manifest for v in views])),
        metrics=tuple(metric_rows(views)),
        divergences=tuple(divergences),
        artifacts=tuple(_artifacts(views)),
        all_fields=all_fields,
        views=tuple(views),
    )

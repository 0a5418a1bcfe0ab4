"""A published sweep, read: its manifest and its results table, sorted and filtered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from quantrun.errors import ErrorCode, error
from quantrun.sweeps.manifest import (
    RESULTS_CSV,
    RESULTS_PARQUET,
    SweepCell,
    SweepManifest,
    dataset_list,
    dataset_names,
)
from quantrun.sweeps.results import HEADLINE, ranked
from quantrun.sweeps.store import SweepStore


@dataclass(frozen=True)
class SweepView:
    manifest: SweepManifest
    results: pl.DataFrame

    @classmethod
    def open(cls, store: SweepStore, sweep_id: str) -> SweepView:
        """The sweep ``sweep_id`` (a full id or a unique prefix of 8+ hex characters)."""
        full = store.resolve_id(sweep_id)
        manifest = store.manifest(full)
        folder = store.layout.sweep(full)
        return cls(manifest, pl.read_parquet(folder / RESULTS_PARQUET), folder)

    def file_bytes(self, fmt: str) -> bytes:
        """The results table as stored: ``csv`` or ``parquet``."""
        names = {"csv": RESULTS_CSV, "parquet": RESULTS_PARQUET}
        if fmt not in names:
            raise error(ErrorCode.USAGE_INVALID_OPTION, f"format {fmt!r}: csv or parquet")
        return (self.folder / names[fmt]).read_bytes()

    folder: Path

    @property
    def sweep_id(self) -> str:
        return self.manifest.sweep_id

    def cell(self, number: int) -> SweepCell:
        """Cell ``number`` (grid order, from 0); SWEEP_NOT_FOUND when there is none."""
        if not 0 <= number < len(self.manifest.cells):
            raise error(
                ErrorCode.SWEEP_NOT_FOUND,
                f"sweep {self.sweep_id[:12]} has cells 0 to {len(self.manifest.cells) - 1}, "
                f"not {number}",
            )
        return self.manifest.cells[number]

    def dataset_frame(self, dataset: int | None) -> pl.DataFrame:
        """The results of dataset ``dataset`` of the axis (its place, from 0), or of every
        dataset (None); USAGE_INVALID_OPTION for a dataset the sweep does not have."""
        if dataset is None:
            return self.results
        inputs = self.manifest.inputs()
        if not 0 <= dataset < len(inputs):
            raise error(
                ErrorCode.USAGE_INVALID_OPTION,
                f"sweep {self.sweep_id[:12]} has datasets 0 to {len(inputs) - 1}, not {dataset}",
            )
        if len(inputs) == 1:
            return self.results
        item = inputs[dataset]
        return self.results.filter(
            (pl.col("dataset_id") == item.dataset.dataset_id) & (pl.col("symbol") == item.symbol)
        )

    def ranked(
        self,
        *,
        by: str | None = None,
        min_trades: int | None = None,
        top: int | None = None,
        dataset: int | None = None,
    ) -> pl.DataFrame:
        """The results (of one dataset of the axis, or all), best first by ``by`` (grid order
        without), filtered and cut."""
        return ranked(self.dataset_frame(dataset), by=by, min_trades=min_trades, top=top)

    def rows(
        self,
        *,
        by: str | None = None,
        min_trades: int | None = None,
        top: int | None = None,
        metrics: tuple[str, ...] = HEADLINE,
        dataset: int | None = None,
    ) -> list[dict[str, Any]]:
        """The ranked cells as ``{"cell", "params", "symbol", "dataset_id", "run_id",
        metric: value...}``."""
        frame = self.ranked(by=by, min_trades=min_trades, top=top, dataset=dataset)
        out = []
        for values in frame.select(["cell", "run_id", *metrics]).to_dicts():
            cell = self.manifest.cells[values["cell"]]
            names = dataset_names(self.manifest, cell)
            out.append({"cell": cell.cell, "params": cell.params} | names | values)
        return out

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "sweep_id": m.sweep_id,
            "strategy": m.strategy.model_dump(mode="json"),
            "symbol": m.symbol,
            "timeframe": m.timeframe,
            "window": m.window,
            "dataset_id": m.dataset.dataset_id,
            "datasets": dataset_list(m),
            "axes": [axis.model_dump(mode="json") for axis in m.identity.axes],
            "cells": len(m.cells),
            "skipped": [s.model_dump(mode="json") for s in m.skipped],
            "request": m.request,
        }


#: How cells that share the shown parameters are combined in the heatmap and the line chart.
AGGREGATIONS = ("max", "median")


@dataclass(frozen=True)
class Surface:
    """A metric over one or two parameters, other parameters aggregated. ``z[j][i]`` is the
    value at ``x[i]`` (and ``y[j]``); ``cells[j][i]`` the cell a click opens there: the best
    cell by the metric among those aggregated (None where no cell has a value)."""

    metric: str
    x: str
    y: str | None
    agg: str
    x_values: list[Any]
    y_values: list[Any]
    z: list[list[float | None]]
    cells: list[list[int | None]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "x": self.x,
            "y": self.y,
            "agg": self.agg,
            "x_values": self.x_values,
            "y_values": self.y_values,
            "z": self.z,
            "cells": self.cells,
        }


def surface(
    frame: pl.DataFrame,
    metric: str,
    x: str,
    y: str | None,
    agg: str,
    *,
    min_trades: int | None = None,
) -> Surface:
    """``metric`` over ``x`` (and ``y``): each point aggregates (``max`` or ``median``) the
    cells sharing those values; the parameters' values keep their grid order."""
    from quantrun.sweeps.results import LOWER_IS_BETTER, check_metric

    check_metric(metric)
    if agg not in AGGREGATIONS:
        raise error(ErrorCode.USAGE_INVALID_OPTION, f"aggregation {agg!r}: max or median")
    keys = [x] if y is None else [x, y]
    x_values = frame[x].unique(maintain_order=True).to_list()
    y_values = frame[y].unique(maintain_order=True).to_list() if y is not None else [None]
    if min_trades is not None:
        frame = frame.filter(pl.col("trades").fill_null(0) >= min_trades)
    valued = frame.filter(pl.col(metric).is_not_null())
    best_first = valued.sort([metric, "cell"], descending=[metric not in LOWER_IS_BETTER, False])
    value = pl.col(metric).cast(pl.Float64)
    grouped = best_first.group_by(keys, maintain_order=True).agg(
        (value.max() if agg == "max" else value.median()).alias("value"),
        pl.col("cell").first().alias("best"),
    )
    found = {
        (item[x], item[y] if y is not None else None): (item["value"], item["best"])
        for item in grouped.to_dicts()
    }
    z: list[list[float | None]] = []
    cells: list[list[int | None]] = []
    for yv in y_values:
        points = [found.get((xv, yv), (None, None)) for xv in x_values]
        z.append([p[0] for p in points])
        cells.append([p[1] for p in points])
    return Surface(metric, x, y, agg, x_values, [] if y is None else y_values, z, cells)

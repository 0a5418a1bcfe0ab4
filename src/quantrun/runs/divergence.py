"""Where two runs' decisions part: the first bar whose decision records differ, how many bars
differ in all, and the trades only one of the runs has.

Decision records are compared bar by bar (by bar time), record by record in their order within
the bar, on what the engine decided: action, reason, price, quantity, position and equity before
and after, commission. Indicator values are shown at the divergent bar but not compared (two
parameter sets compute different indicators on every bar, whatever they decide). Only runs on
the same dataset, symbol and timeframe are compared, over the bars both runs simulated::

    divergence = diverge(reference_view, other_view)
    divergence.first.ts, divergence.bars_differing
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from quantrun.engine.records import RECORD_COLUMNS
from quantrun.runs.reader import RunView

#: The record fields that say what the engine decided (every column of a decision record but
#: its place and the indicators it read); a bar differs when any of them does.
DECIDED = tuple(c for c in RECORD_COLUMNS if c not in ("seq", "bar", "ts", "indicators"))
_TEXT = ("ts", "action", "reason")
_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "bar": pl.Int64(),
    **{name: pl.String() for name in _TEXT},
    **{name: pl.Float64() for name in DECIDED if name not in _TEXT},
}
#: A trade is the same trade in both runs when it has the same side, entry time and exit time.
TRADE_KEY = ("direction", "entry_ts", "exit_ts")
#: How many one-sided trades a comparison lists (the counts are always complete).
TRADES_SHOWN = 20


@dataclass(frozen=True)
class DecisionAt:
    """One decision record at the divergent bar; ``row`` is its 0-based line in the file."""

    seq: int
    row: int
    bar: int
    action: str | None
    reason: str | None
    price: float | None
    quantity: float | None
    position_before: float | None
    position_after: float | None
    equity_before: float | None
    equity_after: float | None
    commission: float | None
    indicators: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FirstDivergence:
    """The first bar (by time) where the two runs' records differ, with both runs' records
    there and which decided fields differ (``records`` when one run has more records)."""

    ts: str
    reference: tuple[DecisionAt, ...]
    other: tuple[DecisionAt, ...]
    fields: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "fields": list(self.fields),
            "reference": [r.to_dict() for r in self.reference],
            "other": [r.to_dict() for r in self.other],
        }


@dataclass(frozen=True)
class TradeRef:
    trade: int
    status: str
    direction: str
    entry_ts: str
    exit_ts: str | None
    entry_price: float | None
    exit_price: float | None
    quantity: float | None
    pnl: float | None
    exit_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TradeDiff:
    """Trades (entered within the compared span) that only one run has."""

    shared: int
    only_reference: tuple[TradeRef, ...]
    only_reference_count: int
    only_other: tuple[TradeRef, ...]
    only_other_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "shared": self.shared,
            "only_reference_count": self.only_reference_count,
            "only_other_count": self.only_other_count,
            "only_reference": [t.to_dict() for t in self.only_reference],
            "only_other": [t.to_dict() for t in self.only_other],
            "shown": TRADES_SHOWN,
        }


@dataclass(frozen=True)
class DecisionDiff:
    """The records of two comparable runs over the bars both simulated (``start``..``end``)."""

    start: str
    end: str
    bars_compared: int
    bars_differing: int
    first: FirstDivergence | None
    trades: TradeDiff

    def to_dict(self) -> dict[str, Any]:
        return {
            "span": {"start": self.start, "end": self.end},
            "bars_compared": self.bars_compared,
            "bars_differing": self.bars_differing,
            "identical": self.first is None,
            "first": self.first.to_dict() if self.first else None,
            "trades": self.trades.to_dict(),
        }


def not_comparable(reference: RunView, other: RunView) -> str | None:
    """Why two runs' decisions cannot be compared bar by bar, or None when they can."""
    a, b = reference.manifest, other.manifest
    if a.identity.dataset_id != b.identity.dataset_id:
        return "the runs use different datasets, so their bars are not the same bars"
    if a.identity.symbol != b.identity.symbol:
        return (
            f"the runs trade different symbols ({a.identity.symbol} and {b.identity.symbol}); "
            "decisions are compared only on the same symbol"
        )
    if a.identity.timeframe != b.identity.timeframe:
        return (
            f"the runs use different timeframes ({a.identity.timeframe} and "
            f"{b.identity.timeframe}), so their bars are not the same bars"
        )
    start, end = common_span(reference, other)
    if start > end:
        return "the runs' windows do not overlap: they simulated no bar in common"
    return None


def common_span(reference: RunView, other: RunView) -> tuple[str, str]:
    """The first and last bar both runs simulated (ISO strings of one format compare as time)."""
    a, b = reference.manifest.summary, other.manifest.summary
    return max(a.first_bar, b.first_bar), min(a.last_bar, b.last_bar)


def _records(view: RunView, start: str, end: str) -> pl.DataFrame:
    lazy = view.decisions_lazy()
    if "ts" not in lazy.collect_schema().names():  # a run without a single record
        return pl.DataFrame(schema=_SCHEMA | {"row": pl.UInt32(), "k": pl.Int64()})
    return (
        lazy.with_row_index("row")
        .filter(pl.col("ts").is_between(pl.lit(start), pl.lit(end)))
        .with_columns(
            *(pl.col(name).cast(dtype) for name, dtype in _SCHEMA.items()),
            pl.int_range(pl.len(), dtype=pl.Int64).over("ts").alias("k"),
        )
        .collect()
    )


def _decisions_at(frame: pl.DataFrame, ts: str) -> tuple[DecisionAt, ...]:
    rows = frame.filter(pl.col("ts") == ts).sort("k")
    out = []
    for record in rows.to_dicts():
        indicators = record.get("indicators")
        out.append(
            DecisionAt(
                seq=int(record["seq"]),
                row=int(record["row"]),
                bar=int(record["bar"]),
                indicators=dict(indicators) if isinstance(indicators, dict) else {},
                **{name: record[name] for name in DECIDED},
            )
        )
    return tuple(out)


def _bars_in(view: RunView, start: str, end: str) -> int:
    ts = view.series().select(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return int(ts.filter(pl.col("ts").is_between(pl.lit(start), pl.lit(end))).height)


def _trades(view: RunView, start: str, end: str) -> pl.DataFrame:
    frame = view.trades()
    text = ("status", "direction", "entry_ts", "exit_ts", "exit_reason")
    numbers = ("entry_price", "exit_price", "quantity", "pnl")
    return frame.with_columns(
        pl.col("trade").cast(pl.Int64),
        *(pl.col(name).cast(pl.String) for name in text),
        *(pl.col(name).cast(pl.Float64) for name in numbers),
    ).filter(pl.col("entry_ts").is_between(pl.lit(start), pl.lit(end)))


def _trade_refs(frame: pl.DataFrame) -> tuple[TradeRef, ...]:
    fields = TradeRef.__dataclass_fields__
    return tuple(
        TradeRef(**{name: t[name] for name in fields}) for t in frame.head(TRADES_SHOWN).to_dicts()
    )


def trade_diff(reference: RunView, other: RunView, start: str, end: str) -> TradeDiff:
    a, b = _trades(reference, start, end), _trades(other, start, end)
    key = list(TRADE_KEY)
    only_a = a.join(b.select(key), on=key, how="anti", nulls_equal=True)
    only_b = b.join(a.select(key), on=key, how="anti", nulls_equal=True)
    return TradeDiff(
        shared=a.height - only_a.height,
        only_reference=_trade_refs(only_a),
        only_reference_count=only_a.height,
        only_other=_trade_refs(only_b),
        only_other_count=only_b.height,
    )


def diverge(reference: RunView, other: RunView) -> DecisionDiff:
    """Compare two comparable runs' decision records (see :func:`not_comparable`)."""
    start, end = common_span(reference, other)
    a, b = _records(reference, start, end), _records(other, start, end)
    joined = a.join(b, on=["ts", "k"], how="full", coalesce=True, suffix="_other")
    missing = pl.col("seq").is_null() | pl.col("seq_other").is_null()
    differs = [pl.col(name).ne_missing(pl.col(f"{name}_other")) for name in DECIDED]
    flagged = joined.with_columns(
        missing.alias("_missing"),
        *(d.alias(f"_differs_{n}") for d, n in zip(differs, DECIDED, strict=True)),
    ).filter(pl.any_horizontal("_missing", *(f"_differs_{n}" for n in DECIDED)))
    first = None
    if flagged.height:
        ts = str(flagged["ts"].min())
        at = flagged.filter(pl.col("ts") == ts)
        both = at.filter(~pl.col("_missing"))
        fields = [n for n in DECIDED if both[f"_differs_{n}"].any()]
        if at["_missing"].any():
            fields.append("records")
        first = FirstDivergence(ts, _decisions_at(a, ts), _decisions_at(b, ts), tuple(fields))
    return DecisionDiff(
        start=start,
        end=end,
        bars_compared=_bars_in(reference, start, end),
        bars_differing=int(flagged["ts"].n_unique()),
        first=first,
        trades=trade_diff(reference, other, start, end),
    )

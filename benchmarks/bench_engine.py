"""Engine benchmark: quantrun's compiled simulation kernel against a bare numba loop.

Both loops run over the same 1,000,000 seeded random-walk bars and the same sma_crossover 10/30
targets, with the same arithmetic: fills at the next bar's open, all-in long-only, commission on
both legs, no stops. Around them, ``simulate()`` is timed end to end, and its parts (strategy
signals, record decoding) on their own, so the table shows where the time goes::

    .venv/bin/python benchmarks/bench_engine.py [--rows N] [--repeat K] [--quick] [--out PATH]

Everything runs in this one process: the numba functions are loaded from their cache (or
compiled) and called once in an untimed warm-up round; then every repetition runs each case
once, round-robin, starting at a rotating case. The goal: quantrun_kernel / bare_loop (medians)
<= 3. The script only measures and reports; nothing in it asserts on a time.
See benchmarks/README.md for what each case measures and how to read the JSON.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numba
import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from floor_loop import fill
from harness import OUT_DIR, machine, parse_sized_args, round_robin, spread, stats, write_json
from quantrun.engine.kernel import simulate_kernel
from quantrun.engine.records import decode_records, decode_trades
from quantrun.engine.risk import Costs, RiskConfig
from quantrun.engine.simulate import simulate
from quantrun.strategies.base import Signals
from quantrun.strategies.registry import get, parse_params
from walk import SEED, random_walk

GOAL_RATIO = 3.0
PACKAGES = ("quantrun", "numba", "llvmlite", "numpy", "polars")
STRATEGY = "sma_crossover"
PARAMS = {"fast": 10, "slow": 30}
RISK = RiskConfig(
    position_fraction=1.0,
    stop_loss_pct=None,
    take_profit_pct=None,
    max_drawdown_halt_pct=None,
    allow_short=False,
)
COSTS = Costs(commission_bps=10, slippage_bps=0, initial_cash=10_000)
NAN = float("nan")

CASES: dict[str, str] = {
    "bare_loop": "bare numba loop (this script)",
    "quantrun_kernel": "simulate_kernel, as simulate()",
    "signals": "strategy signals (polars)",
    "decode": "records + trades frames",
    "simulate_e2e": "simulate(), end to end",
}


@numba.njit(cache=True)
def bare_loop(
    open_: np.ndarray, close: np.ndarray, target: np.ndarray, commission: float, cash0: float
) -> Any:
    """The least a next-open, all-in, long-only backtest must do: the same fill and fee
    arithmetic as the kernel (the floor's :func:`floor_loop.fill`), an equity curve, nothing
    else (no records, no risk gates)."""
    n = open_.shape[0]
    equity = np.empty(n)
    cash = cash0
    qty = 0.0
    pending = False
    want = 0
    entries = 0
    for i in range(n):
        if pending:
            qty, cash, entered = fill(open_[i], want, qty, cash, commission)
            entries += entered
            pending = False
        equity[i] = cash + qty * close[i]
        wish = 1 if target[i] > 0 else 0
        if wish != (1 if qty > 0.0 else 0):
            pending = True
            want = wish
    return equity, entries


class Inputs:
    """Everything the cases share, prepared once, outside every timer."""

    def __init__(self, bars: pl.DataFrame) -> None:
        self.bars = bars
        self.params = parse_params(STRATEGY, PARAMS)
        self.strategy = get(STRATEGY)
        self.signals: Signals = self.strategy.signals(bars, self.params)
        self.target = np.ascontiguousarray(self.signals.target, dtype=np.int8)
        self.changes = int(np.count_nonzero(np.diff(self.target, prepend=np.int8(0))))
        self.cols = [
            np.ascontiguousarray(bars[c].to_numpy(), dtype=np.float64)
            for c in ("open", "high", "low", "close")
        ]
        self.ts = bars["ts"].to_numpy()
        self.commission = COSTS.commission_bps / 10_000.0
        self.kernel_out = self.kernel()

    def kernel(self) -> Any:
        """Exactly the call simulate() makes."""
        o, h, lo, c = self.cols
        return simulate_kernel(
            o,
            h,
            lo,
            c,
            self.target,
            RISK.allow_short,
            RISK.position_fraction,
            NAN,
            NAN,
            NAN,
            self.commission,
            COSTS.slippage_bps / 10_000.0,
            COSTS.initial_cash,
            6 * self.changes + 8,
            self.changes + 2,
        )

    def bare(self) -> Any:
        return bare_loop(
            self.cols[0], self.cols[3], self.target, self.commission, COSTS.initial_cash
        )

    def signals_only(self) -> Any:
        return self.strategy.signals(self.bars, self.params)

    def decode(self) -> Any:
        _, _, events, trades, _, _ = self.kernel_out
        records = decode_records(events, self.ts, self.signals.indicators)
        return records, decode_trades(trades, self.ts, self.cols[3])

    def simulate(self) -> Any:
        return simulate(self.bars, STRATEGY, PARAMS, RISK, COSTS)

    def calls(self) -> dict[str, Callable[[], Any]]:
        return {
            "bare_loop": self.bare,
            "quantrun_kernel": self.kernel,
            "signals": self.signals_only,
            "decode": self.decode,
            "simulate_e2e": self.simulate,
        }


def check_same_arithmetic(inputs: Inputs) -> dict[str, Any]:
    """The two loops must compute the same equity curve, or the ratio compares nothing."""
    bare_equity, entries = inputs.bare()
    kernel_equity = inputs.kernel_out[0]
    kernel_trades = int(inputs.kernel_out[3][0].size)
    scale = np.maximum(np.abs(bare_equity), np.abs(kernel_equity))
    rel = np.abs(bare_equity - kernel_equity) / np.where(scale > 0, scale, 1.0)
    return {
        "equity_identical": bool(np.array_equal(bare_equity, kernel_equity)),
        "equity_max_rel_diff": float(rel.max()) if rel.size else 0.0,
        "entries": [int(entries), kernel_trades],
        "final_equity": float(kernel_equity[-1]) if kernel_equity.size else NAN,
    }


def run_all(inputs: Inputs, repeat: int, warmup: int) -> dict[str, list[float]]:
    """Round-robin: every repetition runs each case once, starting at a rotating case."""
    calls = inputs.calls()
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep, name in round_robin(names, repeat, warmup):
        gc.collect()
        t0 = time.perf_counter()
        calls[name]()
        elapsed = time.perf_counter() - t0
        if rep >= 0:
            samples[name].append(elapsed)
    return samples


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {name: stats(values) for name, values in samples.items()}


def ratios(summary: dict[str, dict[str, float]]) -> dict[str, float]:
    def s(case: str, stat: str = "median") -> float:
        return summary[case][stat]

    return {
        "kernel_vs_bare_loop": s("quantrun_kernel") / s("bare_loop"),
        # Informational: fastest vs fastest, less sensitive to a noisy (shared, virtual) machine.
        "kernel_vs_bare_loop_best": s("quantrun_kernel", "min") / s("bare_loop", "min"),
        "simulate_e2e_vs_bare_loop": s("simulate_e2e") / s("bare_loop"),
        "simulate_e2e_vs_kernel": s("simulate_e2e") / s("quantrun_kernel"),
    }


def breakdown(summary: dict[str, dict[str, float]]) -> dict[str, float]:
    """simulate()'s median split into its parts' medians; 'other' is what is left over
    (parameter parsing, column conversion, the drawdown curve, building the result)."""
    total = summary["simulate_e2e"]["median"]
    parts = {name: summary[name]["median"] for name in ("signals", "quantrun_kernel", "decode")}
    parts["other"] = total - sum(parts.values())
    return {name: value / total for name, value in parts.items()}


def render(result: dict[str, Any]) -> None:
    title = f"engine benchmark: {result['rows']:,} bars, {result['trades']:,} trades"
    table = Table(title=f"{title}, {result['repeat']} reps, one process, interleaved")
    table.add_column("case")
    table.add_column("ms median (min-max)", justify="right")
    table.add_column("ns/bar", justify="right")
    table.add_column("x bare_loop", justify="right")
    table.add_column("share of simulate()", justify="right")
    table.add_column("what it times")
    bare = result["summary"]["bare_loop"]["median"]
    share = result["breakdown"]
    keys = {"quantrun_kernel": "quantrun_kernel", "signals": "signals", "decode": "decode"}
    for case, figures in result["summary"].items():
        part = f"{share[keys[case]]:.0%}" if case in keys else ""
        per_bar = figures["median"] / result["rows"] * 1e9
        table.add_row(
            case,
            spread(figures, 2, 1e3),
            f"{per_bar:.1f}",
            f"{figures['median'] / bare:.2f}",
            part,
            CASES[case],
        )
    table.add_row("(simulate other)", "", "", "", f"{share['other']:.0%}", "the rest of simulate()")
    console = Console(width=max(Console().width, 130))
    console.print(table)
    for name, value in result["ratios"].items():
        verdict = ""
        if name == "kernel_vs_bare_loop":
            verdict = f"  goal <= {GOAL_RATIO:g}: {'MET' if result['goal_met'] else 'NOT MET'}"
        console.print(f"{name:<26} {value:6.2f}x{verdict}", highlight=False)
    check = result["arithmetic_check"]
    console.print(
        f"same arithmetic: equity curves identical={check['equity_identical']} "
        f"(max rel diff {check['equity_max_rel_diff']:.3g}), entries {check['entries']}",
        highlight=False,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = parse_sized_args(argv, doc=__doc__, noun="bars", repeat=9, out=OUT_DIR / "engine.json")
    args.warmup = max(args.warmup, 1)  # the first call may compile; never time it
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bars = random_walk(args.rows)
    t0 = time.perf_counter()
    inputs = Inputs(bars)  # the kernel's first call: cache load or compile
    check = check_same_arithmetic(inputs)  # the bare loop's first call
    first_calls = time.perf_counter() - t0
    if not check["equity_identical"] and check["equity_max_rel_diff"] > 1e-12:
        raise SystemExit(f"the two loops disagree, so the ratio would be meaningless: {check}")
    trades = int(inputs.kernel_out[3][0].size)
    print(
        f"{args.rows:,} bars, {inputs.changes:,} target changes, {trades:,} trades; "
        f"{args.repeat} reps x {len(CASES)} cases in this process (first calls {first_calls:.2f} s)"
    )
    samples = run_all(inputs, args.repeat, args.warmup)
    summary = summarize(samples)
    found = ratios(summary)
    result: dict[str, Any] = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(PACKAGES),
        "mode": "one process; numba cache=True, warmed; cases interleaved round-robin",
        "rows": args.rows,
        "seed": SEED,
        "strategy": {"id": STRATEGY, "params": PARAMS},
        "risk": RISK.model_dump(),
        "costs": COSTS.model_dump(),
        "target_changes": inputs.changes,
        "trades": trades,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "first_calls_s": first_calls,
        "arithmetic_check": check,
        "cases": CASES,
        "goal": f"kernel_vs_bare_loop <= {GOAL_RATIO:g}",
        "samples": samples,
        "summary": summary,
        "ratios": found,
        "breakdown": breakdown(summary),
        "goal_met": found["kernel_vs_bare_loop"] <= GOAL_RATIO,
    }
    write_json(args.out, result)
    render(result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

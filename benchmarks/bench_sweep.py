"""Sweeps against vectorbt and backtesting.py: a 100-cell grid end to end, in fresh processes.

Three groups (issue 15), each timed round-robin in fresh processes (``bench_suite.py``'s
harness), medians of ``--repeat`` samples after ``--warmup`` untimed rounds:

- ``grid 15m``: the ``sma_crossover`` grid fast 5..50 step 5 x slow 60..240 step 20 (100 cells)
  on six months of 1m bars (262,800 rows) resampled to 15m. ``quantrun sweeps create`` against
  vectorbt broadcasting every cell in one ``Portfolio.from_signals`` (JIT and its cache load
  included) and backtesting.py's ``Backtest.optimize`` (a black box: AGPL, its source unread).
  Same semantics as the suite's cases: next-open fills, 0.1 % commission, all in, long only.
- ``grid 1m``: the same grid at 1m on 1,000,000 bars against one ``runs create`` of that data.
- ``memory``: the peak RSS of quantrun's 100-cell sweep and of a 400-cell one (slow 60..450
  step 10) on the six months at 15m.

    .venv-bench/bin/python benchmarks/bench_sweep.py            # about 10 minutes on 2 cores
    .venv-bench/bin/python benchmarks/bench_sweep.py --quick    # one sample each, no warm-up

Writes ``benchmarks/out/sweep.json`` and ``sweep.md``; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench_ingest import ensure_csv
from bench_suite import (
    _PEER_PRELUDE,
    COMMISSION_BPS,
    PEER_PYTHON,
    QR_CLI,
    RISK,
    Case,
    _fresh_root,
    _json_line,
    _remove,
    check_environments,
    run_group,
    suite_machine,
)
from harness import OUT_DIR, stats, write_json

SIX_MONTHS_ROWS = 262_800  # 182.5 days of 1-minute bars
BIG_ROWS = 1_000_000
FASTS = (5, 51, 5)
SLOWS = (60, 241, 20)
SLOWS_400 = (60, 451, 10)
GOALS = (
    ("vectorbt_over_quantrun_15m", ">=", 5.0),
    ("backtesting_over_quantrun_15m", ">=", 5.0),
    ("sweep_over_run_1m", "<=", 10.0),
    ("rss_400_over_100", "<=", 1.2),
)


def _grid(fasts: tuple[int, int, int], slows: tuple[int, int, int]) -> list[str]:
    return [
        f"fast={fasts[0]}:{fasts[1] - 1}:{fasts[2]}",
        f"slow={slows[0]}:{slows[1] - 1}:{slows[2]}",
    ]


VECTORBT_GRID = (
    _PEER_PRELUDE
    + f"""
import numpy as np
import vectorbt as vbt
close = frame["Close"]
fasts, slows = range(*{FASTS}), range(*{SLOWS})
# Every cell in one call: one column per (fast, slow), broadcast by vectorbt.
fast = vbt.MA.run(close, [f for f in fasts for s in slows], short_name="fast")
slow = vbt.MA.run(close, [s for f in fasts for s in slows], short_name="slow")
entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
portfolio = vbt.Portfolio.from_signals(close, entries, exits, price=frame["Open"],
    fees={COMMISSION_BPS / 1e4}, init_cash=10_000, size=np.inf, direction="longonly",
    freq=f"{{minutes}}min")
returns = portfolio.total_return()
print(json.dumps({{"seconds": time.perf_counter() - t0, "cells": int(returns.shape[0]),
    "best_total_return": float(returns.max()),
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""
)
BACKTESTING_GRID = (
    _PEER_PRELUDE
    + f"""
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
from backtesting.test import SMA

class SmaCross(Strategy):
    fast = 10
    slow = 30

    def init(self):
        self.f = self.I(SMA, self.data.Close, self.fast)
        self.s = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.f, self.s):
            if not self.position:
                self.buy()
        elif crossover(self.s, self.f):
            self.position.close()

backtest = FractionalBacktest(frame, SmaCross, cash=10_000, commission={COMMISSION_BPS / 1e4},
    trade_on_close=False, exclusive_orders=False, finalize_trades=False)
stats, heatmap = backtest.optimize(fast=range(*{FASTS}), slow=range(*{SLOWS}),
    maximize="Return [%]", return_heatmap=True)
print(json.dumps({{"seconds": time.perf_counter() - t0, "cells": int(len(heatmap)),
    "best_total_return": float(stats["Return [%]"]) / 100,
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""
)


def _sweep_argv(csv: Path, timeframe: str, grid: list[str], risk_file: Path) -> list[str]:
    return [
        str(QR_CLI), "sweeps", "create", str(csv), "--symbol", "BENCH",
        "--strategy", "sma_crossover", "--grid", grid[0], "--grid", grid[1],
        "--risk-file", str(risk_file), "--commission-bps", str(COMMISSION_BPS),
        "--timeframe", timeframe, "--json",
    ]  # fmt: skip


def _sweep_report(stdout: str) -> dict[str, Any]:
    value = json.loads(stdout)
    returns = [c["total_return"] for c in value["cells"] if c["total_return"] is not None]
    return {
        "cells": len(value["cells"]),
        "computed": value["computed"],
        "best_total_return": max(returns),
        "sweep_id": value["sweep_id"],
    }


def _run_report(stdout: str) -> dict[str, Any]:
    value = json.loads(stdout)
    return {"run_id": value["run_id"], "total_return": value["summary"]["total_return"]}


def _quantrun_sweep(
    name: str, group: str, csv: Path, timeframe: str, grid: list[str], risk_file: Path
) -> Case:
    base = _sweep_argv(csv, timeframe, grid, risk_file)
    return Case(
        name,
        group,
        "quantrun",
        lambda root: [*base, "--runs-root", str(root)],
        _sweep_report,
        prepare=_fresh_root,
        cleanup=_remove,
    )


def cases(risk_file: Path, groups: list[str]) -> list[list[Case]]:
    out = []
    if "grid15m" in groups:
        csv = ensure_csv(SIX_MONTHS_ROWS)
        group = "grid 15m (100 cells, 6 months)"
        out.append(
            [
                _quantrun_sweep("quantrun", group, csv, "15m", _grid(FASTS, SLOWS), risk_file),
                Case(
                    "vectorbt",
                    group,
                    "vectorbt",
                    lambda _: [str(PEER_PYTHON), "-c", VECTORBT_GRID, str(csv), "15"],
                    _json_line,
                ),
                Case(
                    "backtesting.py",
                    group,
                    "backtesting.py",
                    lambda _: [str(PEER_PYTHON), "-c", BACKTESTING_GRID, str(csv), "15"],
                    _json_line,
                ),
            ]
        )
    if "grid1m" in groups:
        csv = ensure_csv(BIG_ROWS)
        group = "grid 1m (100 cells, 1M bars)"
        run = [
            str(QR_CLI), "runs", "create", str(csv), "--symbol", "BENCH",
            "--strategy", "sma_crossover", "--param", "fast=5", "--param", "slow=60",
            "--risk-file", str(risk_file), "--commission-bps", str(COMMISSION_BPS),
            "--timeframe", "1m", "--json",
        ]  # fmt: skip
        out.append(
            [
                _quantrun_sweep("quantrun sweep", group, csv, "1m", _grid(FASTS, SLOWS), risk_file),
                Case(
                    "quantrun runs create",
                    group,
                    "quantrun",
                    lambda root: [*run, "--runs-root", str(root)],
                    _run_report,
                    prepare=_fresh_root,
                    cleanup=_remove,
                ),
            ]
        )
    if "memory" in groups:
        csv = ensure_csv(SIX_MONTHS_ROWS)
        group = "memory (15m, 6 months)"
        out.append(
            [
                _quantrun_sweep("100 cells", group, csv, "15m", _grid(FASTS, SLOWS), risk_file),
                _quantrun_sweep("400 cells", group, csv, "15m", _grid(FASTS, SLOWS_400), risk_file),
            ]
        )
    return out


def summarize(case: Case) -> dict[str, Any]:
    return {
        "group": case.group,
        "case": case.name,
        "tool": case.tool,
        "wall_s": stats([s.wall_s for s in case.samples]),
        "peak_rss_mib": stats([s.maxrss_mib for s in case.samples]),
        "report": case.samples[-1].report if case.samples else {},
    }


def _median(rows: list[dict[str, Any]], group: str, case: str, key: str) -> float | None:
    for row in rows:
        if row["group"].startswith(group) and row["case"] == case:
            value: float = row[key]["median"]
            return value
    return None


def ratios(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    q15 = _median(rows, "grid 15m", "quantrun", "wall_s")
    return {
        "vectorbt_over_quantrun_15m": ratio(_median(rows, "grid 15m", "vectorbt", "wall_s"), q15),
        "backtesting_over_quantrun_15m": ratio(
            _median(rows, "grid 15m", "backtesting.py", "wall_s"), q15
        ),
        "sweep_over_run_1m": ratio(
            _median(rows, "grid 1m", "quantrun sweep", "wall_s"),
            _median(rows, "grid 1m", "quantrun runs create", "wall_s"),
        ),
        "rss_400_over_100": ratio(
            _median(rows, "memory", "400 cells", "peak_rss_mib"),
            _median(rows, "memory", "100 cells", "peak_rss_mib"),
        ),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| group | case | wall s, median (min-max) | peak RSS MiB | check |",
        "|---|---|---|---|---|",
    ]
    for row in result["cases"]:
        wall, rss, report = row["wall_s"], row["peak_rss_mib"], row["report"]
        check = ", ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in report.items()
            if k in ("cells", "best_total_return", "total_return")
        )
        lines.append(
            f"| {row['group']} | {row['case']} | {wall['median']:.2f} ({wall['min']:.2f}-"
            f"{wall['max']:.2f}) | {rss['median']:.0f} | {check} |"
        )
    lines += ["", "| goal | ratio | bound | met |", "|---|---|---|---|"]
    for name, op, bound in GOALS:
        value = result["ratios"].get(name)
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        shown = "-" if value is None else f"{value:.2f}"
        lines.append(f"| {name} | {shown} | {op} {bound} | {'-' if met is None else met} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one sample each, no warm-up")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 3)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds (default 1)")
    parser.add_argument(
        "--groups",
        nargs="+",
        default=["grid15m", "grid1m", "memory"],
        choices=["grid15m", "grid1m", "memory"],
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "sweep.json")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    check_environments()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    risk_file = OUT_DIR / "sweep-risk.json"
    risk_file.write_text(json.dumps(RISK) + "\n")
    started = time.perf_counter()
    done: list[Case] = []
    for group in cases(risk_file, args.groups):
        print(f"{group[0].group}: {', '.join(c.name for c in group)}", flush=True)
        run_group(group, repeat, warmup, group[0].group)
        done += group
    rows = [summarize(c) for c in done]
    result = {
        "machine": suite_machine(),
        "repeat": repeat,
        "warmup": warmup,
        "seconds": time.perf_counter() - started,
        "cases": rows,
        "ratios": ratios(rows),
        "goals": [{"name": n, "op": op, "bound": b} for n, op, b in GOALS],
    }
    write_json(args.out, result)
    text = markdown(result)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

# Two entry points for a fresh machine (see README):
#   make demo   install, generate the demo dataset, ingest it, create the demo run, serve the UI
#   make test   install, then every quality gate: ruff, format, mypy --strict, import contract, pytest
# The environment comes from uv.lock only; uv itself is pinned and installed into .tools/.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test check lint typecheck contracts pytest bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

demo: $(VENV)/.synced
	$(BIN)/quantrun demo --serve

test: $(VENV)/.synced check

check: lint typecheck contracts pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

pytest:
	$(BIN)/pytest -q

# The benchmark suite against backtesting.py and vectorbt (benchmarks/README.md); it needs both
# environments: quantrun's .venv and the peers' .venv-bench (its rules are further down).
bench: bench-suite

clean:
	rm -rf $(VENV) $(TOOLS) demo .pytest_cache .mypy_cache .ruff_cache

# --- Benchmarks against peers and the bare loop (see benchmarks/README.md) -------------------
# .venv-bench holds quantrun (editable, its locked deps) plus the peer tools of
# benchmarks/requirements-peers.txt; the peers never enter quantrun's own environment.
BENCH_VENV := .venv-bench

.PHONY: bench-env parity crosscheck bench-engine

$(BENCH_VENV)/.synced: $(UV) uv.lock pyproject.toml benchmarks/requirements-peers.txt
	$(UV) venv --clear $(BENCH_VENV) --python $(PYTHON)
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project > $(BENCH_VENV)/quantrun-locked.txt
	$(UV) pip install --python $(BENCH_VENV)/bin/python \
		-r $(BENCH_VENV)/quantrun-locked.txt -r benchmarks/requirements-peers.txt -e .
	touch $@

bench-env: $(BENCH_VENV)/.synced

# Trade-for-trade parity with backtesting.py: every real month in ../shared/data/real and the
# demo, at 5m/15m/1h, every expressible built-in (about 20 s); writes benchmarks/out/parity.*.
parity: $(BENCH_VENV)/.synced
	$(BENCH_VENV)/bin/python benchmarks/parity_backtesting.py --idiom

# Every metric of metrics.py beside backtesting.py's stats and quantstats on one real month;
# writes benchmarks/out/metrics_crosscheck.* (the table in docs/metrics.md).
crosscheck: $(BENCH_VENV)/.synced
	$(BENCH_VENV)/bin/python benchmarks/metrics_crosscheck.py

# Both peer checks, for CI: builds .venv-bench when needed, then about 30 s; exit 1 on any
# disagreement. Without ../shared/data/real the real months are skipped and the demo is checked.
.PHONY: peer-checks
peer-checks: parity crosscheck

bench-engine: $(VENV)/.synced
	$(BIN)/python benchmarks/bench_engine.py

.PHONY: bench-suite bench-quick bench-ingest bench-sweep bench-startup bench-artifacts

bench-suite: $(VENV)/.synced $(BENCH_VENV)/.synced
	$(BENCH_VENV)/bin/python benchmarks/bench_suite.py

bench-quick: $(VENV)/.synced $(BENCH_VENV)/.synced
	$(BENCH_VENV)/bin/python benchmarks/bench_suite.py --quick

bench-sweep: $(VENV)/.synced $(BENCH_VENV)/.synced
	$(BENCH_VENV)/bin/python benchmarks/bench_sweep.py

bench-ingest: $(VENV)/.synced
	$(BIN)/python benchmarks/bench_ingest.py

bench-startup: $(VENV)/.synced
	$(BIN)/python benchmarks/bench_startup.py

bench-artifacts: $(VENV)/.synced
	$(BIN)/python benchmarks/bench_artifacts.py

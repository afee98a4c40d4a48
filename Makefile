# cityops — the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-deps lint bench clean

# A virtualenv with the pinned dependencies (requirements.lock) and cityops in editable mode.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages and services the suite needs (installs what is missing; needs root or sudo).
system-deps:
	bash scripts/system-deps.sh

# 1. Set up the demo city on the embedded SQLite database, simulate its last 30 days (once), serve.
demo: $(STAMP)
	$(BIN)/cityops demo

# 2. Set up everything and run the whole suite (unit, both databases, API, lint, types).
test: system-deps $(STAMP)
	$(BIN)/pytest -n 2 --dist loadgroup

# Benchmarks: print figures and rewrite their sections of docs/benchmarks.md.
# BENCH_CASES=10000000 for the 10M history (hours, and ~60 GB of disk for both databases).
BENCH_CASES ?= 1000000
bench: $(STAMP)
	$(BIN)/python -m bench.geo
	$(BIN)/cityops bench --cases $(BENCH_CASES)
	$(BIN)/python -m bench.evaluation --cases $(BENCH_CASES)

lint: $(STAMP)
	$(BIN)/ruff check src tests && $(BIN)/ruff format --check src tests && $(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

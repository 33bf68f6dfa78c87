# The user contract: `make repro` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: repro test lint format smoke report venv clean-outputs bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

venv: $(STAMP)

SNAKEMAKE = PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake
# A lock left by a killed Snakemake is removed first, only when no Snakemake runs here.
UNLOCK = $(BIN)/python -m avrepro unlock-stale

## Run the whole DAG on the default profile (same as `snakemake --cores all` inside the venv).
repro: $(STAMP)
	$(UNLOCK)
	$(SNAKEMAKE) --cores $(CORES) --workflow-profile workflow/profiles/default

## The reviewer's path, after `dvc pull`: every figure, table and the report rebuilt from the
## pulled models and metrics. No training, evaluation or data job may run (--allowed-rules).
REPORT_RULES = $$($(SNAKEMAKE) --list-rules 2>/dev/null | grep -E '^(figures_[a-z]+|report)$$')
report: $(STAMP)
	$(UNLOCK)
	$(SNAKEMAKE) --touch --cores 1 --quiet all
	$(SNAKEMAKE) --cores $(CORES) --workflow-profile workflow/profiles/default \
	  --allowed-rules $(REPORT_RULES) --forcerun $(REPORT_RULES)

## Unit tests plus a smoke run of the whole DAG, on TEST_WORKERS pytest workers (pytest-xdist;
## a test file per worker at a time, as its tests share fixtures; 1: no workers).
TEST_WORKERS ?= 2
test: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

## Lint and format checks (CI runs them): ruff (lint + format) on the Python code, snakefmt on the workflow.
LINT_PY := src tests benchmarks
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PY)
	$(BIN)/ruff format --check $(LINT_PY)
	$(BIN)/snakefmt --check Snakefile workflow

## Apply the formatters (ruff format, ruff's safe fixes, snakefmt).
format: $(STAMP)
	$(BIN)/ruff check --fix $(LINT_PY)
	$(BIN)/ruff format $(LINT_PY)
	$(BIN)/snakefmt Snakefile workflow

## Only the smoke run of the DAG, into the working tree.
smoke: $(STAMP)
	$(UNLOCK)
	$(SNAKEMAKE) --cores $(CORES) --workflow-profile workflow/profiles/default --config profile=smoke

## Benchmarks (benchmarks/): print the figures and write reports/benchmarks.md. TREE is an output
## tree where the default profile has run (default: this checkout, after `make repro`).
TREE ?= .
bench: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python benchmarks/run_all.py --tree $(TREE)

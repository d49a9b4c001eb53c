# churnops: every command a person runs goes through here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# Stage commands in dvc.yaml say `python`: make it the venv's for everything run from here.
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

STAMP := $(VENV)/.installed

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "churnops needs Python 3.11 (model bytes depend on it); set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	@touch $@

.PHONY: help
help: ## List the targets with a one-line description
	@# Width from the longest target name; colour only when stdout is a terminal.
	@if [ -t 1 ]; then on=$$'\033[36m'; off=$$'\033[0m'; else on=; off=; fi; \
	grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} \
		{name[NR] = $$1; desc[NR] = $$2; if (length($$1) > w) w = length($$1)} \
		END {for (i = 1; i <= NR; i++) printf "  %s%-*s%s  %s\n", on, w, name[i], off, desc[i]}'

.PHONY: setup
setup: $(STAMP) ## Create .venv and install the pinned dependencies (requirements.lock)

.PHONY: run
run: setup ## Set up, run the whole pipeline (dvc repro) and print the metrics
	python -m churnops.plotpage check
	dvc repro
	dvc metrics show
	churnops monitor

.PHONY: assets
assets: setup ## Re-download the pinned Vega libraries (npm) into the offline plots page
	python -m churnops.plotpage fetch

# The end-to-end tests mostly wait on subprocesses (dvc, git, servers): one pytest worker per
# core runs them side by side, each handed one test at a time (--maxschedchunk 1), so test
# lengths from 0.01 s to minutes still end together. `pytest` alone (one process) is handier
# when debugging one test.
.PHONY: test
test: setup ## Set up and run the whole test suite, slow and end-to-end tests included, one worker per core
	pytest -n auto --maxschedchunk 1

.PHONY: test-fast
test-fast: setup ## Run the tests that are not marked slow, one worker per core
	pytest -n auto --maxschedchunk 1 -m "not slow"

.PHONY: lint
lint: setup ## Check lint and formatting with ruff, and types with mypy (strict, on the folders pyproject.toml lists)
	ruff check .
	ruff format --check .
	mypy

.PHONY: format
format: setup ## Reformat the code with ruff
	ruff check --fix .
	ruff format .

.PHONY: serve
serve: setup ## Serve the registry's prod model (never the work tree's) on 127.0.0.1:8000
	churnops serve

.PHONY: bench
bench: bench-pipeline bench-monitor bench-serve bench-models bench-loop bench-promotion bench-logwriter bench-report bench-archive bench-labeljoin ## Run every benchmark under bench/ and print their tables

.PHONY: bench-pipeline
bench-pipeline: setup ## Benchmark the stages at 100k, 1M and 5M rows (time and peak RSS)
	python bench/pipeline.py

.PHONY: bench-monitor
bench-monitor: setup ## Benchmark drift monitoring on a 10k- and a 5M-line log (needs ~2 GB in /tmp)
	python bench/monitor.py

.PHONY: bench-serve
bench-serve: setup ## Benchmark /predict against a hello endpoint at 1 and 2 workers
	python bench/serve.py

.PHONY: bench-models
bench-models: setup ## Benchmark `churnops models` on a 500-commit history
	python bench/models.py

.PHONY: bench-loop
bench-loop: setup ## Benchmark the closed loop: live F1 before/after a concept shift and after retraining
	python bench/loop.py

.PHONY: bench-promotion
bench-promotion: setup ## Benchmark the judge's rule: false promotions between equal models, power for real gains (~25 min)
	python bench/promotion.py

.PHONY: bench-logwriter
bench-logwriter: setup ## Benchmark the prediction-log writer: append throughput, the fresh-line check, RSS after a burst
	python bench/logwriter.py

.PHONY: bench-archive
bench-archive: setup ## Benchmark shipping a 100 MB rotated log file to the archive, and reading it back
	python bench/archive.py
.PHONY: bench-labeljoin
bench-labeljoin: setup ## Benchmark the label join at 1M and 10M log lines, 200k labels, beside pandas and DuckDB (~4 GB in /tmp)
	python bench/labeljoin.py

.PHONY: clean
clean: ## Remove the virtualenv and caches (DVC's cache is kept)
	rm -rf $(VENV) .pytest_cache .ruff_cache

.PHONY: bench-report
bench-report: setup ## Benchmark churnops report: estimated vs realized F1 per simulated day, and 10M lines beside monitor (~3 GB in /tmp)
	python bench/report.py

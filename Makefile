# feedrank: `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PY): requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt
	@touch $(PY)

KERNEL_SPEC := $(VENV)/share/jupyter/kernels/feedrank/kernel.json
$(KERNEL_SPEC): $(PY)
	$(PY) -m ipykernel install --sys-prefix --name feedrank --display-name "feedrank (.venv)"

.PHONY: install
install: $(PY) $(KERNEL_SPEC) ## Create .venv, install the pinned requirements and the notebook kernel

.PHONY: all
all: ## Run the whole pipeline: data, training, notebooks, evaluation_report.md
	bash run_pipeline.sh

.PHONY: lint
lint: $(PY) ## ruff check + ruff format --check + mypy + nbqa ruff on the notebooks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/nbqa ruff notebooks

.PHONY: format
format: $(PY) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: test
test: $(PY) $(KERNEL_SPEC) ## Run the test suite (unit, data contract, model behaviour, API, end-to-end)
	$(PY) -m pytest

URL ?= http://127.0.0.1:$(PORT)
CONCURRENCY ?= 8

.PHONY: serve
serve: $(PY) ## Serve models/ on 127.0.0.1:PORT (default 8000; FEEDRANK_MODEL_DIR overrides)
	$(PY) -m serving --host 127.0.0.1 --port $(PORT) --no-access-log

.PHONY: benchmark
benchmark: $(PY) ## Benchmark a running server (URL=..., CONCURRENCY=8); JSON to reports/
	$(PY) benchmark.py --url $(URL) --requests 1000 --concurrency $(CONCURRENCY) \
		--json reports/benchmark-c$(CONCURRENCY).json

PERF_SECONDS ?= 5
PERF_REPEATS ?= 3
WORKERS ?= 1

.PHONY: perf
perf: $(PY) ## wrk table: /health, echo floor, /rank (20 posts) at concurrency 1 and 32 (needs wrk)
	$(PY) -m benchmarks.perf --seconds $(PERF_SECONDS) --repeats $(PERF_REPEATS) \
		--workers $(WORKERS) --json reports/perf-w$(WORKERS).json

.PHONY: docker-smoke
docker-smoke: ## Build the image, run it read-only: API checks, benchmark, 60 s soak, hardening; warns if no engine
	bash scripts/docker_smoke.sh

FUZZ_EXAMPLES ?= 2000
SOAK_SECONDS ?= 60

.PHONY: fuzz
fuzz: $(PY) ## Schemathesis on every operation, FUZZ_EXAMPLES (2000) each, fresh seed, real server
	FEEDRANK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FEEDRANK_FUZZ_RANDOM=1 \
		$(PY) -m pytest tests/test_reliability_fuzz.py -m fuzz -s -q

.PHONY: soak
soak: $(PY) ## SOAK_SECONDS (60) at concurrency 32 against one local server of models/, then SIGTERM
	SOAK_SECONDS=$(SOAK_SECONDS) bash scripts/soak.sh

.PHONY: faults
faults: $(PY) ## Fault tests: broken artifacts, failing model, SIGTERM under load, killed pipeline
	$(PY) -m pytest -m faults -s -q

.PHONY: reliability
reliability: fuzz soak faults ## fuzz + soak + faults at full size (the container: make docker-smoke)

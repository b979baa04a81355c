# feedrank: `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Dependency sets by purpose, one pinned lock each, compiled from pyproject.toml's groups:
# serve (the image's runtime), client (benchmark.py), train (pipeline, notebooks, report) and
# dev (all of them, plus Spark, tests and lint).
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
LOCK_DIR := requirements
GROUPS := serve client feature-server train

$(UV):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Stamps of our own (run_pipeline.sh writes the train one), because .venv/bin/python is a
# symlink to the system interpreter, whose timestamp is not ours to touch.
INSTALLED := $(VENV)/.dev.sha256
CLIENT := $(VENV)/.client.sha256
$(VENV)/.%.sha256: $(LOCK_DIR)/%.txt | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r $<
	sha256sum $< | cut -d' ' -f1 >$@

# dev first, keeping the pins it already has; every other set is then held to dev's pins
.PHONY: lock
lock: | $(UV) ## Recompile requirements/*.txt from pyproject.toml (edit a group there, then run this)
	$(UV) pip compile --quiet pyproject.toml --extra dev --python-version 3.11 \
		-o $(LOCK_DIR)/dev.txt
	for group in $(GROUPS); do \
		$(UV) pip compile --quiet pyproject.toml --extra $$group -c $(LOCK_DIR)/dev.txt \
			--python-version 3.11 -o $(LOCK_DIR)/$$group.txt || exit 1; \
	done

KERNEL_SPEC := $(VENV)/share/jupyter/kernels/feedrank/kernel.json
$(KERNEL_SPEC): $(INSTALLED)
	$(PY) -m ipykernel install --sys-prefix --name feedrank --display-name "feedrank (.venv)"

.PHONY: install
install: $(INSTALLED) $(KERNEL_SPEC) ## Create .venv with the dev set (requirements/dev.txt) and the notebook kernel

.PHONY: all
all: ## Run the whole pipeline: data, training, notebooks, evaluation_report.md
	bash run_pipeline.sh

.PHONY: lint
lint: $(INSTALLED) ## ruff check + ruff format --check + mypy + nbqa ruff on the notebooks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/nbqa ruff notebooks

.PHONY: format
format: $(INSTALLED) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The test tiers, by marker (pyproject.toml). make test leaves out the slower ones and the system
# tests (tests/system: server processes, the stack, containers); make test-fast also leaves out
# e2e (fresh interpreters, Feast); make test-all runs every test. tests/docs/test_tiers.py checks
# that each tier holds the one below it.
SUITE := not heavy and not fuzz and not soak and not faults and not spark
FAST := $(SUITE) and not e2e

# One BLAS/OpenMP thread per process: with one per core, a machine whose other core is busy
# spins at every barrier
ONE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

# Modules outside a tier are not even imported (Spark, Feast and schemathesis are slow to
# import), nor is schemathesis's pytest plugin loaded, which only the fuzz tests use
SUITE_SKIPS := --ignore=tests/system --ignore=tests/batch/test_spark.py -p no:schemathesis
FAST_SKIPS := $(SUITE_SKIPS) --ignore=tests/features/test_feature_store.py

.PHONY: test
test: $(INSTALLED) ## Unit, data-contract, model-contract, API (in process) and docs tests: no full training, server processes or Spark
	$(ONE_THREAD) $(PY) -m pytest -m "$(SUITE)" $(SUITE_SKIPS)

.PHONY: test-fast
test-fast: $(PY) ## make test without its fresh interpreters and Feast
	$(ONE_THREAD) $(PY) -m pytest -m "$(FAST)" $(FAST_SKIPS)

.PHONY: test-all
test-all: $(INSTALLED) $(KERNEL_SPEC) ## Every test: adds full training, Spark, server processes, the stack, faults, fuzz and soak
	$(PY) -m pytest

URL ?= http://127.0.0.1:$(PORT)
CONCURRENCY ?= 8
BENCHMARK_JSON ?= reports/benchmarks/c$(CONCURRENCY).json

FEATURE_PORT ?= 6566
FEATURE_CONFIG ?= feature_repo/feature_store.yaml
# what make serve runs: the serve set (the service) and the feature-server set (Feast, supervisord)
SERVE_SETS := $(VENV)/.serve.sha256 $(VENV)/.feature-server.sha256

# supervisord (deploy/serve.supervisord.conf) runs both in the foreground until SIGINT or SIGTERM.
# The feature server's registry directory must exist before it starts; python -m
# features.feature_store fills it, and the running feature server sees that within a minute.
.PHONY: serve
serve: $(SERVE_SETS) ## Serve /rank and /rank/ids on 127.0.0.1:PORT (8000), Feast's feature server on FEATURE_PORT (6566); Ctrl-C stops both
	mkdir -p data/feast data/serve
	SERVE_BIN=$(abspath $(VENV))/bin PORT=$(PORT) FEATURE_PORT=$(FEATURE_PORT) \
		FEATURE_REPO=$(patsubst %/,%,$(dir $(FEATURE_CONFIG))) FEATURE_CONFIG=$(FEATURE_CONFIG) \
		SERVE_RUN=$(CURDIR)/data/serve exec $(VENV)/bin/supervisord -c deploy/serve.supervisord.conf

.PHONY: benchmark
benchmark: $(CLIENT) ## Benchmark a running server or container (URL=..., CONCURRENCY=8; needs the client set only); JSON to BENCHMARK_JSON
	$(PY) benchmark.py --url $(URL) --requests 1000 --concurrency $(CONCURRENCY) \
		--json $(BENCHMARK_JSON)

.PHONY: batch-bench
batch-bench: $(INSTALLED) ## Both batch engines on 1,000,000 rows (canonical rows, new ids): wall time, rows/s, peak RSS
	$(PY) -m benchmarks.batch

REDIS_PORT ?= 6379

# Debian's redis-server (apt-get install redis-server), in the background, its data in data/redis
.PHONY: redis
redis: $(PY) ## Start redis-server on 127.0.0.1:REDIS_PORT and materialize the posts into it (after the pipeline)
	mkdir -p data/redis
	redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --daemonize yes --dir data/redis \
		--logfile redis.log --pidfile $(CURDIR)/data/redis/redis.pid
	FEEDRANK_REDIS_ADDRESS=127.0.0.1:$(REDIS_PORT) $(PY) -m features.feature_store \
		--config feature_repo/feature_store.redis.yaml

.PHONY: store-bench
store-bench: $(PY) ## /rank/ids store-read p50/p99 (20 ids) on SQLite and Redis (needs redis-server); writes reports/benchmarks/store_read.json
	$(PY) -m benchmarks.store_read
	$(PY) -m benchmarks.report

PERF_SECONDS ?= 5
PERF_REPEATS ?= 3
# a git revision to measure beside the working tree (git worktree), and its server's options
BASELINE ?=
BASELINE_OPTIONS ?=

.PHONY: perf
perf: $(PY) ## wrk: /health, echo floor, /rank (20 posts) [and BASELINE=rev's /rank] at c1-64, then store-bench; renders reports/performance.md
	$(PY) -m benchmarks.perf --seconds $(PERF_SECONDS) --repeats $(PERF_REPEATS) \
		--json reports/benchmarks/perf.json \
		$(if $(BASELINE),--baseline $(BASELINE)) \
		$(foreach option,$(BASELINE_OPTIONS),--baseline-option=$(option))
	$(MAKE) store-bench

# The two images; PYTHON_IMAGE=tag builds from a base served by tag (the Dockerfiles' headers)
IMAGE ?= feedrank
FEATURE_SERVER_IMAGE ?= feedrank-feature-server
DOCKER_BUILD := docker build $(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE))

.PHONY: image
image: ## docker build the service image (Dockerfile) as IMAGE (feedrank)
	$(DOCKER_BUILD) -t $(IMAGE) .

.PHONY: feature-server-image
feature-server-image: ## docker build Feast's feature server with its store filled (deploy/feature-server.Dockerfile) as FEATURE_SERVER_IMAGE
	$(DOCKER_BUILD) -f deploy/feature-server.Dockerfile -t $(FEATURE_SERVER_IMAGE) .

.PHONY: images
images: image feature-server-image ## Both images

.PHONY: docker-smoke
docker-smoke: $(INSTALLED) ## Build both images with docker, run them read-only: API checks, benchmark, 60 s soak, hardening, rollout, feature server
	PY=$(PY) bash scripts/docker_smoke.sh

STACK_PORT ?= 8080
STACK_DIR ?= data/stack

# supervisord (deploy/stack.supervisord.conf) runs every part in the background; STACK_PORT is
# the front door, the five ports after it are HAProxy's statistics, the replicas, the feature
# server and Redis
.PHONY: stack
stack: $(INSTALLED) ## The production topology here: HAProxy on STACK_PORT (8080), 2 replicas, feast serve, Redis (needs models/ and data/posts.csv); prints the URL and each PID
	$(PY) -m scripts.stack up --port $(STACK_PORT) --dir $(STACK_DIR)

.PHONY: stack-down
stack-down: $(PY) ## Stop what make stack started
	$(PY) -m scripts.stack down --dir $(STACK_DIR)

STACK_SECONDS ?= 20

.PHONY: stack-bench
stack-bench: $(INSTALLED) ## The stack under wrk: cost per request, light load (c=4), overload (c=256), failover (c=32, a replica killed), Redis stopped; reports/benchmarks/stack.json, rendered into reports/performance.md
	$(PY) -m benchmarks.stack --seconds $(STACK_SECONDS) --json reports/benchmarks/stack.json
	$(PY) -m benchmarks.report

.PHONY: stack-smoke
stack-smoke: $(INSTALLED) ## Build the images from a clean clone, run deploy/compose.yaml, check /rank and /rank/ids through the front door, take it down
	PY=$(abspath $(PY)) bash scripts/stack_smoke.sh

FUZZ_EXAMPLES ?= 2000
SOAK_SECONDS ?= 60

.PHONY: fuzz
fuzz: $(INSTALLED) ## Schemathesis on every operation, FUZZ_EXAMPLES (2000) each, fresh seed, real server
	FEEDRANK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FEEDRANK_FUZZ_RANDOM=1 \
		$(PY) -m pytest tests/system/test_fuzz.py -m fuzz -s -q

.PHONY: soak
soak: $(INSTALLED) ## SOAK_SECONDS (60) at concurrency 32 against one local server of models/, then SIGTERM; reports/benchmarks/soak.json, rendered into reports/performance.md
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_JSON=reports/benchmarks/soak.json bash scripts/soak.sh
	$(PY) -m benchmarks.report

.PHONY: faults
faults: $(INSTALLED) ## Fault tests: broken artifacts, failing model, SIGTERM under load, killed pipeline
	$(PY) -m pytest -m faults -s -q

.PHONY: edge
edge: $(INSTALLED) ## HTTP edge tests at the front door at full size (520 stalled sockets, 8 x 64 MiB headers, 1,000 aborts), then the probes against a stack of models/: reports/benchmarks/edge.json, rendered into reports/performance.md
	FEEDRANK_EDGE_FULL=1 $(PY) -m pytest tests/system/test_edge.py -s -q
	$(PY) -m benchmarks.edge --json reports/benchmarks/edge.json
	$(PY) -m benchmarks.report

.PHONY: reliability
reliability: fuzz soak faults ## fuzz + soak + faults at full size (the container: make docker-smoke)

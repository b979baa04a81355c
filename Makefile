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
	$(PY) -m uv pip install --quiet --python $(PY) -r requirements.txt
	@touch $(PY)

.PHONY: install
install: $(PY) ## Create .venv and install the pinned requirements

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
test: $(PY) ## Run the test suite (unit, data contract, model behaviour, API, end-to-end)
	$(PY) -m pytest

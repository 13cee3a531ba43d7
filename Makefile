# Semáforo — every target installs what it needs first, so a machine with Python 3.11 and make is enough.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
# Offline machines: when a local copy of the OCDS 1.1.5 schema sits beside the checkout (as on CI), use it instead
# of downloading. Elsewhere the schema is downloaded once from standard.open-contracting.org and cached.
LOCAL_OCDS_SCHEMA := $(wildcard $(abspath $(CURDIR)/../shared/ocds/1.1.5))
ifneq ($(LOCAL_OCDS_SCHEMA),)
export SEMAFORO_OCDS_SCHEMA_DIR ?= $(LOCAL_OCDS_SCHEMA)
endif

.PHONY: install demo test test-fast lint format bench lock docs clean

install: $(STAMP)  ## create .venv and install the locked dependencies (idempotent)

$(STAMP): requirements.lock pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

demo: install  ## simulate CompraNet, run the nightly DAG through Airflow, publish, print a summary
	$(BIN)/semaforo demo

lint: install  ## ruff (check + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint  ## lint, then the whole test suite (unit, integration, DAG, notebooks, cluster)
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not integration and not cluster"

bench: install  ## benchmarks side by side with the reference tools; writes bench/results.json
	$(BIN)/python -m bench $(BENCH_ARGS)

docs: install  ## regenerate the generated documentation (mapping table, data dictionary)
	$(BIN)/semaforo docs --out docs

lock:  ## re-resolve requirements.lock from pyproject.toml
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install -q "uv==$(UV_VERSION)"; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra cluster --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

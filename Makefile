# Developer entry points. Everything runs from the project's own .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: venv install test chaos demo lint schema generate bench clean

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

install: $(STAMP)

# Re-installs only when pyproject.toml changes (or the venv is new).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	$(BIN)/python -m fullon_cache_api.graphiql.assets || true
	$(BIN)/python -m fullon_cache_api.dashboard.assets || true
	touch $(STAMP)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

# The fault suite (also part of `make test`), with each test's measured figures.
chaos: install
	$(BIN)/pytest -m chaos -rP $(PYTEST_ARGS)

demo: install
	$(BIN)/fullon-cache-api demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check src tests bench examples scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy

schema: install
	$(BIN)/fullon-cache-api export-schema --output schema.graphql

# schema.graphql, the client's models/documents/methods and the README's field tables, from
# the code (scripts/generate.py); a test fails when a committed file is out of date.
generate: install
	$(BIN)/python scripts/generate.py

bench: install
	$(BIN)/python bench/query_rtt.py
	$(BIN)/python bench/client_overhead.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/http_compression.py
	$(BIN)/python bench/connection_memory.py

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

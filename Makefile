# Every target installs what it needs first, so each works on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test check lint schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m server.graphiql
	touch $(STAMP)

install: $(STAMP)

run: install  ## serve on http://127.0.0.1:8000 with the demo dataset (GraphiQL at /graphql)
	$(BIN)/salescope serve --demo

test: install  ## the whole suite: analytics, resolvers, schema, server, end to end
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint  ## lint, types, layer contracts and the checked-in SDL
	$(BIN)/salescope export-schema | diff -u schema.graphql - || \
		(echo "schema.graphql is stale: run 'make schema'"; exit 1)

schema: install
	$(BIN)/salescope export-schema > schema.graphql

bench: install  ## the performance targets of issue 2 (100k customers, ~1M order lines)
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

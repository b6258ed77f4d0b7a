# syncer: `make run` syncs the sandbox into a local Postgres mirror; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SYNCER := $(VENV)/bin/syncer
DLT_VENV := .venv-dlt
PORT   ?= 8765
RECORDS ?= 50000

.PHONY: install run sandbox test test-unit test-integration test-faults lint typecheck check bench \
	bench-large clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# bytecode now, as a regular pip install would: an editable install has none, and where
	@# PYTHONDONTWRITEBYTECODE is set every syncer command would compile its modules again
	$(PY) -m compileall -q syncer
	touch $@

install: $(VENV)/.installed

## the benchmark's peer, dlt, in a venv of its own (bench/requirements-dlt.txt): never syncer's pins
$(DLT_VENV)/.installed: bench/requirements-dlt.txt
	$(PYTHON) -m venv $(DLT_VENV)
	$(DLT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DLT_VENV)/bin/python -m pip install --quiet -r bench/requirements-dlt.txt
	touch $@

## run: start the embedded Postgres and the sandbox, then sync config/sandbox.toml
run: install
	@PORT=$(PORT) RECORDS=$(RECORDS) bash scripts/run-sandbox-sync

## sandbox: only the sandbox, in the foreground (Ctrl-C stops it); it prints the export lines
## that config/sandbox.toml needs in another terminal
sandbox: install
	$(SYNCER) sandbox --port $(PORT) --records $(RECORDS)

## test: the whole suite (embedded Postgres unless SYNCER_TEST_DATABASE_URL is set)
test: install
	$(PY) -m pytest -q --durations=15

test-unit: install
	$(PY) -m pytest -q tests/unit tests/sandbox

test-integration: install
	$(PY) -m pytest -q tests/integration tests/acceptance

## test-faults: every fault experiment in full (docs/reliability.md; about an hour, not in CI)
test-faults: install
	$(PY) -m tests.faults.run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

## bench: measure syncer against the raw fetch+COPY ceiling and against dlt (not part of make test)
bench: install $(DLT_VENV)/.installed
	$(PY) bench/run.py

## bench-large: peak RSS of syncer from 100,000 to 1,000,000 records (issue 15; 4 to 7
## minutes on 2 cores, and 1.7 GB for its two sandboxes; not part of `make bench`)
bench-large: install
	$(PY) bench/large.py

clean:
	rm -rf $(VENV) $(DLT_VENV) .syncer .pytest_cache .mypy_cache .ruff_cache

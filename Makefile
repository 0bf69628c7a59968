# Meshscope: `make run` starts everything on embedded defaults, `make test` runs the whole suite.
# Both bootstrap .venv on first use; only Python 3.11+ is needed on the machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run mesh test test-fast bench lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# xds-protos ships an older copy of opentelemetry/proto that breaks the OTLP exporter;
	# reinstalling opentelemetry-proto afterwards restores it (tests/test_dependencies.py checks).
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps -c constraints.txt opentelemetry-proto
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m dashboard.stack $(RUN_ARGS)

mesh: $(STAMP)
	$(BIN)/meshcore up

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not mesh and not browser" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) state .pytest_cache

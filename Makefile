# Meshscope: `make run` starts everything on embedded defaults, `make test` runs the whole suite.
# Both bootstrap .venv on first use; only Python 3.11+ is needed on the machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run mesh test test-deps test-postgres test-fast bench lint format clean kube-apiserver

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

# Tests run in parallel, a test file per worker at a time (module fixtures stay in one process).
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile
# The PostgreSQL server of the second run (trust auth); none answering skips that run, loudly,
# unless MESHSCOPE_REQUIRE_POSTGRES=1 (set by .ci/run), which makes it a failure.
POSTGRES_SERVER ?= postgres://postgres@127.0.0.1:5432/

test: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-postgres

# The dashboard's tests again on PostgreSQL. pytest-django creates a fresh test database (one per
# worker) named after this run and drops it at the end; each test dashboard gets its own as well.
# An external database needs a shared secret key (the production shape): a throwaway one.
test-postgres: $(STAMP)
	@if $(BIN)/python -m tests.support.postgres $(POSTGRES_SERVER); then \
	  echo "[meshscope] dashboard tests again on PostgreSQL ($(POSTGRES_SERVER))"; \
	  DATABASE_URL=$(POSTGRES_SERVER)meshscope_run_$$(date +%s)_$$$$ DJANGO_SECRET_KEY=test-only-$$$$ \
	    $(BIN)/python -m pytest $(XDIST) tests/dashboard $(PYTEST_ARGS); \
	else \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo "!!! POSTGRESQL RUN SKIPPED: no PostgreSQL answers at $(POSTGRES_SERVER)"; \
	  echo "!!! The dashboard tests ran on SQLite only. Start one (Debian: apt-get install postgresql)."; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  test "$$MESHSCOPE_REQUIRE_POSTGRES" != 1; \
	fi

# What only Debian can provide for the whole suite (as root): Chromium, Prometheus, and a
# kube-apiserver built from Debian's source (below). Without them those tests are skipped, loudly.
test-deps:
	tests/support/install_test_deps.sh

# A real kube-apiserver for the cluster-mode tests, built from Debian's source package (as root, ~6 min
# the first time; cached under ~/.cache/meshscope). Without one, those tests are skipped loudly.
kube-apiserver:
	tests/support/build_kube_apiserver.sh

test-fast: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -m "not mesh and not browser" $(PYTEST_ARGS)

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

# replyx: `make run` starts the product with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Exact versions of every package, refreshed by `make lock`: the product's alone for `make run`, and the
# product's plus the test and bench extras for everything else. Each stamp installs its lock, then replyx
# itself without dependencies, so nothing is resolved again at install time.
RUN_LOCK := requirements/run.txt
TEST_LOCK := requirements/test.txt
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# The resolver behind `make lock`, pinned so that two people refreshing the locks get the same files. uv
# rather than pip-tools: pip-compile is built on pip's internal modules and trails new pip releases.
UV_VERSION := 0.13.8
# Debian packages the tests start for real (command=package).
TEST_PACKAGES := redis-server=redis-server /usr/sbin/nginx=nginx chromium=chromium pg_ctlcluster=postgresql

.PHONY: run test test-stress lint bench clean system-packages lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The test lock holds every package of the run lock at the same version, so one venv serves both.
# A dependency added to pyproject.toml but not to the locks would go missing: pip check names it.
CHECK_LOCK = $(BIN)/pip check >/dev/null || { $(BIN)/pip check; echo "The locks miss a dependency of pyproject.toml: run make lock."; exit 1; }

$(RUN_STAMP): $(RUN_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r $(RUN_LOCK)
	$(BIN)/pip install -q --no-deps -e .
	@$(CHECK_LOCK)
	touch $@

$(TEST_STAMP): $(TEST_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r $(TEST_LOCK)
	$(BIN)/pip install -q --no-deps -e .
	@$(CHECK_LOCK)
	touch $@

# Re-resolve both locks from pyproject.toml with uv's resolver (installed into the venv here): for every
# platform and Python >= 3.11 (--universal), keeping today's pins where pyproject.toml still allows them;
# `make lock UPGRADE=1` moves every package to its newest allowed release. The test lock is resolved
# first and the run lock within it (-c), so the two never disagree on a version.
LOCK_FLAGS = --universal --python-version 3.11 --custom-compile-command "make lock" --annotation-style line $(if $(UPGRADE),--upgrade)
lock: | $(BIN)/python
	$(BIN)/pip install -q uv==$(UV_VERSION)
	mkdir -p requirements
	$(BIN)/uv pip compile -q pyproject.toml --extra test --extra bench $(LOCK_FLAGS) -o $(TEST_LOCK)
	$(BIN)/uv pip compile -q pyproject.toml -c $(TEST_LOCK) $(LOCK_FLAGS) -o $(RUN_LOCK)

run: $(RUN_STAMP)
	$(BIN)/replyx serve --demo

system-packages:
	scripts/ensure-system-packages.sh $(TEST_PACKAGES)

# Lint and type checks come first: the README's test command (and CI, which runs it) checks both.
test: lint system-packages
	PATH="$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):/usr/sbin:$$PATH" $(BIN)/pytest -q

# The reliability suite in full (thousands of sockets, long fuzzing, every fault), the cluster's ten Redis
# outages in a row and two minutes of a flapping network under Chromium: not in CI; see docs/reliability.md.
STRESS_TESTS := tests/reliability tests/integration/test_cluster.py tests/browser/test_flapping.py
test-stress: $(TEST_STAMP) system-packages
	REPLYX_STRESS=1 PATH="$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):/usr/sbin:$$PATH" $(BIN)/pytest -q $(STRESS_TESTS)

# The table of docs/performance.md: every configuration 3 times, medians (about an hour on 2 cores).
bench: $(TEST_STAMP) system-packages
	PATH="$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):/usr/sbin:$$PATH" $(BIN)/python -m bench suite

lint: $(TEST_STAMP)
	$(BIN)/ruff check replyx tests bench
	$(BIN)/ruff format --check replyx tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data test-artifacts

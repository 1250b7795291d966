# replyx: `make run` starts the product with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests start for real (command=package).
TEST_PACKAGES := redis-server=redis-server /usr/sbin/nginx=nginx chromium=chromium pg_ctlcluster=postgresql

.PHONY: run test test-stress lint bench clean system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,bench]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/replyx serve --demo

system-packages:
	scripts/ensure-system-packages.sh $(TEST_PACKAGES)

test: $(STAMP) system-packages
	PATH="$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):/usr/sbin:$$PATH" $(BIN)/pytest -q

# The reliability suite in full (thousands of sockets, long fuzzing, every fault): not in CI; see docs/reliability.md.
test-stress: $(STAMP) system-packages
	REPLYX_STRESS=1 PATH="$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):/usr/sbin:$$PATH" $(BIN)/pytest -q tests/reliability

# The table of docs/performance.md: every configuration 3 times, medians (about an hour on 2 cores).
bench: $(STAMP) system-packages
	PATH="$$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):/usr/sbin:$$PATH" $(BIN)/python -m bench suite

lint: $(STAMP)
	$(BIN)/ruff check replyx tests bench
	$(BIN)/ruff format --check replyx tests bench

clean:
	rm -rf $(VENV) data test-artifacts

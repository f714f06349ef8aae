# changeday: `make run` for a local site, `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# The suite runs against the real services (CI has both on every machine).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/changeday
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
SQLITE_PASS_MARKERS := not postgres_only and not redis and not services and not faults

.PHONY: install run test lint format worker clean bench lock

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

# --ignore-scripts: the only package with an install script is vnu-jar, whose script downloads a
# Java runtime from GitHub when none is on the PATH (slow or hanging on a closed network). The
# tests run vnu.jar with Debian's java instead, which `make test` installs (scripts/ensure-java).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
	touch $@

install: $(BIN)/.installed node_modules/.installed

# The locks: every package pinned with its hashes, from requirements.in and requirements-dev.in.
# LOCK_ARGS="--upgrade-package Django" takes a newer release of one package; nothing else moves.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock: $(BIN)/.installed
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

# `make run PORT=8001` serves on another port; links in emails follow it.
PORT ?= 8000
run: install
	PORT=$(PORT) scripts/run-local

test: install
	scripts/ensure-services
	scripts/ensure-chromium
	scripts/ensure-java
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	CHANGEDAY_REQUIRE_SERVICES=1 \
	$(BIN)/pytest $(PYTEST_ARGS)
# Again on the embedded default `make run` uses (SQLite, no Redis), so each write's SQLite path
# runs too: every test but those marked as needing PostgreSQL or Redis, and the browser tests
# (the same pages as above). Its own var dir; its database is SQLite's in-memory test database.
	env -u DATABASE_URL -u REDIS_URL -u CHANGEDAY_REQUIRE_SERVICES \
	CHANGEDAY_SQLITE_PASS=1 CHANGEDAY_VAR_DIR="$(CURDIR)/var/test-sqlite" \
	$(BIN)/pytest -m "$(SQLITE_PASS_MARKERS)" --ignore-glob="*_browser.py" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Issue 7's benchmarks on this machine (bench/README.md); BENCH_ARGS="--only reads --duration 15".
bench: install
	scripts/ensure-services
	command -v wrk >/dev/null || apt-get install -y wrk
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var staticfiles .pytest_cache .ruff_cache

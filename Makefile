# changeday: `make run` for a local site, `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# The suite runs against the real services (CI has both on every machine).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/changeday
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint format worker clean bench

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.installed

run: install
	scripts/run-local

test: install
	scripts/ensure-services
	scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	CHANGEDAY_REQUIRE_SERVICES=1 \
	$(BIN)/pytest $(PYTEST_ARGS)

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

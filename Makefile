# Two commands: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := CIVIC_CONFIG=development $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
BABEL_KEYWORDS := -k _l -k N_ -k Invalid -k Conflict -k NotFound -k PermissionDenied -k TooManyAttempts -k DomainError

.PHONY: run test lint bench load translations messages venv test-deps clean help

help:
	@echo "make run    - set up and serve the demo on http://$(HOST):$(PORT) (SQLite under instance/)"
	@echo "make test   - set up, lint (ruff check, first), then run the whole test suite (SQLite, then PostgreSQL)"
	@echo "make lint   - ruff check . alone (ruff.toml)"
	@echo "make bench  - run the benchmarks under bench/ (one JSON object per line)"
	@echo "make load   - about 90 s: mixed resident load on gunicorn + PostgreSQL (database civic_load), then ledger verify"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.test: requirements-test.txt requirements.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-test.txt
	@touch $@

venv: $(VENV)/.runtime

# Compiled catalogues (.mo) are built, not committed.
translations: $(VENV)/.runtime
	@$(BIN)/pybabel compile --use-fuzzy --statistics -d civic/translations

# Extract messages and merge them into the catalogues (contributors; see docs/contributing.md).
messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) -o civic/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i civic/translations/messages.pot -d civic/translations --no-fuzzy-matching --ignore-obsolete

run: venv translations
	@mkdir -p instance
	$(FLASK) db upgrade heads
	$(FLASK) seed-demo
	@echo "Serving on http://$(HOST):$(PORT)  (worker runs beside it; Ctrl-C stops both)"
	@bash scripts/serve.sh "$(BIN)" "$(HOST)" "$(PORT)"

# `make test` lints first (prerequisites run in order): a ruff finding fails the build before any test.
lint: $(VENV)/.test
	$(BIN)/ruff check .

test: $(VENV)/.test lint translations
	@bash scripts/ensure-chromium.sh
	@bash scripts/run-tests.sh $(PYTEST_ARGS)

bench: $(VENV)/.test translations
	@bash scripts/run-bench.sh

# Load test (docs/load-testing.md): locust on 127.0.0.1 only, bounded in time; LOAD_ARGS="--users 20 ..."
load: $(VENV)/.test translations
	$(BIN)/python load/run_load.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) instance/test*.db .pytest_cache

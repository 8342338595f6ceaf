# gaspay — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
FLASK  := $(BIN)/flask --app gaspay
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup db run test test-sqlite test-postgres lint format chromium pdf-deps redis bench bench-quick wrk audit quality clean demo-reset

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

## Migrate the embedded SQLite database under instance/ and load the demo data (idempotent).
db: setup
	$(FLASK) db upgrade
	$(FLASK) demo load

## Serve the portal on http://127.0.0.1:$(PORT) with the local sandbox gateways, and beside it the
## outbox worker (e-mail, webhooks, the reconciliation job). Ctrl-C stops both.
run: db pdf-deps
	@echo "portal http://127.0.0.1:$(PORT) · e-mails http://127.0.0.1:$(PORT)/sandbox/correos · Ctrl-C stops the portal and the worker"
	@PORT=$(PORT) $(FLASK) worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	PORT=$(PORT) $(FLASK) run --host 127.0.0.1 --port $(PORT) --with-threads

## Start again from the demo data (drops the local SQLite database).
demo-reset:
	rm -f instance/gaspay.sqlite3 instance/gaspay.sqlite3-wal instance/gaspay.sqlite3-shm
	$(MAKE) db

## Debian's Chromium for the browser tests (Playwright drives it; no browser download).
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

## WeasyPrint's libraries for the receipt PDFs (Pango, HarfBuzz, DejaVu fonts) and poppler's
## pdftotext, with which the tests read the PDFs back.
pdf-deps:
	@{ ldconfig -p | grep -q 'libpangoft2-1.0.so.0' && ldconfig -p | grep -q 'libharfbuzz-subset.so.0' \
	  && command -v pdftotext >/dev/null && test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; } || { \
	  echo "installing Debian's Pango, HarfBuzz, DejaVu fonts and poppler-utils for the receipt PDFs"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils >/dev/null; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The whole suite on SQLite, then again on PostgreSQL when GASPAY_TEST_DATABASE_URL is set.
test: setup chromium pdf-deps lint test-sqlite test-postgres

test-sqlite: setup
	env -u GASPAY_TEST_DATABASE_URL $(BIN)/pytest

test-postgres: setup
	@if [ -n "$$GASPAY_TEST_DATABASE_URL" ]; then \
	  $(BIN)/pytest; \
	else echo "GASPAY_TEST_DATABASE_URL not set: PostgreSQL run skipped (CI sets it)"; fi

AUDIT_VENV := .venv-audit

$(AUDIT_VENV)/.installed:
	test -x $(AUDIT_VENV)/bin/python || $(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install -q --upgrade pip
	$(AUDIT_VENV)/bin/python -m pip install -q 'bandit>=1.8,<2' 'pip-audit>=2.7,<3' 'wapiti3>=3.2,<3.3'
	touch $@

## Debian's redis-server: the audit's production portal keeps its rate limits in one of its own.
redis:
	@command -v redis-server >/dev/null || { \
	  echo "installing Debian redis-server for the audit's production portal"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

## Scanners: bandit, pip-audit, and wapiti against a live 127.0.0.1 portal (bounded; about a minute).
audit: setup redis $(AUDIT_VENV)/.installed
	$(AUDIT_VENV)/bin/python tests/security/audit.py

## Benchmarks -> docs/BENCHMARKS.md and the README's table (bench/README.md): 1 M-bill import, HTTP
## under wrk and at an open-loop rate (gunicorn, PostgreSQL and SQLite), the staff area at 1 M payments, the payer's
## pages on slow 3G in Chromium. PostgreSQL admin URL: GASPAY_BENCH_PG (hb_* databases).
bench: setup wrk chromium
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install -q py-spy
	$(BIN)/python bench/import_bills.py
	$(BIN)/python bench/http_bench.py
	$(BIN)/python bench/staff_bench.py
	$(BIN)/python bench/phone.py
	$(BIN)/python bench/report.py

## A short smoke run of the HTTP benchmark (bench/out/BENCHMARKS-quick.md).
bench-quick: setup wrk
	$(BIN)/python bench/http_bench.py --quick

wrk:
	@command -v wrk >/dev/null || { \
	  echo "installing Debian wrk for the HTTP benchmark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

## Lighthouse (mobile) on the payer's main pages -> docs/QUALITY.md (Node's lighthouse, Debian's Chromium).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

quality: setup chromium node_modules/.installed
	CHROME_PATH=$(CHROMIUM) $(BIN)/python tests/quality/lighthouse.py $(QUALITY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info test-artifacts node_modules

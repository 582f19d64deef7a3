# Guanxi's front door. `make demo` and `make test` are the two set-up commands in the README.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DB ?= demo.db
# The demo's last sales day: today, so its agenda is today's (DEMO_END=2026-10-31: the tests' shop).
DEMO_END ?= $(shell date +%F)
CATALOGS := src/guanxi/web/translations
PO := $(wildcard $(CATALOGS)/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo serve test lint fix migrate docs messages chromium bench stress clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Guanxi needs Python >= 3.11 (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	@command -v npm >/dev/null || { echo "Guanxi needs Node.js with npm for its web assets (htmx, charts)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	npm ci --no-audit --no-fund --loglevel=error
	$(BIN)/pybabel compile --use-fuzzy -d $(CATALOGS)
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv, install Guanxi, its web assets (npm ci) and compiled translations

$(MO): $(PO) | $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d $(CATALOGS)

messages: $(STAMP)  ## Extract UI strings and update the translation catalogs
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k gettext_noop -k ngettext:1,2 --no-location --omit-header -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-fuzzy-matching

# Browser tests drive Debian's Chromium; install it when missing (needs root, as on CI).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium is not installed: browser tests will be skipped (sudo apt-get install chromium)"; fi; }

demo: $(STAMP) $(MO)  ## Build the demo shop (sales up to today) into demo.db, print the sign-ins, serve http://127.0.0.1:8000
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/guanxi --db $(DEMO_DB) demo --seed 42 --end $(DEMO_END)
	GUANXI_ERASURE_SECRET=$${GUANXI_ERASURE_SECRET:-demo-only-not-secret} $(BIN)/guanxi --db $(DEMO_DB) serve --host 127.0.0.1 --port 8000

serve: $(STAMP) $(MO)  ## Serve the UI on http://127.0.0.1:8000 (GUANXI_DATABASE_URL or guanxi.db)
	$(BIN)/guanxi serve

test: $(STAMP) $(MO) chromium  ## Run every test (PostgreSQL too when GUANXI_TEST_POSTGRES_URL is set)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(STAMP)  ## ruff + mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fix: $(STAMP)  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

migrate: $(STAMP)  ## Create or upgrade the database named by GUANXI_DATABASE_URL (default guanxi.db)
	$(BIN)/guanxi init

docs: $(STAMP)  ## Regenerate docs/cli.md from the commands' --help
	$(BIN)/python -m guanxi.cli.reference > docs/cli.md

BENCH_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
STRESS_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

bench: $(STAMP)  ## Every benchmark, quick size, SQLite and PostgreSQL: writes bench/RESULTS.md
	$(BIN)/python bench/run_all.py --quick $(if $(BENCH_POSTGRES),--postgres $(BENCH_POSTGRES))

# Full size (about an hour on 2 cores): the load, fault and fuzz tests at issue-8 size on both
# databases, the load test and the 1,000,000-customer chain as bench records, then every
# benchmark at full size into bench/RESULTS.md (which picks up the load and chain records).
stress: $(STAMP) $(MO)  ## Full-size load, fault, fuzz and chain-scale runs, then full benchmarks
	GUANXI_STRESS=1 GUANXI_TEST_POSTGRES_URL=$(STRESS_POSTGRES) $(BIN)/pytest \
	  tests/stress tests/faults tests/fuzz tests/storage tests/services/test_customer_export.py
	$(BIN)/python bench/load_bench.py --sqlite --clients 50 --seconds 60 --workers 4 \
	  --json bench/out/load_bench_sqlite.json
	$(BIN)/python bench/load_bench.py --db $(BENCH_POSTGRES) --clients 50 --seconds 60 \
	  --workers 4 --json bench/out/load_bench_postgres.json
	$(BIN)/python bench/chain_scale.py --db $(BENCH_POSTGRES) --customers 1000000 \
	  --lines 20000000 --stores 50 --json bench/out/chain_scale.json
	$(BIN)/python bench/run_all.py --full $(if $(BENCH_POSTGRES),--postgres $(BENCH_POSTGRES))

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts

# Guanxi's front door. `make demo` and `make test` are the two set-up commands in the README.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DB ?= demo.db
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test lint fix migrate docs bench stress clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Guanxi needs Python >= 3.11 (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv and install Guanxi with its test tools

demo: $(STAMP)  ## Build the deterministic demo shop into demo.db and print a summary
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/guanxi --db $(DEMO_DB) demo --seed 42
	@echo "Try: $(BIN)/guanxi --db $(DEMO_DB) customers search zs"

test: $(STAMP)  ## Run every test (PostgreSQL too when GUANXI_TEST_POSTGRES_URL is set)
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

bench: $(STAMP)  ## Run the benchmarks at a quick size
	$(BIN)/python bench/import_bench.py --lines 200000
	$(BIN)/python bench/search_bench.py --customers 100000

stress: $(STAMP)  ## Full-size benchmarks (1,000,000-line import)
	$(BIN)/python bench/import_bench.py --lines 1000000

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Replyguard: `make run` starts the whole service on the embedded default,
# `make test` runs the test suite (`make test-faults` the fault suite, tests/faults).
# They create .venv and install on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000
# The Akismet client the integration tests drive (tests/akismet_client), from its lockfile.
AKISMET_CLIENT := tests/akismet_client
NODE_STAMP     := $(AKISMET_CLIENT)/node_modules/.installed-stamp

.PHONY: help install run test test-fast test-faults fault-deps lint fmt bench system-deps migrate clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install Replyguard with its development tools

$(NODE_STAMP): $(AKISMET_CLIENT)/package.json $(AKISMET_CLIENT)/package-lock.json
	cd $(AKISMET_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: $(STAMP) ## Start API + Celery worker + beat + embedded Redis on SQLite (http://127.0.0.1:$(PORT)/demo)
	PORT=$(PORT) $(BIN)/replyguard run

system-deps: ## Install Chromium (browser tests) and docker-compose (compose file check) if missing
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The fault suite (tests/faults) runs only through `make test-faults`: it kills and restarts
# servers of its own for several minutes.
test: $(STAMP) $(NODE_STAMP) system-deps ## Run the whole suite except the fault suite (PostgreSQL and Redis on 127.0.0.1, see README)
	$(BIN)/pytest --ignore=tests/faults

test-fast: $(STAMP) system-deps ## Unit and API tests only (no service processes, no browser)
	$(BIN)/pytest --ignore=tests/faults -m "not integration and not browser"

fault-deps: ## Install PostgreSQL's server binaries and redis-server (fault suite) if missing
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test-faults: $(STAMP) fault-deps ## Fault suite: kill -9 workers, restart Redis/PostgreSQL (private servers on free ports)
	$(BIN)/pytest tests/faults -m faults

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy api workers core models cli bench

fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Ingest benchmark (see bench/README.md)
	$(BIN)/python bench/ingest.py

migrate: $(STAMP) ## Apply migrations to REPLYGUARD_DATABASE_URL
	$(BIN)/replyguard migrate

clean: ## Remove the virtualenv, caches and the instance folder
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache $(AKISMET_CLIENT)/node_modules

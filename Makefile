# FountainAI developer commands. Every target installs what it needs into .venv first
# (uv, pinned by uv.lock), so a fresh clone needs only Python 3.11 and make.

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help install codegen validate run test test-realdata lint typecheck lint-imports check-generated bench bench-crud bench-read bench-scopes bench-scaffold bench-story clean deploy-tools gateway mutation

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Debian and Ubuntu ship python3 without ensurepip (python3-venv), so `python3 -m venv` fails on a
# fresh machine: then install it (as root, with apt-get) and try once more.
CAN_INSTALL_PACKAGES := $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && echo yes)
INSTALL_PYTHON_VENV := DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null

$(UV):
	@python3 -m venv $(TOOLS) >/dev/null 2>&1 || { \
	  rm -rf $(TOOLS); \
	  if [ "$(CAN_INSTALL_PACKAGES)" = yes ]; then \
	    echo "python3 -m venv needs ensurepip: installing python3-venv (Debian package)"; \
	    $(INSTALL_PYTHON_VENV) && python3 -m venv $(TOOLS); \
	  else \
	    echo "python3 -m venv failed (ensurepip missing?): install python3-venv, e.g. 'sudo apt-get install python3-venv', then run make again" >&2; \
	    exit 1; \
	  fi; \
	}
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.installed  ## Install the pinned dependencies into .venv

codegen: install  ## Regenerate models and routers from specs/ (skips unchanged specs)
	$(BIN)/fountain codegen

validate: install  ## Check every spec: OpenAPI 3.1 and our own rules
	$(BIN)/fountain validate

PORT ?= 8080

# --no-auth: a fresh clone runs with no setup; `fountain serve` refuses it on any address but loopback.
# With keys checked: fountain accounts add NAME --role writer && fountain serve (docs/accounts.md).
run: install  ## Run all five services on http://127.0.0.1:8080, checking no API key (loopback only; embedded PostgreSQL, no Docker; another port: make run PORT=8090)
	$(BIN)/fountain serve --port $(PORT) --no-auth

check-generated: install  ## Fail when generated code differs from what the specs produce
	$(BIN)/fountain codegen --check

lint: install  ## ruff: lint and formatting (generated code and migrations excepted)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install  ## mypy --strict over the common library, the CLI and the services
	$(BIN)/mypy

lint-imports: install  ## Services never import each other; the common library imports no service
	$(BIN)/lint-imports --no-cache

# pytest's workers (pytest-xdist), one a core up to four: each has its own embedded PostgreSQL, so the
# tests of one worker never see another's rows. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: install deploy-tools validate check-generated lint typecheck lint-imports  ## Everything CI runs: specs, generated code, lint, types, imports, pytest
	$(BIN)/pytest -n $(TEST_WORKERS) --durations=25; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: nothing was checked" >&2; exit 1; fi; \
	exit $$status

gateway: install  ## Regenerate kong/kong.yml and docker-compose.yml (make codegen does it too)
	$(BIN)/fountain gateway

deploy-tools:  ## Install Debian's docker-compose, promtool, chromium and firefox-esr when missing (tests check docker-compose.yml, deploy/monitoring/, the docs pages and the studio)
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "Installing docker-compose (Debian package) to check docker-compose.yml"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	} || { echo "docker-compose is missing and could not be installed: run 'apt-get install docker-compose' as root" >&2; exit 1; }
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "Installing promtool (Debian package prometheus) to check deploy/monitoring/"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	} || { echo "promtool is missing and could not be installed: run 'apt-get install prometheus' as root" >&2; exit 1; }
	@test -x /usr/bin/chromium || { \
	  echo "Installing chromium (Debian package) to render /docs and /redoc in the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	} || { echo "chromium is missing and could not be installed: run 'apt-get install chromium' as root" >&2; exit 1; }
	@test -x /usr/bin/firefox-esr || { \
	  echo "Installing firefox-esr (Debian package) to check the schema studio in Firefox too"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr >/dev/null; \
	} || { echo "firefox-esr is missing and could not be installed: run 'apt-get install firefox-esr' as root" >&2; exit 1; }

test-realdata: install  ## The big real-data tests (screenplays, sample database schemas) left out of make test
	$(BIN)/pytest -n $(TEST_WORKERS) -m realdata; status=$$?; [ $$status -eq 5 ] && echo "no realdata tests collected" >&2; exit $$status

bench: install  ## Measure the Central Sequence Service against pgbench (see bench/README.md)
	$(BIN)/python bench/central_sequence.py

bench-crud: install  ## Read-heavy and write-heavy load on Character Management and Session and Context (bench/README.md)
	$(BIN)/python bench/crud.py

bench-read: install  ## GET /v2/characters/{id} against a minimal FastAPI + asyncpg app and pgbench (bench/README.md)
	$(BIN)/python bench/read_path.py

bench-scopes: install  ## Insert and move in one story with 10^4..10^6 elements in the system, and 32 writers (bench/README.md)
	$(BIN)/python bench/scopes.py

bench-scaffold: install  ## A scaffolded service's single-row GET and create against pgbench of the same SQL (bench/README.md)
	$(BIN)/python bench/scaffolded.py

bench-story: install  ## Time to assemble stories of 10, 100 and 1,000 lines at 1 and 8 readers, and to import a feature screenplay (bench/README.md)
	$(BIN)/python bench/story.py

mutation: install  ## Mutation testing of the core logic, then the score per module (slow; not in make test; docs/mutation.md)
	$(BIN)/python -m tests.mutation run $(if $(AGAIN),--again) $(if $(WORKERS),--workers $(WORKERS)) $(MUTANTS)

clean:  ## Remove the virtual environments, caches and the embedded database
	rm -rf $(VENV) $(TOOLS) var mutants .mypy_cache .pytest_cache

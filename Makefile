# Conveyor: `make run` starts the system, `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := libs/conveyor services/ingest services/scheduler services/worker
SOURCES := libs/conveyor/src services/ingest/src services/scheduler/src services/worker/src

.PHONY: install run test test-tools check lint fmt typecheck bench chaos lock clean

install: $(STAMP)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): requirements.lock $(addsuffix /pyproject.toml,$(PACKAGES)) | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

# Regenerate the hashed lock from the pyproject files (uv.lock stays local: it records URLs).
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --no-emit-workspace --all-packages --all-groups --no-header --no-annotate -o requirements.lock
	$(UV) export --frozen --no-emit-workspace --all-packages --no-dev --no-header --no-annotate -o requirements-runtime.lock

run: install
	$(PY) -m conveyor.devrun

# The CI command: lint, type checks, then the whole default test suite.
test: lint typecheck test-tools
	$(PY) -m pytest

# Optional checkers from Debian's packages: Quartz (the cron differential test) and
# promtool (alert rules). Their tests skip with a reason where these cannot be installed.
test-tools:
	@{ [ -f /usr/share/java/quartz2.jar ] && command -v promtool >/dev/null; } \
		|| { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && apt-get install -y -qq libquartz2-java prometheus >/dev/null; } \
		|| echo "quartz/promtool not installed: their tests will be skipped"

check: test

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint deploy/docker/Dockerfile

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: install
	$(VENV)/bin/mypy $(SOURCES) tests examples

chaos: install
	$(PY) -m pytest -m chaos -p no:randomly

# The ingest benchmark drives load with wrk, from Debian's packages where it is missing.
bench: install
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) \
		|| echo "wrk missing: the ingest benchmark will be skipped"; }
	$(PY) -m pytest tests/bench -m bench -s -q

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache

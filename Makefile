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
SERVICES := $(notdir $(wildcard services/*))

.PHONY: install run test test-tools check lint fmt typecheck bench chaos lock clean image image-test k8s-tools

install: $(STAMP)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): requirements.lock $(addsuffix /pyproject.toml,$(PACKAGES)) | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

# Regenerate the hashed locks from the pyproject files (uv.lock stays local: it records URLs):
# the whole workspace (requirements.lock), the build backend alone (the image build stage),
# and each service's own runtime dependencies (services/<name>/requirements.lock, what its
# image installs), following whatever that service's pyproject declares.
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --no-emit-workspace --all-packages --all-groups --no-header --no-annotate -o requirements.lock
	$(UV) export --frozen --no-emit-workspace --only-group build --no-header --no-annotate -o requirements-build.lock
	for service in $(SERVICES); do \
		$(UV) export --frozen --no-emit-workspace --package conveyor-$$service --no-dev \
			--no-header --no-annotate -o services/$$service/requirements.lock || exit 1; \
	done

run: install
	$(PY) -m conveyor.devrun

# The CI command: lint, type checks, then the whole default test suite.
test: lint typecheck test-tools
	$(PY) -m pytest

# Optional checkers from Debian's packages: Quartz (the cron differential test),
# promtool (alert rules) and chromium with its chromedriver (the dashboard's browser
# test). Their tests skip with a reason where these cannot be installed.
test-tools:
	@{ [ -f /usr/share/java/quartz2.jar ] && command -v promtool >/dev/null; } \
		|| { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && apt-get install -y -qq libquartz2-java prometheus >/dev/null; } \
		|| echo "quartz/promtool not installed: their tests will be skipped"
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } \
		|| { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } \
		|| echo "chromium/chromedriver not installed: the dashboard's browser test will be skipped"

check: test

lint: install k8s-tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint deploy/docker/Dockerfile
	$(PY) deploy/k8s/validate.py

# kubectl renders the kustomizations in `make lint` (deploy/k8s/validate.py). It is not
# in Debian's own archive (its kubernetes-client is too old for kustomize components):
# where it is missing, the check says so and is skipped.
k8s-tools:
	@command -v kubectl >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-cache show kubectl >/dev/null 2>&1 && apt-get install -y -qq kubectl >/dev/null; } \
		|| echo "kubectl not installed: the kustomize rendering check will be skipped"

# The service images, with Docker BuildKit, Podman or Buildah (whichever is installed),
# tagged conveyor-<service>:<version>. PYTHON_IMAGE=... builds on another base, e.g. the
# local one from deploy/docker/local-base.sh (no registry needed); BUILDAH_ISOLATION=chroot
# where a sandbox refuses Podman's/Buildah's namespaces.
PYTHON_IMAGE ?=
image:
	PYTHON_IMAGE=$(PYTHON_IMAGE) deploy/docker/build-images.sh

# Builds the images and runs them through the quick-start flow (tests/image); installs
# buildah and debootstrap from Debian's packages where it can, else the test skips.
image-test: install
	@{ command -v buildah >/dev/null && command -v debootstrap >/dev/null; } \
		|| { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && apt-get install -y -qq buildah podman debootstrap >/dev/null; } \
		|| echo "buildah/debootstrap not installed: the image test will be skipped"
	$(PY) -m pytest tests/image -m image -p no:randomly -s

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: install
	$(VENV)/bin/mypy $(SOURCES) tests examples

# Fault scenarios (docs/reliability.md), bounded in time; figures in tests/chaos/results/.
# libfaketime (the clock-jump scenario) comes from Debian's faketime package where missing.
chaos: install
	@command -v faketime >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && apt-get install -y -qq faketime >/dev/null; } \
		|| echo "faketime not installed: the clock-jump scenario will be skipped"
	rm -f tests/chaos/results/last.jsonl
	timeout 1200 $(PY) -m pytest -m chaos -p no:randomly -q

# The ingest benchmark drives load with wrk, from Debian's packages where it is missing.
bench: install
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) \
		|| echo "wrk missing: the ingest benchmark will be skipped"; }
	$(PY) -m pytest tests/bench -m bench -s -q

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache

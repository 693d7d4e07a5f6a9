# Two commands for a fresh machine: `make run` (the appliance on its embedded defaults) and
# `make test` (the whole suite). Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q
export FUNDUS_DATA_DIR ?= $(abspath ../shared/data/fundus)

.PHONY: run test lint typecheck clean-state .system-deps lock audit bandit security sbom fuzz bench load crashloop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime only: numpy, OpenCV, onnxruntime, Flask, waitress, pyserial.
$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

# Tests, lint and the training smoke test: the CPU build of PyTorch first (pinned, local wheel),
# so that the `train` extra does not pull a CUDA build.
$(VENV)/.dev-deps: pyproject.toml | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev,train]'
	touch $@

run: $(VENV)/.run-deps
	APPLIANCE_AUTH_DEMO_USERS=1 $(BIN)/appliance serve

# System packages the tests drive for real (Debian): Chromium for the kiosk tests; Orthanc with its
# DICOMweb plugin (its worklist plugin ships in `orthanc`) for the sync tests, which start their own
# Orthanc on loopback (Debian's orthanc service is not needed and not enabled by the tests); Prometheus for
# promtool (deploy/prometheus/ checked by the tests; its service is not started) and systemd for systemd-analyze
# (the units in systemd/ verified and their exposure scored); openssh-server for the fleet rollout tests, which
# start their own sshd on loopback (tests/integration/fleet; Debian's ssh service is not started). gcc builds
# the fsync-recording shim of the simulated power cuts (tests/system/powercut).
SYSTEM_PACKAGES := chromium orthanc orthanc-dicomweb dicom3tools prometheus systemd openssh-server gcc libc6-dev
.system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

test: $(VENV)/.dev-deps .system-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/bandit -r appliance -q
	$(BIN)/pytest

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .

typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

# Forget every exam of the demo (the SQLite store and images under ./var).
clean-state:
	rm -rf var

# --- Security (SECURITY.md) -----------------------------------------------------------------------------------
# The lock files: every runtime (requirements.lock) and dev (requirements-dev.lock) package pinned with the sha256
# of each of its files, for every platform and Python >= 3.10, resolved by uv from pyproject.toml against PyPI.
# Pins already in a lock are kept; `make lock UPGRADE=1` moves to the newest allowed. Install one with
# `pip install --require-hashes --no-deps -r requirements.lock && pip install --no-deps .` (the device image).
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.10 --generate-hashes --quiet \
	$(if $(UPGRADE),--upgrade)
lock: $(VENV)/.dev-deps
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev -o requirements-dev.lock

# Known vulnerabilities of every pinned package, from PyPI's advisory data (the JSON API on pypi.org). --strict:
# a package that could not be checked fails the audit instead of passing it. Needs that API: not in `make test`.
AUDIT := $(BIN)/pip-audit --strict --disable-pip --require-hashes --progress-spinner off
audit: $(VENV)/.dev-deps
	$(AUDIT) -r requirements.lock
	$(AUDIT) -r requirements-dev.lock

# Static analysis of the firmware; each finding is fixed or justified in place (# nosec Bxxx # reason).
bandit: $(VENV)/.dev-deps
	$(BIN)/bandit -r appliance -q

security: bandit audit

# CycloneDX SBOM of the runtime lock under the firmware's version (build output, not committed).
sbom: $(VENV)/.dev-deps
	$(BIN)/python -m build.sbom --out dist/sbom.cdx.json

# The fuzz tests at 20x their CI examples with fresh random draws, the API fuzz at 150 examples per operation,
# then coverage-guided fuzzing of image ingest with atheris where it installs (findings land in dist/fuzz/).
FUZZ_SECONDS ?= 120
fuzz: $(VENV)/.dev-deps
	FUZZ_SCALE=20 FUZZ_RANDOM=1 API_FUZZ_EXAMPLES=150 $(BIN)/pytest -q -p no:cacheprovider \
	  tests/unit/test_ingest_fuzz.py tests/integration/test_kiosk_attack_surface.py tests/system/test_api_fuzz.py
	@mkdir -p dist/fuzz/corpus && cp appliance/devices/samples/*.jpg dist/fuzz/corpus/
	@if $(PIP) atheris 2>/dev/null; then \
	  $(BIN)/python -m tests.fuzz.atheris_ingest -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=8192 \
	    -artifact_prefix=dist/fuzz/ dist/fuzz/corpus; \
	else echo "atheris does not install on this Python/platform: coverage-guided fuzzing skipped"; fi

# --- Reliability (README: Reliability) ---------------------------------------------------------------------------
# The end-to-end benchmark: whole exams over HTTP (512 px, 3000x2000, 12 MP; FP32, INT8; 4 at once). Prints figures.
bench: $(VENV)/.dev-deps
	OMP_NUM_THREADS=1 $(BIN)/python bench/exam.py

# 20 locust pollers of status and worklist on loopback while exams run, for 40 s: errors and the p99 ratio.
load: $(VENV)/.dev-deps
	OMP_NUM_THREADS=1 $(BIN)/python bench/load.py

# The fault loops at full length: 100 SIGKILLs of appliance serve and 50 simulated power cuts (CI runs 15 and 10).
crashloop: $(VENV)/.dev-deps .system-deps
	CRASHLOOP_ITERATIONS=100 POWERCUT_ROUNDS=50 OMP_NUM_THREADS=1 $(BIN)/pytest -q -p no:cacheprovider \
	  tests/system/test_crash_loop.py tests/system/test_power_cut.py

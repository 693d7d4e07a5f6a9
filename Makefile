# Two commands for a fresh machine: `make run` (the appliance on its embedded defaults) and
# `make test` (the whole suite). Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q
export FUNDUS_DATA_DIR ?= $(abspath ../shared/data/fundus)

.PHONY: run test lint typecheck clean-state .system-deps

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
# start their own sshd on loopback (tests/integration/fleet; Debian's ssh service is not started).
SYSTEM_PACKAGES := chromium orthanc orthanc-dicomweb dicom3tools prometheus systemd openssh-server
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
	$(BIN)/pytest

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .

typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

# Forget every exam of the demo (the SQLite store and images under ./var).
clean-state:
	rm -rf var

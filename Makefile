# Two commands for a fresh machine: `make run` (the appliance on its embedded defaults) and
# `make test` (the whole suite). Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q
export FUNDUS_DATA_DIR ?= $(abspath ../shared/data/fundus)

.PHONY: run test lint typecheck clean-state

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
	$(BIN)/appliance serve

test: $(VENV)/.dev-deps
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

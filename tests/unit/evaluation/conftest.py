"""Fixtures for the evaluation tests: the tiny ONNX model with a manifest, and a labelled folder of synthetic photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.inference.manifest import ModelManifest, load_manifest
from tests.unit.evaluation.eval_fakes import write_synthetic_folder, write_tiny_manifest


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> ModelManifest:
    return load_manifest(write_tiny_manifest(tmp_path / "model"))


@pytest.fixture
def synthetic_folder(tmp_path: Path) -> Path:
    return write_synthetic_folder(tmp_path / "site")

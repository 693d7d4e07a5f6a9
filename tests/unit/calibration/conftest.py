"""Fixtures for the calibration tests: the tiny conv model, its FP32 manifest, a tiny synthetic dev set."""

from __future__ import annotations

from pathlib import Path

import pytest
from calibration_fakes import fp32_manifest, tiny_conv_onnx, write_devset


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return tiny_conv_onnx(tmp_path / "tiny.onnx")


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    return fp32_manifest(models)


@pytest.fixture(scope="session")
def synthetic_devset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_devset(tmp_path_factory.mktemp("devset"))

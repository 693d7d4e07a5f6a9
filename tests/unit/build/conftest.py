"""Fixtures for the engine-build tests: tiny float and Q/DQ models with manifests, photos, fake GPU libraries."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
from build_fakes import FakeDevice, Recorder, make_pycuda, make_tensorrt
from build_models import FakeLibs, InstallFakes, WriteModel
from model_fakes import SIZE, manifest_fields, tiny_onnx, to_toml

from appliance.inference.manifest import ModelManifest, load_manifest


@pytest.fixture
def write_model(tmp_path: Path) -> WriteModel:
    """Write a tiny model and its manifest into tmp_path/models; returns the loaded manifest."""

    def write(*, quantized: bool = False, name: str = "dr-test", threshold: float = 0.4,
              size: int = SIZE) -> ModelManifest:
        folder = tmp_path / "models"
        folder.mkdir(exist_ok=True)
        data = tiny_onnx(quantized=quantized, size=size)
        stem = f"{name}-{'int8' if quantized else 'fp32'}"
        (folder / f"{stem}.onnx").write_bytes(data)
        fields = manifest_fields(f"{stem}.onnx", hashlib.sha256(data).hexdigest(), size=size)
        fields["name"], fields["threshold"]["operating"] = name, threshold
        (folder / f"{stem}.toml").write_text(to_toml(fields))
        return load_manifest(folder / f"{stem}.toml")

    return write


@pytest.fixture
def fp32_model(write_model: WriteModel) -> ModelManifest:
    return write_model()


@pytest.fixture
def int8_model(write_model: WriteModel) -> ModelManifest:
    return write_model(quantized=True)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Six small synthetic fundus photos (a lit disc on black, brightness varying) as JPEG files."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(6):
        image = np.zeros((160, 200, 3), np.uint8)
        colour = (40 + 30 * i, 60 + 15 * i, 150 + 15 * i)  # BGR: orange-red fundus of rising brightness
        cv2.circle(image, (100, 80), 70, colour, -1)
        noise = rng.integers(0, 25, image.shape, dtype=np.uint8)
        image = np.asarray(cv2.add(image, noise), np.uint8)
        cv2.imwrite(str(folder / f"photo_{i}.jpg"), image)
    return folder


@pytest.fixture
def install_fakes(monkeypatch: pytest.MonkeyPatch) -> InstallFakes:
    """Put fake `tensorrt`, `pycuda` and `pycuda.driver` in sys.modules; FakeDevice fields as keywords."""

    def install(api: str = "10", **fields: object) -> FakeLibs:
        dev = FakeDevice(api=api, **fields)  # type: ignore[arg-type]
        rec = Recorder()
        trt = make_tensorrt(dev, rec)
        driver = make_pycuda(dev, rec)
        package = types.ModuleType("pycuda")
        package.driver = driver  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setitem(sys.modules, "pycuda", package)
        monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
        return FakeLibs(dev, rec, trt)

    return install


@pytest.fixture
def no_gpu_libs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import tensorrt` and `import pycuda.driver` fail, as on a box without them."""
    for name in ("tensorrt", "pycuda", "pycuda.driver"):
        monkeypatch.setitem(sys.modules, name, None)

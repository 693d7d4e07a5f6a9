"""Fixtures for the inference tests: the tiny ONNX model and a manifest written beside it."""

from __future__ import annotations

import copy
import hashlib
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from model_fakes import WriteManifest, manifest_fields, tiny_onnx, to_toml
from trt_fakes import EngineSpec, FakeGpu, FakeGpuLibs, InstallFakes, Recorder, make_pycuda, make_tensorrt

from appliance.inference.manifest import ModelManifest, load_manifest


@pytest.fixture
def model_bytes() -> bytes:
    return tiny_onnx()


@pytest.fixture
def write_manifest(tmp_path: Path, model_bytes: bytes) -> WriteManifest:
    """Write the tiny model and a manifest for it; `edit` may change the manifest dict first."""

    def write(edit: Callable[[dict[str, Any]], None] | None = None, model: bytes | None = None) -> Path:
        data = model_bytes if model is None else model
        (tmp_path / "model.onnx").write_bytes(data)
        fields = copy.deepcopy(manifest_fields("model.onnx", hashlib.sha256(data).hexdigest()))
        if edit is not None:
            edit(fields)
        path = tmp_path / "model.toml"
        path.write_text(to_toml(fields))
        return path

    return write


@pytest.fixture
def manifest(write_manifest: WriteManifest) -> ModelManifest:
    return load_manifest(write_manifest())




@pytest.fixture
def install_gpu_fakes(monkeypatch: pytest.MonkeyPatch) -> InstallFakes:
    """Put fake `tensorrt` and `pycuda` modules in sys.modules (api "10" or "8.6")."""

    def install(
        api: str = "10", spec: EngineSpec | None = None, *, context_fails: bool = False
    ) -> FakeGpuLibs:
        rec = Recorder()
        gpu = FakeGpu(rec)
        trt = make_tensorrt(rec, gpu, spec or EngineSpec(), api=api)
        driver = make_pycuda(rec, gpu, context_fails=context_fails)
        package = types.ModuleType("pycuda")
        package.driver = driver  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setitem(sys.modules, "pycuda", package)
        monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
        return FakeGpuLibs(rec, gpu, trt, driver)

    return install


@pytest.fixture
def no_gpu_libs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import tensorrt` and `import pycuda.driver` fail, as on a box without them."""
    for name in ("tensorrt", "pycuda", "pycuda.driver"):
        monkeypatch.setitem(sys.modules, name, None)

"""Runner selection and engine naming, with the TensorRT probe monkeypatched."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pytest
from trt_fakes import InstallFakes

from appliance.errors import ConfigError, RunnerUnavailableError
from appliance.inference import registry
from appliance.inference.manifest import ModelManifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.registry import TensorRTDevice, engine_path, probe_tensorrt, select_runner
from appliance.inference.trt_runner import TensorRTRunner

ORIN = TensorRTDevice(trt_version="10.3.0", gpu_name="NVIDIA Jetson Orin Nano (8GB)")


@pytest.fixture
def on_orin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "probe_tensorrt", lambda: ORIN)


@pytest.fixture
def without_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe() -> TensorRTDevice:
        raise RunnerUnavailableError("TensorRT and pycuda are not installed on this box.")

    monkeypatch.setattr(registry, "probe_tensorrt", probe)


def build_engine(manifest: ModelManifest, engine_dir: Path, precision: str = "int8") -> Path:
    path = engine_path(manifest, engine_dir, trt_version=ORIN.trt_version, gpu_name=ORIN.gpu_name,
                       precision=precision)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"engine")
    return path


def test_engine_name_encodes_model_hash_versions_gpu_precision_and_size(
    manifest: ModelManifest, tmp_path: Path
) -> None:
    path = engine_path(manifest, tmp_path, trt_version="10.3.0", gpu_name="NVIDIA Jetson Orin Nano (8GB)",
                       precision="fp16")
    assert path.parent == tmp_path
    assert path.name == f"dr-test_{manifest.sha256[:16]}_trt10.3.0_nvidia-jetson-orin-nano-8gb_fp16_8.engine"
    assert re.fullmatch(r"[a-z0-9._-]+", path.name)


def test_any_change_gives_another_engine_name(manifest: ModelManifest, tmp_path: Path) -> None:
    base = {"trt_version": "10.3.0", "gpu_name": "Orin", "precision": "int8"}
    names = {engine_path(manifest, tmp_path, **base)}
    for key, value in [("trt_version", "8.6.2"), ("gpu_name", "Xavier"), ("precision", "fp16")]:
        names.add(engine_path(manifest, tmp_path, **{**base, key: value}))
    other_model = dataclasses.replace(manifest, sha256="f" * 64)
    names.add(engine_path(other_model, tmp_path, **base))
    bigger = dataclasses.replace(manifest, input=dataclasses.replace(manifest.input, size=224))
    names.add(engine_path(bigger, tmp_path, **base))
    assert len(names) == 6


def test_unknown_precision_is_refused(manifest: ModelManifest, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        engine_path(manifest, tmp_path, trt_version="10.3.0", gpu_name="Orin", precision="int4")


@pytest.mark.usefixtures("on_orin")
def test_onnxruntime_when_configured_even_with_an_engine(manifest: ModelManifest, tmp_path: Path) -> None:
    build_engine(manifest, tmp_path)
    runner = select_runner(manifest, preference="onnxruntime", engine_dir=tmp_path, intra_op_threads=3)
    assert isinstance(runner, OnnxRunner) and runner.intra_op_threads == 3


@pytest.mark.usefixtures("without_tensorrt")
def test_auto_without_tensorrt_falls_back_to_onnxruntime(
    manifest: ModelManifest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="appliance.inference.registry"):
        runner = select_runner(manifest, engine_dir=tmp_path)
    assert isinstance(runner, OnnxRunner)
    assert "onnxruntime, because TensorRT is not usable: TensorRT and pycuda are not installed" in caplog.text


@pytest.mark.usefixtures("on_orin")
def test_auto_without_an_engine_falls_back_to_onnxruntime(
    manifest: ModelManifest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="appliance.inference.registry"):
        runner = select_runner(manifest, preference="auto", engine_dir=tmp_path / "engines")
    assert isinstance(runner, OnnxRunner)
    assert "No TensorRT engine has been built for model dr-test" in caplog.text


@pytest.mark.usefixtures("on_orin")
def test_auto_picks_tensorrt_when_the_engine_exists(
    manifest: ModelManifest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = build_engine(manifest, tmp_path)
    with caplog.at_level(logging.INFO, logger="appliance.inference.registry"):
        runner = select_runner(manifest, engine_dir=tmp_path)
    assert isinstance(runner, TensorRTRunner) and runner.engine_path == engine
    assert "Runner: tensorrt (auto)" in caplog.text and engine.name in caplog.text


@pytest.mark.usefixtures("on_orin")
def test_int8_engine_is_preferred_over_fp16(manifest: ModelManifest, tmp_path: Path) -> None:
    fp16 = build_engine(manifest, tmp_path, precision="fp16")
    runner = select_runner(manifest, engine_dir=tmp_path)
    assert isinstance(runner, TensorRTRunner) and runner.engine_path == fp16
    int8 = build_engine(manifest, tmp_path, precision="int8")
    runner = select_runner(manifest, engine_dir=tmp_path)
    assert isinstance(runner, TensorRTRunner) and runner.engine_path == int8


@pytest.mark.usefixtures("on_orin")
def test_engine_for_another_model_version_is_not_used(manifest: ModelManifest, tmp_path: Path) -> None:
    build_engine(dataclasses.replace(manifest, sha256="0" * 64), tmp_path)
    assert isinstance(select_runner(manifest, engine_dir=tmp_path), OnnxRunner)


@pytest.mark.usefixtures("on_orin")
def test_tensorrt_when_configured_and_possible(manifest: ModelManifest, tmp_path: Path) -> None:
    build_engine(manifest, tmp_path)
    assert isinstance(select_runner(manifest, preference="tensorrt", engine_dir=tmp_path), TensorRTRunner)


@pytest.mark.usefixtures("without_tensorrt")
def test_tensorrt_when_configured_but_impossible_says_why(manifest: ModelManifest, tmp_path: Path) -> None:
    with pytest.raises(RunnerUnavailableError) as info:
        select_runner(manifest, preference="tensorrt", engine_dir=tmp_path)
    message = info.value.message
    assert "asks for the TensorRT runner, but it cannot run here" in message
    assert "not installed" in message and "auto or onnxruntime" in message


@pytest.mark.usefixtures("on_orin")
def test_tensorrt_when_configured_without_an_engine_says_where(
    manifest: ModelManifest, tmp_path: Path
) -> None:
    with pytest.raises(RunnerUnavailableError, match="build one into"):
        select_runner(manifest, preference="tensorrt", engine_dir=tmp_path)


def test_unknown_preference_is_a_config_error(manifest: ModelManifest, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown model runner 'tflite'"):
        select_runner(manifest, preference="tflite", engine_dir=tmp_path)


def test_probe_reads_versions_from_the_libraries(install_gpu_fakes: InstallFakes) -> None:
    install_gpu_fakes(api="10")
    assert probe_tensorrt() == TensorRTDevice("10.3.0", "NVIDIA Jetson Orin Nano (8GB)")


@pytest.mark.usefixtures("no_gpu_libs")
def test_probe_without_the_libraries_is_runner_unavailable() -> None:
    with pytest.raises(RunnerUnavailableError, match="not installed"):
        probe_tensorrt()

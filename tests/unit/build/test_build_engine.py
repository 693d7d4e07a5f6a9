"""The whole build with fake TensorRT and pycuda, real onnxruntime and the real TensorRTRunner."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from build_models import InstallFakes, WriteModel

from appliance.errors import ModelIntegrityError, RunnerUnavailableError
from appliance.inference.manifest import ModelManifest
from appliance.inference.registry import TensorRTDevice, find_engine
from appliance.inference.trt_runner import TensorRTRunner
from build.engine import BuildOptions, build_engine, choose_precision
from build.errors import EngineBuildError, EngineParityError
from build.plan import BatchProfile

REPO = Path(__file__).resolve().parents[3]


def options(photos: Path, **changes: object) -> BuildOptions:
    return dataclasses.replace(BuildOptions(images=photos), **changes)  # type: ignore[arg-type]


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("api", ["10", "8.6"])
def test_int8_engine_is_built_verified_installed_and_runs(
    install_fakes: InstallFakes, int8_model: ModelManifest, photos: Path, tmp_path: Path, api: str
) -> None:
    libs = install_fakes(api)
    lines: list[str] = []
    engines = tmp_path / "engines"
    result = build_engine(int8_model, engines, options(photos), progress=lines.append)

    assert result.built and result.key.precision == "int8"
    assert result.key.typing == ("strong" if api == "10" else "weak")
    device = TensorRTDevice(libs.dev.version, libs.dev.gpu_name)
    assert find_engine(int8_model, engines, device) == result.engine
    record = json.loads(result.engine.with_name(result.engine.name + ".json").read_text())
    assert record["key"]["onnx_sha256"] == int8_model.sha256
    assert record["key"]["trt_version"] == libs.dev.version and record["key"]["gpu_name"] == libs.dev.gpu_name
    assert record["key"]["input_shape"] == [3, 8, 8] and record["key"]["batch_profile"] == [1, 4, 8]
    assert record["parity"]["images"] == 6 and record["parity"]["passed"] is True
    assert record["parity"]["max_abs_diff"] < 0.03
    assert record["built_at"] and record["trt_version"] == libs.dev.version
    assert any("comparing the engine with onnxruntime on 6 photos" in line for line in lines)
    # The installed engine serves the runtime: scores are the model's on a fresh batch.
    batch = np.random.default_rng(1).normal(size=(5, 3, 8, 8)).astype(np.float32)
    with TensorRTRunner(int8_model, result.engine) as runner:
        scores = runner.infer(batch)
    expected = 1 / (1 + np.exp(-batch.reshape(5, -1).astype(np.float64).mean(axis=1)))
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert not [name for name in files_in(engines) if name.endswith(".tmp")]
    assert any(name.startswith("timing_trt") for name in files_in(engines))


def test_a_current_engine_is_reused_and_force_rebuilds(
    install_fakes: InstallFakes, fp32_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    libs = install_fakes("10")
    first = build_engine(fp32_model, tmp_path / "e", options(photos))
    assert first.built and first.key.precision == "fp16"  # auto, float model
    second = build_engine(fp32_model, tmp_path / "e", options(photos))
    assert not second.built and second.engine == first.engine
    assert second.record["engine_sha256"] == first.record["engine_sha256"]
    assert libs.rec.names().count("build_serialized_network") == 1
    forced = build_engine(fp32_model, tmp_path / "e", options(photos, force=True))
    assert forced.built
    assert libs.rec.names().count("build_serialized_network") == 2


@pytest.mark.parametrize("change", ["trt", "gpu", "precision", "model", "profile"])
def test_any_key_change_rebuilds(
    install_fakes: InstallFakes, write_model: WriteModel, photos: Path, tmp_path: Path, change: str
) -> None:
    manifest = write_model()
    libs = install_fakes("10")
    first = build_engine(manifest, tmp_path / "e", options(photos))
    opts = options(photos)
    if change == "trt":
        libs = install_fakes("10", version="10.4.0")
    elif change == "gpu":
        libs = install_fakes("10", gpu_name="NVIDIA Jetson AGX Orin")
    elif change == "precision":
        libs = install_fakes("10")
        opts = options(photos, precision="fp32")
    elif change == "model":
        libs = install_fakes("10")
        manifest = write_model(name="dr-test2")  # another model file, another sha256
    else:
        libs = install_fakes("10")
        opts = options(photos, profile=BatchProfile(1, 2, 16))
    second = build_engine(manifest, tmp_path / "e", opts)
    assert second.built
    assert libs.rec.names().count("build_serialized_network") == 1
    if change == "profile":
        assert second.engine == first.engine  # same name, the record tells the profiles apart
        assert second.record["key"]["batch_profile"] == [1, 2, 16]
    else:
        assert second.engine != first.engine
        assert first.engine.is_file()  # the other device's or model's engine stays


def test_a_disagreeing_engine_is_refused_and_removed(
    install_fakes: InstallFakes, int8_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    engines = tmp_path / "engines"
    install_fakes("10", engine_offset=0.4)
    with pytest.raises(EngineParityError, match="disagrees with onnxruntime on 6 photos") as info:
        build_engine(int8_model, engines, options(photos))
    assert info.value.reason_code == "engine_disagrees"
    assert [n for n in files_in(engines) if not n.startswith("timing_")] == []


def test_a_refused_rebuild_leaves_the_installed_engine_alone(
    install_fakes: InstallFakes, int8_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    engines = tmp_path / "engines"
    install_fakes("10")
    good = build_engine(int8_model, engines, options(photos))
    before = good.engine.read_bytes()
    install_fakes("10", engine_offset=-0.5)
    with pytest.raises(EngineParityError):
        build_engine(int8_model, engines, options(photos, force=True))
    assert good.engine.read_bytes() == before
    assert not [n for n in files_in(engines) if n.endswith(".tmp")]


def test_the_tolerance_is_an_option(
    install_fakes: InstallFakes, int8_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    install_fakes("10", engine_offset=0.01)  # about 0.0025 in probability
    with pytest.raises(EngineParityError):
        build_engine(int8_model, tmp_path / "a", options(photos, tolerance=1e-4))
    result = build_engine(int8_model, tmp_path / "b", options(photos, tolerance=0.01, max_disagreement=1.0))
    assert result.parity is not None and 1e-4 < result.parity.max_abs_diff <= 0.01


def test_a_failed_build_leaves_no_engine(
    install_fakes: InstallFakes, int8_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    install_fakes("8.6", build_returns_none=True)
    with pytest.raises(EngineBuildError, match="could not build"):
        build_engine(int8_model, tmp_path / "e", options(photos))
    assert not list((tmp_path / "e").glob("*.engine*"))


def test_an_engine_that_cannot_run_is_a_build_error_and_removed(
    install_fakes: InstallFakes, fp32_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    install_fakes("10", corrupt_plan=True)
    with pytest.raises(EngineBuildError, match="just built cannot be run") as info:
        build_engine(fp32_model, tmp_path / "e", options(photos))
    assert "deserialized" in info.value.message
    assert [n for n in files_in(tmp_path / "e") if not n.startswith("timing_")] == []


def test_no_photos_fails_before_the_long_build(
    install_fakes: InstallFakes, fp32_model: ModelManifest, tmp_path: Path
) -> None:
    libs = install_fakes("10")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineBuildError, match="No photos found"):
        build_engine(fp32_model, tmp_path / "e", options(empty))
    assert "Builder" not in libs.rec.names()


def test_photos_can_come_from_a_list_file(
    install_fakes: InstallFakes, fp32_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    install_fakes("10")
    listing = tmp_path / "calibration_images.txt"
    listing.write_text("# calibration images\nphotos/photo_1.jpg\n\nphotos/photo_4.jpg\n")
    result = build_engine(fp32_model, tmp_path / "e", options(listing))
    assert result.parity is not None and result.parity.images == 2
    # The calibration list names files relative to the dev set, not to its own folder.
    elsewhere = tmp_path / "models" / "calibration-images.txt"
    elsewhere.write_text("photo_0.jpg\nphoto_2.jpg\nphoto_5.jpg\n")
    result = build_engine(fp32_model, tmp_path / "f", options(elsewhere, images_root=photos))
    assert result.parity is not None and result.parity.images == 3


def test_without_tensorrt_the_error_says_so(
    no_gpu_libs: None, fp32_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    with pytest.raises(RunnerUnavailableError, match="not installed"):
        build_engine(fp32_model, tmp_path / "e", options(photos))


def test_a_swapped_model_file_is_refused(
    install_fakes: InstallFakes, fp32_model: ModelManifest, photos: Path, tmp_path: Path
) -> None:
    install_fakes("10")
    fp32_model.model_path.write_bytes(fp32_model.model_path.read_bytes() + b" ")
    with pytest.raises(ModelIntegrityError):
        build_engine(fp32_model, tmp_path / "e", options(photos))


def test_auto_precision_follows_the_model() -> None:
    from model_fakes import tiny_onnx

    assert choose_precision("auto", tiny_onnx(quantized=True)) == "int8"
    assert choose_precision("auto", tiny_onnx()) == "fp16"
    assert choose_precision("fp32", tiny_onnx(quantized=True)) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        choose_precision("int4", b"")


def test_the_modules_import_without_tensorrt() -> None:
    code = (
        "import sys\n"
        "for name in ('tensorrt', 'pycuda', 'pycuda.driver'): sys.modules[name] = None\n"
        "import build.engine, build.trt_build, build.parity, appliance.commands.build_engine\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

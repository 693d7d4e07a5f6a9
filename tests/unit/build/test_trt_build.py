"""The TensorRT builder calls, in order and with the right flags, for 10.x and 8.6 (fake tensorrt)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from build_fakes import CACHE_MAGIC, PLAN_MAGIC
from build_models import InstallFakes
from model_fakes import SIZE, tiny_onnx

from build.errors import EngineBuildError, OnnxParseError
from build.plan import BatchProfile, plan_build
from build.trt_build import serialize_engine

SAMPLE = (3, SIZE, SIZE)


def build(trt: object, tmp_path: Path, precision: str = "int8", *, quantized: bool = True, typing: str = "auto",
          phases: list[str] | None = None) -> tuple[bytes, BatchProfile]:
    plan = plan_build(trt.__version__, precision, typing=typing, workspace_bytes=256 << 20)  # type: ignore[attr-defined]
    on_phase = phases.append if phases is not None else None
    return serialize_engine(trt, tiny_onnx(quantized=quantized), plan, input_name="image", sample_shape=SAMPLE,
                            timing_cache=tmp_path / "timing.cache", where="model.onnx", on_phase=on_phase)


def test_trt10_int8_call_sequence(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10")
    data, profile = build(libs.trt, tmp_path)
    assert data.startswith(PLAN_MAGIC)
    assert profile == BatchProfile(1, 4, 8)
    names = [n for n in libs.rec.names() if n not in {"Logger"}]
    assert names == [
        "Builder", "create_network", "OnnxParser", "parse", "create_builder_config", "set_memory_pool_limit",
        "create_optimization_profile", "profile.set_shape", "add_optimization_profile",
        "create_timing_cache", "set_timing_cache", "build_serialized_network",
        "get_timing_cache", "timing_cache.serialize",
    ]
    assert libs.rec.args("create_network") == [(1 << 1,)]  # STRONGLY_TYPED, no EXPLICIT_BATCH
    assert libs.rec.args("set_flag") == []
    assert libs.rec.args("set_memory_pool_limit") == [("WORKSPACE", 256 << 20)]
    assert libs.rec.args("profile.set_shape") == [("image", (1, *SAMPLE), (4, *SAMPLE), (8, *SAMPLE))]
    assert libs.rec.kwargs("set_timing_cache") == [{"ignore_mismatch": False}]


def test_trt86_int8_uses_explicit_batch_and_int8_fp16_flags(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("8.6")
    data, _ = build(libs.trt, tmp_path)
    assert data.startswith(PLAN_MAGIC)
    assert libs.rec.args("create_network") == [(1 << 0,)]
    assert libs.rec.args("set_flag") == [("INT8",), ("FP16",)]
    assert libs.rec.args("build_serialized_network") == [(["FP16", "INT8", "TF32"],)]


def test_trt10_weak_typing_sets_int8_fp16(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10")
    build(libs.trt, tmp_path, typing="weak")
    assert libs.rec.args("create_network") == [(0,)]
    assert libs.rec.args("set_flag") == [("INT8",), ("FP16",)]


@pytest.mark.parametrize("api", ["10", "8.6"])
def test_fp32_clears_tf32(install_fakes: InstallFakes, tmp_path: Path, api: str) -> None:
    libs = install_fakes(api)
    build(libs.trt, tmp_path, "fp32", quantized=False)
    assert libs.rec.args("clear_flag") == [("TF32",)]
    assert libs.rec.args("build_serialized_network") == [([],)]


def test_a_builder_flag_this_tensorrt_lacks_is_a_typed_error(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10")
    del libs.trt.BuilderFlag.FP16  # as in TensorRT 11, which removed the precision flags
    with pytest.raises(EngineBuildError, match="no builder flag FP16"):
        build(libs.trt, tmp_path, "fp16", quantized=False)
    del libs.trt.BuilderFlag.TF32
    data, _ = build(libs.trt, tmp_path, "fp32", quantized=False)  # clearing an absent flag is a no-op
    assert data.startswith(PLAN_MAGIC) and libs.rec.args("clear_flag") == []


def test_timing_cache_is_loaded_from_file_and_saved_back(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10")
    cache = tmp_path / "timing.cache"
    build(libs.trt, tmp_path)
    first = cache.read_bytes()
    assert first.startswith(CACHE_MAGIC + libs.dev.cache_tag)
    assert libs.rec.args("create_timing_cache") == [(b"",)]  # no file yet: an empty cache
    build(libs.trt, tmp_path)
    assert libs.rec.args("create_timing_cache")[-1] == (first,)  # the saved timings were handed in
    assert cache.read_bytes() == first + b"|timings"
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_timing_cache_from_another_device_is_replaced(
    install_fakes: InstallFakes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    libs = install_fakes("10")
    (tmp_path / "timing.cache").write_bytes(CACHE_MAGIC + b"8.6.2/Xavier|old")
    with caplog.at_level(logging.WARNING, logger="build.trt_build"):
        data, _ = build(libs.trt, tmp_path)
    assert data.startswith(PLAN_MAGIC)
    assert "does not match" in caplog.text
    assert [a[0] for a in libs.rec.args("set_timing_cache")] == [CACHE_MAGIC + b"8.6.2/Xavier|old", b""]
    assert (tmp_path / "timing.cache").read_bytes().startswith(CACHE_MAGIC + libs.dev.cache_tag)


def test_parse_failure_is_a_typed_error_with_every_parser_message(
    install_fakes: InstallFakes, tmp_path: Path
) -> None:
    libs = install_fakes("10", parse_errors=["node Conv_3: unsupported auto_pad", "node Gemm_9: bad input"])
    with pytest.raises(OnnxParseError, match=r"cannot parse the model model\.onnx: node Conv_3") as info:
        build(libs.trt, tmp_path)
    assert info.value.errors == ["node Conv_3: unsupported auto_pad", "node Gemm_9: bad input"]
    assert info.value.reason_code == "engine_onnx_unparsable"
    assert "build_serialized_network" not in libs.rec.names()


def test_a_failed_build_is_a_typed_error_and_saves_no_timing_cache(
    install_fakes: InstallFakes, tmp_path: Path
) -> None:
    libs = install_fakes("8.6", build_returns_none=True)
    with pytest.raises(EngineBuildError, match="could not build a int8 engine"):
        build(libs.trt, tmp_path)
    assert not (tmp_path / "timing.cache").exists()


def test_int8_from_a_float_model_is_refused_before_building(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10")
    with pytest.raises(EngineBuildError, match="no Quantize/Dequantize layers"):
        build(libs.trt, tmp_path, "int8", quantized=False)
    assert "build_serialized_network" not in libs.rec.names()


def test_fp16_from_a_qdq_model_is_refused(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10")
    with pytest.raises(EngineBuildError, match="builds only as an int8 engine"):
        build(libs.trt, tmp_path, "fp16", quantized=True)


def test_an_input_the_manifest_does_not_name_is_refused(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10", input_name="input.1")
    with pytest.raises(EngineBuildError, match=r"inputs \['input.1'\]"):
        build(libs.trt, tmp_path)


def test_an_input_of_another_size_is_refused(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10", input_shape=(-1, 3, 16, 16))
    with pytest.raises(EngineBuildError, match=r"does not fit the manifest's \[N, 3, 8, 8\]"):
        build(libs.trt, tmp_path)


def test_a_static_batch_model_gets_no_profile(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10", input_shape=(1, *SAMPLE))
    _, profile = build(libs.trt, tmp_path)
    assert profile == BatchProfile(1, 1, 1)
    assert "add_optimization_profile" not in libs.rec.names()


def test_trt10_builder_phases_are_reported(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("10", phases=("Building engine", "Serializing"))
    phases: list[str] = []
    build(libs.trt, tmp_path, phases=phases)
    assert phases == ["Building engine (2 steps)", "Serializing (2 steps)"]  # sub-phases are not reported
    assert libs.rec.names().index("IProgressMonitor.__init__") < libs.rec.names().index("build_serialized_network")


def test_trt86_has_no_progress_monitor_and_still_builds(install_fakes: InstallFakes, tmp_path: Path) -> None:
    libs = install_fakes("8.6")
    phases: list[str] = []
    data, _ = build(libs.trt, tmp_path, phases=phases)
    assert phases == [] and data.startswith(PLAN_MAGIC)

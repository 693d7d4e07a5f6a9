"""Which flags build which engine, for TensorRT 8.6 and 10.x (pure: no TensorRT needed)."""

from __future__ import annotations

import pytest

from build.errors import EngineBuildError
from build.plan import BatchProfile, plan_build, trt_version_tuple


def test_trt86_int8_is_explicit_batch_with_int8_and_fp16_flags() -> None:
    plan = plan_build("8.6.2", "int8")
    assert plan.network_flags == ("EXPLICIT_BATCH",)
    assert plan.set_flags == ("INT8", "FP16")
    assert plan.clear_flags == ()
    assert plan.typing == "weak"


def test_trt10_int8_defaults_to_a_strongly_typed_network_without_precision_flags() -> None:
    plan = plan_build("10.3.0.30", "int8")
    assert plan.network_flags == ("STRONGLY_TYPED",)
    assert plan.set_flags == ()
    assert plan.typing == "strong"


def test_trt10_int8_weakly_typed_sets_int8_and_fp16_and_no_deprecated_explicit_batch() -> None:
    plan = plan_build("10.3.0", "int8", typing="weak")
    assert plan.network_flags == ()
    assert plan.set_flags == ("INT8", "FP16")


@pytest.mark.parametrize("version", ["8.6.1", "10.0.1", "10.7.0"])
def test_fp16_sets_the_fp16_flag_weakly_typed(version: str) -> None:
    plan = plan_build(version, "fp16")
    assert plan.set_flags == ("FP16",)
    assert not plan.strongly_typed
    assert ("EXPLICIT_BATCH" in plan.network_flags) == version.startswith("8.")


@pytest.mark.parametrize("version", ["8.6.1", "10.3.0"])
def test_fp32_clears_tf32_so_the_engine_is_really_fp32(version: str) -> None:
    plan = plan_build(version, "fp32")
    assert plan.set_flags == ()
    assert plan.clear_flags == ("TF32",)


def test_trt11_is_always_strongly_typed_without_flags() -> None:
    plan = plan_build("11.4.0.106", "int8")
    assert plan.strongly_typed and plan.network_flags == () and plan.set_flags == ()
    assert plan_build("11.4.0", "fp32").clear_flags == ("TF32",)
    for precision, typing in [("fp16", "auto"), ("int8", "weak")]:
        with pytest.raises(EngineBuildError, match="strongly typed"):
            plan_build("11.4.0", precision, typing=typing)


def test_strong_typing_needs_trt10() -> None:
    with pytest.raises(EngineBuildError, match="TensorRT 10"):
        plan_build("8.6.2", "int8", typing="strong")


def test_strongly_typed_fp16_from_a_float_model_is_refused() -> None:
    with pytest.raises(EngineBuildError, match="weak typing"):
        plan_build("10.3.0", "fp16", typing="strong")


def test_tensorrt_older_than_86_is_refused_with_a_typed_error() -> None:
    with pytest.raises(EngineBuildError, match=r"older than 8\.6") as info:
        plan_build("8.5.3", "fp16")
    assert info.value.reason_code == "engine_build_failed"


@pytest.mark.parametrize(("text", "expected"), [("10.3.0.30", (10, 3)), ("8.6.2", (8, 6)), (" 9.1", (9, 1))])
def test_version_tuple(text: str, expected: tuple[int, int]) -> None:
    assert trt_version_tuple(text) == expected


def test_unreadable_version_is_a_typed_error() -> None:
    with pytest.raises(EngineBuildError, match="unreadable version"):
        trt_version_tuple("unknown")


@pytest.mark.parametrize(("precision", "typing"), [("int4", "auto"), ("int8", "loose")])
def test_unknown_precision_or_typing_is_a_value_error(precision: str, typing: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        plan_build("10.3.0", precision, typing=typing)


def test_tiny_workspace_is_refused() -> None:
    with pytest.raises(ValueError, match="workspace"):
        plan_build("10.3.0", "fp16", workspace_bytes=1024)


def test_batch_profile_shapes_and_validation() -> None:
    profile = BatchProfile(1, 4, 8)
    assert profile.shapes((3, 224, 224)) == ((1, 3, 224, 224), (4, 3, 224, 224), (8, 3, 224, 224))
    for bad in [(0, 1, 1), (2, 1, 4), (1, 8, 4)]:
        with pytest.raises(ValueError, match="batch profile"):
            BatchProfile(*bad)

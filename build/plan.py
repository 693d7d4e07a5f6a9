"""Which TensorRT flags build which engine: pure, so every combination is testable without a GPU.

Two API generations are handled:

* TensorRT 8.6: networks must be created with the EXPLICIT_BATCH flag; an explicitly quantized
  (Q/DQ) ONNX builds with the INT8 flag, plus FP16 so that the layers the Q/DQ graph leaves in
  float may run in half precision.
* TensorRT 10.x: explicit batch is the default (the flag is deprecated and ignored), and NVIDIA's
  explicit-quantization path is a *strongly typed* network: precisions come from the Q/DQ graph and
  the ONNX types, and precision flags must not be set. The weakly typed INT8 + FP16 build is still
  offered (typing="weak"): it lets TensorRT run the float layers in FP16, often faster on Orin.
* TensorRT 11 (not on any Jetson yet) removed the precision flags: every network is strongly typed.
  int8 and fp32 build as on 10.x; fp16 would need an FP16-typed ONNX and is refused clearly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.inference.registry import PRECISIONS
from build.errors import EngineBuildError

#: "auto": strongly typed for INT8 on TensorRT >= 10, weakly typed otherwise.
TYPINGS = ("auto", "strong", "weak")
#: Largest accepted |engine - onnxruntime| difference of a probability, per precision. INT8 kernels
#: round differently from onnxruntime's QDQ kernels; FP16 keeps ~3 decimal digits; FP32 is built
#: without TF32, so only summation order differs.
DEFAULT_TOLERANCE = {"int8": 0.03, "fp16": 5e-3, "fp32": 1e-3}
#: Largest accepted share of images whose refer decision differs between engine and onnxruntime.
DEFAULT_MAX_DISAGREEMENT = 0.01
DEFAULT_WORKSPACE_BYTES = 1 << 30
OLDEST_TRT = (8, 6)


@dataclass(frozen=True)
class BatchProfile:
    """The optimisation profile of the dynamic batch dimension: smallest, tuned-for and largest batch."""

    min: int = 1
    opt: int = 4
    max: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"batch profile needs 1 <= min <= opt <= max, got {self.min}/{self.opt}/{self.max}")

    def shapes(self, sample: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) input shapes for one sample shape, e.g. (3, 224, 224)."""
        return (self.min, *sample), (self.opt, *sample), (self.max, *sample)

    def as_list(self) -> list[int]:
        return [self.min, self.opt, self.max]


@dataclass(frozen=True)
class BuildPlan:
    """Everything the builder is told, as TensorRT enum member names (resolved against the module later)."""

    precision: str
    trt_version: str
    strongly_typed: bool
    #: NetworkDefinitionCreationFlag members OR-ed into create_network()'s flags.
    network_flags: tuple[str, ...]
    #: BuilderFlag members to set, then to clear.
    set_flags: tuple[str, ...]
    clear_flags: tuple[str, ...]
    profile: BatchProfile = field(default_factory=BatchProfile)
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES

    @property
    def typing(self) -> str:
        return "strong" if self.strongly_typed else "weak"


def trt_version_tuple(version: str) -> tuple[int, int]:
    """(major, minor) of a TensorRT version string such as "10.3.0.30" or "8.6.2".

    Raises:
        EngineBuildError: the string does not start with two numbers.
    """
    match = re.match(r"^(\d+)\.(\d+)", version.strip())
    if match is None:
        raise EngineBuildError(f"TensorRT reports an unreadable version {version!r}; reinstall TensorRT.")
    return int(match.group(1)), int(match.group(2))


def plan_build(
    trt_version: str,
    precision: str,
    *,
    typing: str = "auto",
    profile: BatchProfile | None = None,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
) -> BuildPlan:
    """The flags for building `precision` with this TensorRT version.

    Args:
        trt_version: tensorrt.__version__ of the device.
        precision: "int8" (from a Q/DQ ONNX), "fp16" or "fp32" (from a float ONNX).
        typing: "auto", "strong" (TensorRT >= 10 only) or "weak".
        profile: the dynamic batch profile (default 1/4/8).
        workspace_bytes: the builder's workspace memory pool limit.

    Raises:
        ValueError: unknown precision or typing, or a workspace below 1 MiB.
        EngineBuildError: TensorRT older than 8.6, or a combination this TensorRT cannot build.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if typing not in TYPINGS:
        raise ValueError(f"typing must be one of {TYPINGS}, got {typing!r}")
    if workspace_bytes < 1 << 20:
        raise ValueError(f"workspace must be at least 1 MiB, got {workspace_bytes} bytes")
    version = trt_version_tuple(trt_version)
    if version < OLDEST_TRT:
        raise EngineBuildError(
            f"TensorRT {trt_version} is older than {OLDEST_TRT[0]}.{OLDEST_TRT[1]}, the oldest this appliance "
            "builds engines with; update JetPack."
        )
    modern = version[0] >= 10
    always_strong = version[0] >= 11
    if always_strong and (typing == "weak" or precision == "fp16"):
        raise EngineBuildError(
            f"TensorRT {trt_version} builds every network strongly typed (no FP16/INT8 builder flags): "
            "build int8 from the Q/DQ model or fp32 from the float model.",
        )
    if typing == "strong" and not modern:
        raise EngineBuildError(
            f"Strongly typed networks need TensorRT 10 or newer; this box has {trt_version}. Use weak typing."
        )
    if typing == "strong" and precision == "fp16":
        # A strongly typed network takes its precision from the ONNX's types: FP32 here.
        raise EngineBuildError("An FP16 engine from an FP32 model needs weak typing (the FP16 builder flag).")
    strong = always_strong or (modern and (typing == "strong" or (typing == "auto" and precision == "int8")))

    # TensorRT 11 keeps STRONGLY_TYPED only as an ignored, deprecated flag: leave it out there.
    network_flags = ("STRONGLY_TYPED",) if strong and not always_strong else ()
    if not modern:
        network_flags = ("EXPLICIT_BATCH",)
    set_flags: tuple[str, ...] = ()
    clear_flags: tuple[str, ...] = ()
    if not strong and precision == "int8":
        set_flags = ("INT8", "FP16")
    elif not strong and precision == "fp16":
        set_flags = ("FP16",)
    if precision == "fp32":
        clear_flags = ("TF32",)  # TF32 convolutions keep 10 mantissa bits: not the FP32 the key promises
    return BuildPlan(
        precision=precision,
        trt_version=trt_version,
        strongly_typed=strong,
        network_flags=network_flags,
        set_flags=set_flags,
        clear_flags=clear_flags,
        profile=profile or BatchProfile(),
        workspace_bytes=workspace_bytes,
    )

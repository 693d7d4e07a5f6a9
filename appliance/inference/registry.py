"""Pick the best runner this box can run for a model, and name its cached TensorRT engines.

An engine is only valid for the exact model bytes, TensorRT version, GPU, precision and input size
it was built for, so all of them are in its file name: a change to any one means a rebuild, never a
silently mismatched engine.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ConfigError, RunnerUnavailableError
from appliance.inference.manifest import ModelManifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.runner import Runner
from appliance.inference.trt_runner import TensorRTRunner

log = logging.getLogger(__name__)

PREFERENCES = ("auto", "onnxruntime", "tensorrt")
#: Engine precisions, in the order "auto" looks for them (fastest first).
PRECISIONS = ("int8", "fp16", "fp32")


@dataclass(frozen=True)
class TensorRTDevice:
    """What an engine is tied to besides the model: the TensorRT version and the GPU."""

    trt_version: str
    gpu_name: str


def probe_tensorrt() -> TensorRTDevice:
    """The TensorRT version and the name of GPU 0, importing tensorrt and pycuda only now.

    Raises:
        RunnerUnavailableError: the libraries are missing or no GPU answers.
    """
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except ImportError as exc:
        raise RunnerUnavailableError(
            "TensorRT and pycuda are not installed on this box.", detail=str(exc)
        ) from exc
    try:
        cuda.init()
        gpu_name = str(cuda.Device(0).name())
    except Exception as exc:  # pycuda raises its own driver error types
        raise RunnerUnavailableError("TensorRT is installed but no GPU answers.", detail=repr(exc)) from exc
    return TensorRTDevice(trt_version=str(trt.__version__), gpu_name=gpu_name)


def _sanitise(text: str) -> str:
    # File-name safe and free of "_", which separates the name's fields.
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "unknown"


def engine_path(
    manifest: ModelManifest, engine_dir: Path, *, trt_version: str, gpu_name: str, precision: str = "int8"
) -> Path:
    """Where the engine for this model, TensorRT version, GPU, precision and input size is cached.

    Example: engines/dr-reference_0123456789abcdef_trt10.3.0_orin_int8_224.engine

    Raises:
        ValueError: `precision` is not one of PRECISIONS.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    fields = (
        _sanitise(manifest.name),
        manifest.sha256[:16],
        "trt" + _sanitise(trt_version),
        _sanitise(gpu_name),
        precision,
        str(manifest.input.size),
    )
    return Path(engine_dir) / ("_".join(fields) + ".engine")


def find_engine(manifest: ModelManifest, engine_dir: Path, device: TensorRTDevice) -> Path:
    """The cached engine for this model on this device, trying PRECISIONS in order.

    Raises:
        RunnerUnavailableError: no engine has been built for this model and device.
    """
    for precision in PRECISIONS:
        path = engine_path(
            manifest, engine_dir,
            trt_version=device.trt_version, gpu_name=device.gpu_name, precision=precision,
        )
        if path.is_file():
            return path
    raise RunnerUnavailableError(
        f"No TensorRT engine has been built for model {manifest.name} {manifest.version} on this "
        f"{device.gpu_name} with TensorRT {device.trt_version}; build one into {engine_dir}.",
    )


def select_runner(
    manifest: ModelManifest,
    *,
    preference: str = "auto",
    engine_dir: Path,
    intra_op_threads: int = 2,
) -> Runner:
    """The runner to serve `manifest` with (not yet activated).

    Args:
        preference: "auto" (TensorRT when its libraries and an engine for this model and GPU
            exist, else onnxruntime), "onnxruntime", or "tensorrt" (fail rather than fall back).
        engine_dir: folder of cached TensorRT engines.
        intra_op_threads: CPU threads for onnxruntime.

    Raises:
        ConfigError: unknown preference.
        RunnerUnavailableError: "tensorrt" was asked for and cannot run here.
    """
    if preference not in PREFERENCES:
        raise ConfigError(
            f"Unknown model runner {preference!r} in the configuration: use one of {', '.join(PREFERENCES)}."
        )
    if preference == "onnxruntime":
        log.info("Runner: onnxruntime (configured)")
        return OnnxRunner(manifest, intra_op_threads=intra_op_threads)
    try:
        device = probe_tensorrt()
        engine = find_engine(manifest, Path(engine_dir), device)
    except RunnerUnavailableError as exc:
        if preference == "tensorrt":
            raise RunnerUnavailableError(
                f"The configuration asks for the TensorRT runner, but it cannot run here: {exc.message} "
                "Set the model runner to auto or onnxruntime, or fix the installation.",
                detail=exc.detail,
            ) from exc
        log.info("Runner: onnxruntime, because TensorRT is not usable: %s", exc.message)
        return OnnxRunner(manifest, intra_op_threads=intra_op_threads)
    log.info(
        "Runner: tensorrt (%s), engine %s for %s with TensorRT %s",
        preference, engine.name, device.gpu_name, device.trt_version,
    )
    return TensorRTRunner(manifest, engine)

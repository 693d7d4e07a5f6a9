"""Build (or reuse) the TensorRT engine for a model on this device, and refuse one that scores wrongly.

    result = build_engine(load_manifest(path), engine_dir, BuildOptions(precision="int8"))

Steps: probe TensorRT and the GPU -> choose precision and flags -> reuse the cached engine when its
record matches the key -> load the parity photos -> build (timing cache in) -> stage the engine ->
compare it with onnxruntime -> install it atomically with its JSON record (timing cache out).
An engine that disagrees is deleted and EngineParityError raised; whatever was installed before
stays as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.devices.simulated import SAMPLES_DIR
from appliance.errors import ModelError
from appliance.inference.manifest import ModelManifest, check_integrity
from appliance.inference.registry import TensorRTDevice, probe_tensorrt
from build import parity
from build.engine_cache import EngineKey, engine_file, install_engine, is_current, read_sidecar, stage_file
from build.errors import EngineBuildError, EngineParityError
from build.plan import DEFAULT_MAX_DISAGREEMENT, DEFAULT_TOLERANCE, DEFAULT_WORKSPACE_BYTES, BatchProfile, plan_build
from build.trt_build import serialize_engine

log = logging.getLogger(__name__)

#: Precision choices of build-engine; "auto" is int8 for a Q/DQ model, else fp16.
PRECISION_CHOICES = ("auto", "int8", "fp16", "fp32")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    """How to build. `tolerance` None means the precision's default (build.plan.DEFAULT_TOLERANCE)."""

    precision: str = "auto"
    typing: str = "auto"
    force: bool = False
    tolerance: float | None = None
    max_disagreement: float = DEFAULT_MAX_DISAGREEMENT
    #: A folder of photos or a text file listing them (e.g. the calibration image list).
    images: Path = SAMPLES_DIR
    #: Folder a list's relative paths are taken from (None: the list's own folder).
    images_root: Path | None = None
    max_images: int = 32
    profile: BatchProfile = field(default_factory=BatchProfile)
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES


@dataclass(frozen=True)
class BuildResult:
    """The engine now in the cache; `built` is False when the cached one was current and reused."""

    engine: Path
    built: bool
    key: EngineKey
    #: The sidecar record (key, engine sha256, build time, parity figures).
    record: dict[str, Any]
    parity: parity.ParityReport | None = None


def build_engine(
    manifest: ModelManifest,
    engine_dir: Path,
    options: BuildOptions | None = None,
    *,
    progress: Progress | None = None,
    engine_runner: parity.EngineRunnerFactory | None = None,
) -> BuildResult:
    """Make sure the cache holds a verified engine for `manifest` on this device; return it.

    Args:
        manifest: the model (FP32 ONNX for fp16/fp32, Q/DQ ONNX for int8).
        engine_dir: the engine cache folder (created when missing); the timing cache lives there too.
        options: precision, typing, force, parity tolerance and images, batch profile, workspace.
        progress: called with a short line at each stage (and each TensorRT builder phase).
        engine_runner: makes the runner that scores with the new engine (default TensorRTRunner).

    Raises:
        RunnerUnavailableError: TensorRT, pycuda or the GPU are missing here.
        ModelIntegrityError: the model file does not match its manifest.
        OnnxParseError / EngineBuildError: the build failed, the model does not fit the precision, no
            parity photo could be read, or the new engine cannot be run (it was deleted).
        EngineParityError: the new engine disagrees with onnxruntime; it was deleted.
        ModelError: onnxruntime could not run the model for the parity check.
    """
    options = options or BuildOptions()
    say = progress or (lambda line: None)
    engine_dir = Path(engine_dir)

    say("probing TensorRT and the GPU")
    device = probe_tensorrt()
    onnx_bytes = _read_model(manifest)
    precision = choose_precision(options.precision, onnx_bytes)
    plan = plan_build(device.trt_version, precision, typing=options.typing, profile=options.profile,
                      workspace_bytes=options.workspace_bytes)
    key = EngineKey.for_model(manifest, device, precision=precision,
                              batch_profile=(plan.profile.min, plan.profile.opt, plan.profile.max),
                              typing=plan.typing)
    target = engine_file(manifest, engine_dir, key)
    if not options.force and is_current(target, key):
        say(f"engine is current: {target.name}")
        return BuildResult(engine=target, built=False, key=key, record=read_sidecar(target) or {})

    tolerance = DEFAULT_TOLERANCE[precision] if options.tolerance is None else options.tolerance
    say(f"loading parity photos from {options.images}")
    files = parity.image_files(Path(options.images), options.max_images, options.images_root)
    batch = parity.load_batch(files, manifest)

    import tensorrt as trt  # probe_tensorrt() has just imported it

    say(f"building a {precision} engine ({plan.typing}ly typed) with TensorRT {device.trt_version} "
        f"on {device.gpu_name}; this takes minutes")
    started = time.monotonic()
    size = manifest.input.size
    data, profile = serialize_engine(
        trt, onnx_bytes, plan, input_name=manifest.input_name, sample_shape=(3, size, size),
        timing_cache=timing_cache_path(engine_dir, device), where=str(manifest.model_path),
        on_phase=lambda phase: say(f"TensorRT: {phase}"),
    )
    build_seconds = time.monotonic() - started

    staged = stage_file(engine_dir, data, prefix=f".{target.name}.")
    try:
        say(f"comparing the engine with onnxruntime on {batch.shape[0]} photos")
        factory = engine_runner or parity._trt_runner
        expected, got = parity.score_both(manifest, staged, batch, max_batch=profile.max, engine_runner=factory)
        report = parity.compare_scores(expected, got, threshold=manifest.threshold, tolerance=tolerance,
                                       max_disagreement=options.max_disagreement)
        log.info("Engine parity: %s", report.as_dict())
        if not report.passed:
            raise EngineParityError(
                f"The {precision} engine disagrees with onnxruntime on {report.images} photos (largest score "
                f"difference {report.max_abs_diff:.4f}, tolerance {tolerance}; {report.disagreements} refer "
                "decisions differ), so it was deleted. The previous engine, if any, is unchanged.",
                detail=str(report.as_dict()),
            )
        record = {
            "key": key.as_dict(),
            "engine_file": target.name,
            "engine_sha256": hashlib.sha256(data).hexdigest(),
            "engine_bytes": len(data),
            "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(build_seconds, 1),
            "trt_version": device.trt_version,
            "onnx_sha256": manifest.sha256,
            "engine_batch_profile": profile.as_list(),
            "workspace_bytes": plan.workspace_bytes,
            "builder_flags": list(plan.set_flags),
            "parity": {**report.as_dict(), "images_from": str(options.images)},
            "appliance_version": __version__,
        }
        say(f"installing {target.name}")
        install_engine(staged, target, record)
    finally:
        staged.unlink(missing_ok=True)
    return BuildResult(engine=target, built=True, key=key, record=record, parity=report)


def choose_precision(requested: str, onnx_bytes: bytes) -> str:
    """The precision to build: `requested`, or for "auto" int8 when the model holds Q/DQ nodes, else fp16.

    The byte scan only picks a default; the parsed network is checked again (trt_build.check_precision).

    Raises:
        ValueError: unknown precision.
    """
    if requested not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {requested!r}")
    if requested != "auto":
        return requested
    # Op types are stored verbatim in the protobuf; "QuantizeLinear" is case-distinct from "DequantizeLinear".
    return "int8" if b"QuantizeLinear" in onnx_bytes else "fp16"


def timing_cache_path(engine_dir: Path, device: TensorRTDevice) -> Path:
    """One timing cache per TensorRT version and GPU, since timings from another device mislead."""
    fields = (device.trt_version, device.gpu_name)
    safe = [re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "unknown" for text in fields]
    return Path(engine_dir) / f"timing_trt{safe[0]}_{safe[1]}.cache"


def _read_model(manifest: ModelManifest) -> bytes:
    """The model's bytes, checked against the manifest (the build uses exactly the bytes hashed)."""
    try:
        data = manifest.model_path.read_bytes()
    except OSError as exc:
        raise ModelError(f"Model file {manifest.model_path} cannot be read ({exc.strerror}); reinstall the model.",
                         detail=str(exc)) from exc
    check_integrity(manifest, hashlib.sha256(data).hexdigest())
    return data


__all__ = ["PRECISION_CHOICES", "BuildOptions", "BuildResult", "EngineBuildError", "EngineParityError",
           "build_engine", "choose_precision", "timing_cache_path"]

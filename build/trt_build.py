"""The TensorRT builder calls: ONNX bytes + a BuildPlan -> a serialized engine, with a timing cache.

`tensorrt` is passed in (the caller imports it lazily), so this module imports on any box and the
tests drive it with a fake module. Sequence: Builder -> create_network(flags) -> OnnxParser.parse
-> network checks -> builder config (workspace, precision flags, optimisation profile, timing
cache, progress monitor) -> build_serialized_network -> save the timing cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build.engine_cache import write_atomic
from build.errors import EngineBuildError, OnnxParseError
from build.plan import BatchProfile, BuildPlan

log = logging.getLogger(__name__)

PhaseCallback = Callable[[str], None]


@dataclass(frozen=True)
class NetworkFacts:
    """What the parsed network says about itself."""

    input_shape: tuple[int, ...]
    #: True when the network holds QuantizeLinear/DequantizeLinear layers (explicit quantization).
    quantized: bool

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.input_shape)


def serialize_engine(
    trt: Any,
    onnx_bytes: bytes,
    plan: BuildPlan,
    *,
    input_name: str,
    sample_shape: tuple[int, int, int],
    timing_cache: Path,
    where: str,
    on_phase: PhaseCallback | None = None,
) -> tuple[bytes, BatchProfile]:
    """Build an engine from ONNX bytes as `plan` says; returns it serialized and its batch profile.

    Args:
        trt: the `tensorrt` module.
        onnx_bytes: the model, already checked against its manifest's sha256.
        input_name / sample_shape: the manifest's input tensor and one sample's shape (3, S, S).
        timing_cache: file the tactic timings are loaded from (when present) and saved back to.
        where: the model's path, for messages.
        on_phase: called with the name of each top-level builder phase (TensorRT >= 10).

    Raises:
        OnnxParseError: the parser refused the model (each parser error is in `.errors`).
        EngineBuildError: the network does not fit the manifest or the precision, or the build failed.
    """
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] or ["(no error reported)"]
        raise OnnxParseError(
            f"TensorRT {plan.trt_version} cannot parse the model {where}: {errors[0]}", errors=errors
        )
    facts = inspect_network(trt, network, input_name, sample_shape, where)
    check_precision(facts, plan.precision, where)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    for name in plan.set_flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:
            raise EngineBuildError(f"TensorRT {plan.trt_version} has no builder flag {name}; use another precision.")
        config.set_flag(flag)
    for name in plan.clear_flags:
        if hasattr(trt.BuilderFlag, name):  # a flag this TensorRT lacks is off already
            config.clear_flag(getattr(trt.BuilderFlag, name))
    profile = plan.profile
    if facts.dynamic:
        trt_profile = builder.create_optimization_profile()
        trt_profile.set_shape(input_name, *profile.shapes(sample_shape))
        config.add_optimization_profile(trt_profile)
    else:
        batch = facts.input_shape[0]
        profile = BatchProfile(batch, batch, batch)
    cache = load_timing_cache(config, timing_cache)  # referenced until the build ends, as TensorRT requires
    monitor = _progress_monitor(trt, on_phase)
    if monitor is not None:
        config.progress_monitor = monitor  # kept referenced by `monitor` until the build returns

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT {plan.trt_version} could not build a {plan.precision} engine for {where}; "
            "see the TensorRT messages above (out of memory, or an unsupported layer).",
        )
    save_timing_cache(config, timing_cache)
    del cache, monitor
    return bytes(memoryview(serialized)), profile


def inspect_network(
    trt: Any, network: Any, input_name: str, sample_shape: tuple[int, int, int], where: str
) -> NetworkFacts:
    """The network's single input, checked against the manifest, and whether it is Q/DQ quantized.

    Raises:
        EngineBuildError: not one input named as the manifest says, of shape [N, 3, S, S].
    """
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    names = [t.name for t in inputs]
    if names != [input_name]:
        raise EngineBuildError(
            f"The model {where} has inputs {names}, but its manifest names one input '{input_name}'; "
            "reinstall the model.",
        )
    shape = tuple(int(d) for d in inputs[0].shape)
    fits = len(shape) == 4 and all(d in (-1, want) for d, want in zip(shape[1:], sample_shape, strict=True))
    if not fits:
        raise EngineBuildError(
            f"The model {where} takes input {list(shape)}, which does not fit the manifest's "
            f"[N, {', '.join(map(str, sample_shape))}]; reinstall the model.",
        )
    qdq = {trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE}
    quantized = any(network.get_layer(i).type in qdq for i in range(network.num_layers))
    return NetworkFacts(input_shape=shape, quantized=quantized)


def check_precision(facts: NetworkFacts, precision: str, where: str) -> None:
    """A Q/DQ network builds as int8 only, and int8 only from a Q/DQ network (there is no calibrator).

    Raises:
        EngineBuildError: the precision does not match the model.
    """
    if precision == "int8" and not facts.quantized:
        raise EngineBuildError(
            f"The model {where} has no Quantize/Dequantize layers, so it cannot be built as int8 here "
            "(calibration is done offline): use the INT8 model's manifest, or --precision fp16.",
        )
    if precision != "int8" and facts.quantized:
        raise EngineBuildError(
            f"The model {where} is quantized (Q/DQ layers); it builds only as an int8 engine.",
        )


def load_timing_cache(config: Any, path: Path) -> Any:
    """Give the builder the timing cache saved by earlier builds, or an empty one; returns the cache set.

    The caller keeps the returned ITimingCache referenced until the build is over (TensorRT must
    not see it destroyed earlier). The cache is an optimisation only: an unreadable file or one
    from another device or TensorRT (set_timing_cache refuses it, as ignore_mismatch is False) is
    logged and replaced by a fresh one.
    """
    data = b""
    if path.is_file():
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("Timing cache %s cannot be read (%s); starting a fresh one", path, exc.strerror)
    cache = config.create_timing_cache(data)
    if config.set_timing_cache(cache, ignore_mismatch=False):
        if data:
            log.info("Timing cache loaded from %s (%d bytes)", path, len(data))
        return cache
    log.warning("Timing cache %s does not match this device or TensorRT; starting a fresh one", path)
    fresh = config.create_timing_cache(b"")
    config.set_timing_cache(fresh, ignore_mismatch=False)
    return fresh


def save_timing_cache(config: Any, path: Path) -> None:
    """Write the builder's timing cache (now holding this build's timings) atomically to `path`."""
    try:
        data = bytes(memoryview(config.get_timing_cache().serialize()))
        write_atomic(path, data)
    except OSError as exc:
        log.warning("Timing cache %s could not be saved (%s); the next build will time tactics again",
                    path, exc.strerror)
        return
    log.info("Timing cache saved to %s (%d bytes)", path, len(data))


def _progress_monitor(trt: Any, on_phase: PhaseCallback | None) -> Any:
    """A tensorrt.IProgressMonitor reporting top-level phases (TensorRT >= 10), else None."""
    if on_phase is None or not hasattr(trt, "IProgressMonitor"):
        return None
    report: PhaseCallback = on_phase

    class PhaseMonitor(trt.IProgressMonitor):  # type: ignore[misc]
        # TensorRT calls these from its own threads; on_phase only logs or updates a progress bar.
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                report(f"{phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            pass

    return PhaseMonitor()

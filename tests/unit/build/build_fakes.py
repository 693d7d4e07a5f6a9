"""Fake `tensorrt` (builder and runtime) and `pycuda.driver` modules for the engine-build tests.

The fakes record every call in order and behave like the real libraries where the build depends on
it: TensorRT 8.6's parser refuses a network made without EXPLICIT_BATCH, a strongly typed network
refuses precision flags, a Q/DQ network on 8.6 needs the INT8 flag, a timing cache from another
device is refused. The "engine" is JSON behind a magic prefix; the fake runtime deserializes it and
really computes sigmoid(mean(image) + offset) through fake device memory, so TensorRTRunner can run
it and the parity check compares real numbers with onnxruntime's.
"""

from __future__ import annotations

import itertools
import json
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PLAN_MAGIC = b"FAKEPLAN"
CACHE_MAGIC = b"TCACHE:"
GPU_NAME = "NVIDIA Jetson Orin Nano (8GB)"


@dataclass
class Recorder:
    """Every call as (name, args, kwargs), in order."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1] for c in self.calls if c[0] == name]

    def kwargs(self, name: str) -> list[dict[str, Any]]:
        return [c[2] for c in self.calls if c[0] == name]


@dataclass
class FakeDevice:
    """What the fake TensorRT and GPU do; tests change fields to provoke each behaviour."""

    api: str = "10"
    version: str = ""
    gpu_name: str = GPU_NAME
    #: Input shape the parsed network reports (-1: dynamic); the side is set by the fixture.
    input_shape: tuple[int, ...] = (-1, 3, 8, 8)
    input_name: str = "image"
    output_name: str = "referable_probability"
    parse_errors: list[str] = field(default_factory=list)
    build_returns_none: bool = False
    #: The builder returns bytes the runtime cannot deserialize.
    corrupt_plan: bool = False
    #: Added to the engine's logits: a non-zero offset makes an engine that disagrees with the model.
    engine_offset: float = 0.0
    #: Top-level builder phases reported to a progress monitor (TensorRT >= 10 only).
    phases: tuple[str, ...] = ("Building engine",)

    def __post_init__(self) -> None:
        self.version = self.version or ("10.3.0" if self.api == "10" else "8.6.2")

    @property
    def cache_tag(self) -> bytes:
        return f"{self.version}/{self.gpu_name}".encode()


class HostMemory(bytes):
    """IHostMemory: a buffer of serialized bytes."""


def make_tensorrt(dev: FakeDevice, rec: Recorder) -> types.ModuleType:
    """A `tensorrt` module with the builder and runtime APIs of TensorRT 10.x or 8.6 (dev.api)."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = dev.version  # type: ignore[attr-defined]
    modern = dev.api == "10"

    class Logger:
        WARNING = "warning"

        def __init__(self, level: str) -> None:
            rec("Logger", level)

    class NetworkDefinitionCreationFlag:
        EXPLICIT_BATCH = 0
        if modern:
            STRONGLY_TYPED = 1
        else:
            EXPLICIT_PRECISION = 1

    class BuilderFlag:
        FP16 = "FP16"
        INT8 = "INT8"
        TF32 = "TF32"

    class MemoryPoolType:
        WORKSPACE = "WORKSPACE"

    class LayerType:
        CONVOLUTION = "convolution"
        REDUCE = "reduce"
        QUANTIZE = "quantize"
        DEQUANTIZE = "dequantize"

    class TensorIOMode:
        INPUT = "input"
        OUTPUT = "output"

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class Layer:
        def __init__(self, kind: str) -> None:
            self.type = kind

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.layers: list[Layer] = []
            self.inputs: list[Tensor] = []

        @property
        def strongly_typed(self) -> bool:
            return modern and bool(self.flags & (1 << NetworkDefinitionCreationFlag.STRONGLY_TYPED))

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

        @property
        def num_layers(self) -> int:
            return len(self.layers)

        def get_layer(self, i: int) -> Layer:
            return self.layers[i]

    class ParserError:
        def __init__(self, text: str) -> None:
            self.text = text

        def __str__(self) -> str:
            return self.text

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            rec("OnnxParser")
            self.network = network
            self.errors: list[ParserError] = []

        def parse(self, model: bytes) -> bool:
            rec("parse", len(model))
            if not modern and not self.network.flags & (1 << NetworkDefinitionCreationFlag.EXPLICIT_BATCH):
                self.errors = [ParserError("Network must have explicit batch dimension")]
            else:
                self.errors = [ParserError(e) for e in dev.parse_errors]
            if self.errors:
                return False
            self.network.inputs = [Tensor(dev.input_name, dev.input_shape)]
            kinds = [LayerType.REDUCE]
            if b"QuantizeLinear" in model:
                kinds = [LayerType.QUANTIZE, LayerType.DEQUANTIZE, *kinds]
            self.network.layers = [Layer(k) for k in kinds]
            return True

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> ParserError:
            return self.errors[i]

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = bytes(data)

        def serialize(self) -> HostMemory:
            rec("timing_cache.serialize")
            return HostMemory(self.data)

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

        def set_shape(self, name: str, min: tuple[int, ...], opt: tuple[int, ...], max: tuple[int, ...]) -> None:
            rec("profile.set_shape", name, tuple(min), tuple(opt), tuple(max))
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class Config:
        def __init__(self) -> None:
            self.flags: set[str] = {"TF32"}  # TF32 is on by default in TensorRT
            self.profiles: list[Profile] = []
            self.cache: TimingCache | None = None
            self.progress_monitor: Any = None

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            rec("set_memory_pool_limit", pool, size)

        def set_flag(self, flag: str) -> None:
            rec("set_flag", flag)
            self.flags.add(flag)

        def clear_flag(self, flag: str) -> None:
            rec("clear_flag", flag)
            self.flags.discard(flag)

        def add_optimization_profile(self, profile: Profile) -> int:
            rec("add_optimization_profile", profile.shapes)
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, data: bytes) -> TimingCache:
            rec("create_timing_cache", bytes(data))
            return TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            rec("set_timing_cache", cache.data, ignore_mismatch=ignore_mismatch)
            # A cache made on another device or TensorRT is refused unless mismatches are ignored.
            if cache.data and not cache.data.startswith(CACHE_MAGIC + dev.cache_tag) and not ignore_mismatch:
                return False
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            rec("get_timing_cache")
            return self.cache

    class Builder:
        def __init__(self, logger: Logger) -> None:
            rec("Builder")

        def create_network(self, flags: int = 0) -> Network:
            rec("create_network", flags)
            return Network(flags)

        def create_builder_config(self) -> Config:
            rec("create_builder_config")
            return Config()

        def create_optimization_profile(self) -> Profile:
            rec("create_optimization_profile")
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> HostMemory | None:
            rec("build_serialized_network", sorted(config.flags))
            quantized = any(layer.type == LayerType.QUANTIZE for layer in network.layers)
            if dev.build_returns_none:
                return None
            if dev.corrupt_plan:
                return HostMemory(b"garbage")
            if network.strongly_typed and config.flags & {BuilderFlag.FP16, BuilderFlag.INT8}:
                return None  # "precision flags are not allowed in a strongly typed network"
            if quantized and not network.strongly_typed and BuilderFlag.INT8 not in config.flags:
                return None  # a Q/DQ network needs the INT8 flag when weakly typed
            if -1 in dev.input_shape and not config.profiles:
                return None  # dynamic input without an optimisation profile
            monitor = config.progress_monitor
            for phase in dev.phases if monitor is not None else ():
                monitor.phase_start(phase, None, 2)
                monitor.phase_start(phase + " / tactics", phase, 5)
                assert monitor.step_complete(phase, 0) is True
                monitor.phase_finish(phase)
            if config.cache is not None:
                config.cache.data = (config.cache.data or CACHE_MAGIC + dev.cache_tag) + b"|timings"
            if config.profiles:
                _, _, biggest = config.profiles[0].shapes[dev.input_name]
                batch = [s[0] for s in config.profiles[0].shapes[dev.input_name]]
            else:
                biggest, batch = dev.input_shape, [dev.input_shape[0]] * 3
            plan = {
                "offset": dev.engine_offset, "size": biggest[-1], "profile": batch,
                "input": dev.input_name, "output": dev.output_name, "static": -1 not in dev.input_shape,
            }
            return HostMemory(PLAN_MAGIC + json.dumps(plan).encode())

    if modern:
        class IProgressMonitor:
            def __init__(self) -> None:
                rec("IProgressMonitor.__init__")

        trt.IProgressMonitor = IProgressMonitor  # type: ignore[attr-defined]

    for obj in (Logger, NetworkDefinitionCreationFlag, BuilderFlag, MemoryPoolType, LayerType, TensorIOMode,
                OnnxParser, Builder):
        setattr(trt, obj.__name__, obj)
    _add_runtime(trt, dev, rec)
    return trt


def _add_runtime(trt: types.ModuleType, dev: FakeDevice, rec: Recorder) -> None:
    """Runtime, engine and execution context, for TensorRTRunner (10.x named tensors or 8.6 bindings)."""
    modern = dev.api == "10"

    class Engine:
        def __init__(self, plan: dict[str, Any]) -> None:
            self.plan = plan
            batch = -1 if not plan["static"] else plan["profile"][0]
            image = (3, plan["size"], plan["size"])
            self.names: list[str] = [plan["input"], plan["output"]]
            self.shapes = {plan["input"]: (batch, *image), plan["output"]: (batch, 1)}
            self.profile: list[tuple[int, ...]] = [(int(b), *image) for b in plan["profile"]]

        def create_execution_context(self) -> Context:
            return Context(self)

        # TensorRT 10.x
        @property
        def num_io_tensors(self) -> int:
            if not modern:
                raise AttributeError("num_io_tensors")
            return 2

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name: str) -> str:
            mode: str = trt.TensorIOMode.INPUT if name == self.names[0] else trt.TensorIOMode.OUTPUT
            return mode

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.shapes[name]

        def get_tensor_dtype(self, name: str) -> str:
            return "float"

        def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
            return self.profile

        # TensorRT 8.6
        num_bindings = 2

        def get_binding_name(self, i: int) -> str:
            return self.names[i]

        def binding_is_input(self, i: int) -> bool:
            return i == 0

        def get_binding_shape(self, i: int) -> tuple[int, ...]:
            return self.shapes[self.names[i]]

        def get_binding_dtype(self, i: int) -> str:
            return "float"

        def get_profile_shape(self, index: int, binding: int) -> list[tuple[int, ...]]:
            return self.profile

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine
            self.shape: tuple[int, ...] = ()
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            self.shape = tuple(shape)
            return True

        def set_tensor_address(self, name: str, ptr: int) -> None:
            self.addresses[name] = ptr

        def execute_async_v3(self, stream: int) -> bool:
            rec("execute_async_v3")
            names = self.engine.names
            _compute(self.shape, self.addresses[names[0]], self.addresses[names[1]], self.engine.plan["offset"])
            return True

        def set_binding_shape(self, index: int, shape: tuple[int, ...]) -> bool:
            self.shape = tuple(shape)
            return True

        def execute_async_v2(self, bindings: list[int], stream: int) -> bool:
            rec("execute_async_v2")
            _compute(self.shape, bindings[0], bindings[1], self.engine.plan["offset"])
            return True

    class Runtime:
        def __init__(self, logger: Any) -> None:
            rec("Runtime")

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            rec("deserialize_cuda_engine")
            if not bytes(data).startswith(PLAN_MAGIC):
                return None
            return Engine(json.loads(bytes(data)[len(PLAN_MAGIC):]))

    def nptype(dtype: str) -> type:
        assert dtype == "float"
        return np.float32

    trt.Runtime = Runtime  # type: ignore[attr-defined]
    trt.nptype = nptype  # type: ignore[attr-defined]


#: Fake device memory: pointer -> bytes, shared by the fake pycuda and the fake engine.
MEMORY: dict[int, bytearray] = {}
_POINTERS = itertools.count(0x1000, 0x1000)


def _compute(shape: tuple[int, ...], in_ptr: int, out_ptr: int, offset: float) -> None:
    n, count = shape[0], int(np.prod(shape))
    x = np.frombuffer(bytes(MEMORY[in_ptr][: count * 4]), np.float32).reshape(n, -1)
    y = (1.0 / (1.0 + np.exp(-(x.astype(np.float64).mean(axis=1) + offset)))).astype(np.float32)
    MEMORY[out_ptr][: y.nbytes] = y.tobytes()


def make_pycuda(dev: FakeDevice, rec: Recorder) -> types.ModuleType:
    """`pycuda.driver` with what probe_tensorrt and TensorRTRunner call."""
    driver = types.ModuleType("pycuda.driver")

    class Allocation:
        def __init__(self, nbytes: int) -> None:
            self.ptr = next(_POINTERS)
            MEMORY[self.ptr] = bytearray(nbytes)

        def __int__(self) -> int:
            return self.ptr

        def free(self) -> None:
            MEMORY.pop(self.ptr, None)

    class Context:
        def pop(self) -> None:
            pass

        def detach(self) -> None:
            pass

    class Device:
        def __init__(self, index: int) -> None:
            self.index = index

        def name(self) -> str:
            return dev.gpu_name

        def make_context(self) -> Context:
            return Context()

    class Stream:
        handle = 0xBEEF

        def synchronize(self) -> None:
            pass

    def pagelocked_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.empty(shape, dtype)

    def mem_alloc(nbytes: int) -> Allocation:
        return Allocation(nbytes)

    def memcpy_htod_async(dest: Allocation, src: np.ndarray, stream: Any) -> None:
        MEMORY[int(dest)][: src.nbytes] = src.tobytes()

    def memcpy_dtoh_async(dest: np.ndarray, src: Allocation, stream: Any) -> None:
        dest[...] = np.frombuffer(bytes(MEMORY[int(src)][: dest.nbytes]), dest.dtype).reshape(dest.shape)

    driver.init = lambda: rec("cuda.init")  # type: ignore[attr-defined]
    for obj in (Device, Stream, pagelocked_empty, mem_alloc, memcpy_htod_async, memcpy_dtoh_async):
        setattr(driver, obj.__name__, obj)
    return driver

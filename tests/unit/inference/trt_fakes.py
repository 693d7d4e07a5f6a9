"""Fake `tensorrt` and `pycuda.driver` modules that record every call and the thread that made it.

The fake GPU really computes: device allocations are byte buffers, the copies move bytes, and the
fake engine writes sigmoid(mean(image)) for each image, so the runner's outputs can be checked
against numpy. Two engine shapes: TensorRT 10.x (named I/O tensors) and 8.6 (binding indices).
"""

from __future__ import annotations

import itertools
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CORRUPT_ENGINE = b"not an engine"


@dataclass
class Call:
    name: str
    args: tuple[Any, ...]
    thread: int


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str, *args: Any) -> None:
        with self.lock:
            self.calls.append(Call(name, args, threading.get_ident()))

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [c.args for c in self.calls if c.name == name]

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def threads(self) -> set[int]:
        return {c.thread for c in self.calls}


class FakeGpu:
    """Device memory: pointer -> bytearray."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.memory: dict[int, bytearray] = {}
        self._next = itertools.count(0x1000, 0x1000)
        self.freed: list[int] = []


class DeviceAllocation:
    def __init__(self, gpu: FakeGpu, nbytes: int) -> None:
        self.gpu, self.ptr = gpu, next(gpu._next)
        gpu.memory[self.ptr] = bytearray(nbytes)

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        self.gpu.rec("free", self.ptr)
        self.gpu.freed.append(self.ptr)


def make_pycuda(rec: Recorder, gpu: FakeGpu, *, context_fails: bool = False) -> types.ModuleType:
    """A `pycuda.driver` module with the calls the runner makes."""
    driver = types.ModuleType("pycuda.driver")

    class Context:
        def pop(self) -> None:
            rec("ctx.pop")

        def detach(self) -> None:
            rec("ctx.detach")

    class Device:
        def __init__(self, index: int) -> None:
            rec("Device", index)

        def make_context(self) -> Context:
            rec("make_context")
            if context_fails:
                raise RuntimeError("cuCtxCreate failed: no CUDA-capable device is detected")
            return Context()

        def name(self) -> str:
            rec("Device.name")
            return "NVIDIA Jetson Orin Nano (8GB)"

    class Stream:
        handle = 0xBEEF

        def __init__(self) -> None:
            rec("Stream")

        def synchronize(self) -> None:
            rec("stream.synchronize")

    def pagelocked_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        rec("pagelocked_empty", tuple(shape), np.dtype(dtype))
        return np.empty(shape, dtype)

    def mem_alloc(nbytes: int) -> DeviceAllocation:
        rec("mem_alloc", nbytes)
        return DeviceAllocation(gpu, nbytes)

    def memcpy_htod_async(dest: DeviceAllocation, src: np.ndarray, stream: Any) -> None:
        rec("memcpy_htod_async", int(dest), src.shape, stream)
        gpu.memory[int(dest)][: src.nbytes] = src.tobytes()

    def memcpy_dtoh_async(dest: np.ndarray, src: DeviceAllocation, stream: Any) -> None:
        rec("memcpy_dtoh_async", dest.shape, int(src), stream)
        data = bytes(gpu.memory[int(src)][: dest.nbytes])
        dest[...] = np.frombuffer(data, dest.dtype).reshape(dest.shape)

    driver.init = lambda: rec("init")  # type: ignore[attr-defined]
    for obj in (Device, Stream, pagelocked_empty, mem_alloc, memcpy_htod_async, memcpy_dtoh_async):
        setattr(driver, obj.__name__, obj)
    return driver


@dataclass
class EngineSpec:
    """What the fake engine reports: names, shapes (-1 = dynamic) and its profile's max batch."""

    size: int = 8
    input_name: str = "image"
    output_name: str = "referable_probability"
    profile_max: int = 16
    static_batch: int = -1
    execute_ok: bool = True
    #: When set, execution waits for this event (a hung GPU, until the test releases it).
    hold: threading.Event | None = None

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            self.input_name: (self.static_batch, 3, self.size, self.size),
            self.output_name: (self.static_batch, 1),
        }


def _compute(gpu: FakeGpu, shape: tuple[int, ...], in_ptr: int, out_ptr: int) -> None:
    """The fake network: sigmoid of each image's mean, read from and written to device memory."""
    n = shape[0]
    count = int(np.prod(shape))
    x = np.frombuffer(bytes(gpu.memory[in_ptr][: count * 4]), np.float32).reshape(n, -1)
    y = (1.0 / (1.0 + np.exp(-x.astype(np.float64).mean(axis=1)))).astype(np.float32)
    gpu.memory[out_ptr][: y.nbytes] = y.tobytes()


def make_tensorrt(rec: Recorder, gpu: FakeGpu, spec: EngineSpec, *, api: str) -> types.ModuleType:
    """A `tensorrt` module whose engines speak the 10.x (`api="10"`) or 8.6 (`api="8.6"`) API."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0" if api == "10" else "8.6.2"  # type: ignore[attr-defined]
    names = [spec.input_name, spec.output_name]
    image = (3, spec.size, spec.size)
    profile: list[tuple[int, ...]] = [(1, *image), (4, *image), (spec.profile_max, *image)]

    class Logger:
        WARNING = "warning"

        def __init__(self, level: str) -> None:
            rec("Logger", level)

    class TensorIOMode:
        INPUT = "input"
        OUTPUT = "output"

    class Context10:
        def __init__(self) -> None:
            self.addresses: dict[str, int] = {}
            self.shape: tuple[int, ...] = ()

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            rec("set_input_shape", name, tuple(shape))
            self.shape = tuple(shape)
            return True

        def set_tensor_address(self, name: str, ptr: int) -> None:
            rec("set_tensor_address", name, ptr)
            self.addresses[name] = ptr

        def execute_async_v3(self, stream_handle: int) -> bool:
            rec("execute_async_v3", stream_handle)
            if spec.hold is not None:
                spec.hold.wait()
            if spec.execute_ok:
                _compute(gpu, self.shape, self.addresses[spec.input_name], self.addresses[spec.output_name])
            return spec.execute_ok

    class Context86:
        def __init__(self) -> None:
            self.shape: tuple[int, ...] = ()

        def set_binding_shape(self, index: int, shape: tuple[int, ...]) -> bool:
            rec("set_binding_shape", index, tuple(shape))
            self.shape = tuple(shape)
            return True

        def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool:
            rec("execute_async_v2", list(bindings), stream_handle)
            if spec.execute_ok:
                _compute(gpu, self.shape, bindings[0], bindings[1])
            return spec.execute_ok

    class Engine10:
        num_io_tensors = 2

        def get_tensor_name(self, i: int) -> str:
            return names[i]

        def get_tensor_mode(self, name: str) -> str:
            return TensorIOMode.INPUT if name == spec.input_name else TensorIOMode.OUTPUT

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return spec.shapes[name]

        def get_tensor_dtype(self, name: str) -> str:
            return "float"

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
            rec("get_tensor_profile_shape", name, profile_index)
            return profile

        def create_execution_context(self) -> Context10:
            rec("create_execution_context")
            return Context10()

    class Engine86:
        # No num_io_tensors: the runner must take the binding-index path.
        num_bindings = 2

        def get_binding_name(self, i: int) -> str:
            return names[i]

        def binding_is_input(self, i: int) -> bool:
            return i == 0

        def get_binding_shape(self, i: int) -> tuple[int, ...]:
            return spec.shapes[names[i]]

        def get_binding_dtype(self, i: int) -> str:
            return "float"

        def get_profile_shape(self, profile_index: int, binding: int) -> list[tuple[int, ...]]:
            rec("get_profile_shape", profile_index, binding)
            return profile

        def create_execution_context(self) -> Context86:
            rec("create_execution_context")
            return Context86()

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            rec("Runtime")

        def deserialize_cuda_engine(self, data: bytes) -> Engine10 | Engine86 | None:
            rec("deserialize_cuda_engine", bytes(data))
            if data == CORRUPT_ENGINE:
                return None
            return Engine10() if api == "10" else Engine86()

    def nptype(dtype: str) -> type:
        assert dtype == "float"
        return np.float32

    for obj in (Logger, TensorIOMode, Runtime, nptype):
        setattr(trt, obj.__name__, obj)
    return trt


@dataclass
class FakeGpuLibs:
    """The recorder and device memory behind the fake tensorrt and pycuda modules."""

    rec: Recorder
    gpu: FakeGpu
    trt: types.ModuleType
    cuda: types.ModuleType


InstallFakes = Callable[..., FakeGpuLibs]

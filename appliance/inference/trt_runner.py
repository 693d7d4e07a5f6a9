"""The TensorRT backend (Jetson): a prebuilt engine run through pycuda on one dedicated thread.

`tensorrt` and `pycuda` are imported inside activate_impl, so this module imports anywhere (CI, a
laptop) and only activation needs them. A pycuda context belongs to the thread that made it, so one
worker thread makes the context, deserializes the engine, owns every buffer and runs every batch;
infer() hands it batches through a queue. Both binding APIs are handled: TensorRT 10.x (named I/O
tensors, execute_async_v3) and 8.6 (binding indices, execute_async_v2).
"""

from __future__ import annotations

import abc
import logging
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.errors import ApplianceError, ModelError, RunnerUnavailableError
from appliance.inference.manifest import ModelManifest
from appliance.inference.runner import Batch, Runner

log = logging.getLogger(__name__)

#: How long activation waits for the worker to load the engine before giving up (seconds).
ACTIVATE_TIMEOUT_S = 300.0
#: How long one batch may take on the GPU before the runner reports it as failed (seconds).
INFER_TIMEOUT_S = 60.0
#: How long deactivation waits for the worker to finish its batch and free the GPU (seconds).
DEACTIVATE_TIMEOUT_S = 30.0

Outputs = npt.NDArray[np.float32]


class TensorRTRunner(Runner):
    """Runs a serialized TensorRT engine built from the manifest's model.

    Args:
        manifest: the model the engine was built from (its input size and I/O names).
        engine_path: the engine file (see registry.engine_path for how it is named).
        max_batch: largest batch sent to the GPU at once; capped by the engine's profile.
        device: CUDA device index.
    """

    name = "tensorrt"

    def __init__(
        self, manifest: ModelManifest, engine_path: Path, *, max_batch: int = 8, device: int = 0
    ) -> None:
        super().__init__(manifest)
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.engine_path = Path(engine_path)
        self.max_batch = max_batch
        self.device = device
        self._worker: _CudaWorker | None = None

    def activate_impl(self) -> None:
        try:
            import pycuda.driver as cuda
            import tensorrt as trt
        except ImportError as exc:
            raise RunnerUnavailableError(
                "TensorRT and pycuda are not installed on this box; use the onnxruntime runner.",
                detail=str(exc),
            ) from exc
        try:
            engine_bytes = self.engine_path.read_bytes()
        except OSError as exc:
            raise ModelError(
                f"TensorRT engine {self.engine_path} cannot be read ({exc.strerror}); rebuild the engine.",
                detail=str(exc),
            ) from exc
        worker = _CudaWorker(trt, cuda, engine_bytes, self)
        worker.start()
        try:
            worker.ready.result(timeout=ACTIVATE_TIMEOUT_S)
        except FutureTimeout as exc:
            worker.stop(DEACTIVATE_TIMEOUT_S)
            raise ModelError(
                f"TensorRT engine {self.engine_path} did not load within {ACTIVATE_TIMEOUT_S:.0f} s; "
                "restart the appliance.",
            ) from exc
        except BaseException:
            worker.stop(DEACTIVATE_TIMEOUT_S)
            raise
        self._worker = worker

    def infer_impl(self, batch: Batch) -> npt.NDArray[np.generic]:
        worker = self._worker  # one read: deactivate() may clear it from another thread
        if worker is None:
            raise RunnerUnavailableError(
                f"The {self.name} runner was asked to score images after the engine was unloaded."
            )
        future = worker.submit(batch)
        try:
            return future.result(timeout=INFER_TIMEOUT_S)
        except FutureTimeout as exc:
            future.cancel()  # still queued behind a hung batch: skip it when the thread gets there
            # A hung GPU must surface as an error the kiosk can show, never as a frozen screen.
            raise ModelError(
                f"The GPU did not answer within {INFER_TIMEOUT_S:.0f} s; restart the appliance.",
            ) from exc

    def deactivate_impl(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(DEACTIVATE_TIMEOUT_S)


class _CudaWorker(threading.Thread):
    """The one thread that touches CUDA: context, engine, buffers, copies and execution."""

    def __init__(self, trt: Any, cuda: Any, engine_bytes: bytes, runner: TensorRTRunner) -> None:
        super().__init__(name="tensorrt-inference", daemon=True)
        self._trt, self._cuda, self._engine_bytes, self._runner = trt, cuda, engine_bytes, runner
        self.ready: Future[None] = Future()
        self._jobs: queue.Queue[tuple[Batch, Future[Outputs]] | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, batch: Batch) -> Future[Outputs]:
        future: Future[Outputs] = Future()
        with self._lock:
            if self._closed:
                raise RunnerUnavailableError("The tensorrt runner was unloaded while images were waiting.")
            self._jobs.put((batch, future))
        return future

    def stop(self, timeout: float) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._jobs.put(None)
        self.join(timeout)
        if self.is_alive():
            log.warning("TensorRT inference thread did not stop within %.0f s", timeout)

    def run(self) -> None:
        cuda = self._cuda
        try:
            cuda.init()
            context = cuda.Device(self._runner.device).make_context()
        except Exception as exc:
            self.ready.set_exception(RunnerUnavailableError(
                f"No usable GPU for TensorRT (device {self._runner.device}); use the onnxruntime runner.",
                detail=str(exc),
            ))
            return
        try:
            self._serve()
        finally:
            context.pop()
            context.detach()

    def _serve(self) -> None:
        try:
            session = _EngineSession(self._trt, self._cuda, self._engine_bytes, self._runner)
        except ApplianceError as exc:
            self.ready.set_exception(exc)
            return
        except Exception as exc:
            self.ready.set_exception(ModelError(
                f"TensorRT engine {self._runner.engine_path} could not be loaded; rebuild the engine.",
                detail=repr(exc),
            ))
            return
        self._engine_bytes = b""  # the engine holds its own copy now
        self.ready.set_result(None)
        try:
            while (job := self._jobs.get()) is not None:
                batch, future = job
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(session.run(batch))
                    except Exception as exc:
                        future.set_exception(_as_model_error(exc, self._runner))
        finally:
            session.close()
            self._fail_pending()

    def _fail_pending(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None and job[1].set_running_or_notify_cancel():
                job[1].set_exception(RunnerUnavailableError("The tensorrt runner was unloaded."))


def _as_model_error(exc: Exception, runner: TensorRTRunner) -> ApplianceError:
    if isinstance(exc, ApplianceError):
        return exc
    return ModelError(
        f"The model {runner.manifest.name} failed on the GPU while scoring images; restart the appliance.",
        detail=repr(exc),
    )


class _EngineSession:
    """An engine, its execution context, pinned host and device buffers and a stream (worker thread only)."""

    def __init__(self, trt: Any, cuda: Any, engine_bytes: bytes, runner: TensorRTRunner) -> None:
        manifest = runner.manifest
        self._cuda = cuda
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if self._engine is None:
            raise ModelError(
                f"TensorRT engine {runner.engine_path} could not be deserialized (built for another "
                "TensorRT version or GPU, or corrupt); rebuild the engine.",
            )
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise ModelError(f"TensorRT engine {runner.engine_path} has no execution context; rebuild it.")
        self.io: _EngineIO = _bindings_for(trt, self._engine, self._context)
        size = manifest.input.size
        self._sample = (3, size, size)
        where = str(runner.engine_path)
        inp, out = self.io.check(manifest.input_name, manifest.output_name, self._sample, where)
        self.max_batch = min(runner.max_batch, inp.max_batch)
        self._host_in = cuda.pagelocked_empty((self.max_batch, *self._sample), trt.nptype(inp.dtype))
        self._host_out = cuda.pagelocked_empty((self.max_batch, 1), trt.nptype(out.dtype))
        self._dev_in = cuda.mem_alloc(self._host_in.nbytes)
        self._dev_out = cuda.mem_alloc(self._host_out.nbytes)
        self._stream = cuda.Stream()
        self.io.bind({inp.name: int(self._dev_in), out.name: int(self._dev_out)})
        self._input_name = inp.name

    def run(self, batch: Batch) -> Outputs:
        """Score `batch` in chunks of max_batch; returns float32 [N]."""
        cuda, stream = self._cuda, self._stream
        scores = []
        for start in range(0, batch.shape[0], self.max_batch):
            chunk = batch[start : start + self.max_batch]
            k = chunk.shape[0]
            self._host_in[:k] = chunk
            self.io.set_input_shape(self._input_name, (k, *self._sample))
            cuda.memcpy_htod_async(self._dev_in, self._host_in[:k], stream)
            if not self.io.execute(stream.handle):
                raise ModelError("TensorRT could not run the engine on the GPU; restart the appliance.")
            cuda.memcpy_dtoh_async(self._host_out[:k], self._dev_out, stream)
            stream.synchronize()
            # Copy out: the pinned buffer is overwritten by the next chunk.
            scores.append(self._host_out[:k, 0].astype(np.float32))
        return np.concatenate(scores)

    def close(self) -> None:
        """Free device memory and TensorRT objects while this thread's CUDA context is still current."""
        for alloc in (self._dev_in, self._dev_out):
            alloc.free()
        self._context = self._engine = self._runtime = None
        self.io.release()


@dataclass(frozen=True)
class _Tensor:
    """One engine input or output as the engine reports it (-1 marks a dynamic dimension)."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: Any
    #: For an input, the largest batch its optimisation profile accepts.
    max_batch: int = 0


class _EngineIO(abc.ABC):
    """The engine's I/O tensors behind one interface, whichever TensorRT binding API this is."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self._trt, self._engine, self._context = trt, engine, context

    @abc.abstractmethod
    def tensors(self) -> list[_Tensor]: ...

    @abc.abstractmethod
    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> None: ...

    @abc.abstractmethod
    def bind(self, addresses: dict[str, int]) -> None:
        """Tell the context where each tensor lives on the device (pointers as ints)."""

    @abc.abstractmethod
    def execute(self, stream_handle: int) -> bool:
        """Enqueue one inference on the stream; False when TensorRT refused."""

    def release(self) -> None:
        self._engine = self._context = None

    def check(
        self, input_name: str, output_name: str, sample: tuple[int, ...], where: str
    ) -> tuple[_Tensor, _Tensor]:
        """The manifest's input and output, checked against the engine: one image in, one score out.

        Raises:
            ModelError: other tensors, other names, or shapes that do not fit the manifest.
        """
        by_name = {t.name: t for t in self.tensors()}
        inp, out = by_name.get(input_name), by_name.get(output_name)
        if len(by_name) != 2 or inp is None or out is None or not inp.is_input or out.is_input:
            raise ModelError(
                f"TensorRT engine {where} does not have the input '{input_name}' and output '{output_name}' "
                "its model manifest names; rebuild the engine.",
                detail=f"engine tensors {sorted(by_name)}",
            )
        dims = inp.shape[1:]
        in_fits = len(dims) == len(sample) and all(d in (-1, w) for d, w in zip(dims, sample, strict=True))
        out_fits = len(out.shape) in (1, 2) and all(d == 1 for d in out.shape[1:])
        if not (in_fits and out_fits) or inp.max_batch < 1:
            raise ModelError(
                f"TensorRT engine {where} has input {list(inp.shape)} and output {list(out.shape)}, which do "
                f"not fit [N, {', '.join(map(str, sample))}] -> [N, 1]; rebuild the engine.",
            )
        return inp, out


class _EngineIO10(_EngineIO):
    """TensorRT 10.x: named I/O tensors, set_input_shape / set_tensor_address / execute_async_v3."""

    def tensors(self) -> list[_Tensor]:
        engine, found = self._engine, []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == self._trt.TensorIOMode.INPUT
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            max_batch = 0
            if is_input:
                max_batch = shape[0] if shape[0] > 0 else int(engine.get_tensor_profile_shape(name, 0)[2][0])
            found.append(_Tensor(name, is_input, shape, engine.get_tensor_dtype(name), max_batch))
        return found

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if self._context.set_input_shape(name, shape) is False:
            raise ModelError(f"TensorRT refused the input shape {list(shape)}; rebuild the engine.")

    def bind(self, addresses: dict[str, int]) -> None:
        for name, address in addresses.items():
            self._context.set_tensor_address(name, address)

    def execute(self, stream_handle: int) -> bool:
        return bool(self._context.execute_async_v3(stream_handle))


class _EngineIO86(_EngineIO):
    """TensorRT 8.x binding API (deprecated in 8.5, removed in 10).

    Binding indices, set_binding_shape, a list of device pointers and execute_async_v2.
    """

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        super().__init__(trt, engine, context)
        self._index = {engine.get_binding_name(i): i for i in range(engine.num_bindings)}
        self._bindings = [0] * engine.num_bindings

    def tensors(self) -> list[_Tensor]:
        engine, found = self._engine, []
        for name, i in self._index.items():
            is_input = bool(engine.binding_is_input(i))
            shape = tuple(int(d) for d in engine.get_binding_shape(i))
            max_batch = 0
            if is_input:
                max_batch = shape[0] if shape[0] > 0 else int(engine.get_profile_shape(0, i)[2][0])
            found.append(_Tensor(name, is_input, shape, engine.get_binding_dtype(i), max_batch))
        return found

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if self._context.set_binding_shape(self._index[name], shape) is False:
            raise ModelError(f"TensorRT refused the input shape {list(shape)}; rebuild the engine.")

    def bind(self, addresses: dict[str, int]) -> None:
        for name, address in addresses.items():
            self._bindings[self._index[name]] = address

    def execute(self, stream_handle: int) -> bool:
        return bool(self._context.execute_async_v2(self._bindings, stream_handle))


def _bindings_for(trt: Any, engine: Any, context: Any) -> _EngineIO:
    # TensorRT 10 removed the binding-index API. The named-tensor API exists from 8.5 on, so an 8.6
    # engine that offers it takes that path too; the binding path serves builds that lack it.
    if hasattr(engine, "num_io_tensors"):
        return _EngineIO10(trt, engine, context)
    return _EngineIO86(trt, engine, context)

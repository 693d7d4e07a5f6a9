"""The onnxruntime backend: the default everywhere, CUDA when onnxruntime offers it, else the CPU."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from appliance.errors import ModelError, RunnerUnavailableError
from appliance.inference.manifest import ModelManifest, check_integrity
from appliance.inference.runner import Batch, Runner

log = logging.getLogger(__name__)

#: Photos per run on the CPU. onnxruntime's CPU arena keeps the buffers of the largest batch it ever ran
#: for the life of the session: one photo per run holds ~45 MB for this model, a batch of four ~170 MB, at
#: much the same speed on a CPU. On CUDA a batch is sent whole.
CPU_RUN_BATCH = 1


def choose_providers() -> list[str]:
    """onnxruntime execution providers to try, best first: CUDA when this build has it, then CPU."""
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRunner(Runner):
    """Runs the manifest's ONNX model with onnxruntime.

    The model file is read once, hashed, checked against the manifest, and the session is built
    from those same bytes, so a file swapped after the check can never be the one that runs.

    Args:
        manifest: the model to serve (format "onnx").
        intra_op_threads: CPU threads one inference may use (the box shares its cores with the UI).
    """

    name = "onnxruntime"

    def __init__(self, manifest: ModelManifest, *, intra_op_threads: int = 2) -> None:
        super().__init__(manifest)
        if intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be >= 1, got {intra_op_threads}")
        self.intra_op_threads = intra_op_threads
        self._session: ort.InferenceSession | None = None
        self.providers: list[str] = []

    def activate_impl(self) -> None:
        path = self.manifest.model_path
        try:
            model_bytes = path.read_bytes()
        except OSError as exc:
            raise ModelError(
                f"Model file {path} cannot be read ({exc.strerror}); reinstall the model.", detail=str(exc)
            ) from exc
        check_integrity(self.manifest, hashlib.sha256(model_bytes).hexdigest())

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: warnings about providers are expected here
        providers = choose_providers()
        try:
            session = ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelError(
                f"Model file {path} could not be loaded by onnxruntime; reinstall the model.",
                detail=str(exc),
            ) from exc
        self._check_io(session)
        self._session = session
        self.providers = list(session.get_providers())
        log.info("onnxruntime session for %s uses %s", self.manifest.name, self.providers)

    def _check_io(self, session: ort.InferenceSession) -> None:
        """The model's input and output must be the ones the manifest names, of the manifest's size."""
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        wanted = self.manifest.input_name
        if wanted not in inputs or self.manifest.output_name not in outputs:
            raise ModelError(
                f"Model file {self.manifest.model_path} does not have the input '{wanted}' and output "
                f"'{self.manifest.output_name}' its manifest names; reinstall the model.",
                detail=f"inputs {sorted(inputs)}, outputs {sorted(outputs)}",
            )
        size = self.manifest.input.size
        dims = list(inputs[wanted].shape)
        # Symbolic dimensions (the batch, usually) are strings or None; only fixed ones can disagree.
        if len(dims) != 4 or any(
            isinstance(got, int) and got != want for got, want in zip(dims[1:], (3, size, size), strict=True)
        ):
            raise ModelError(
                f"Model file {self.manifest.model_path} expects input shape {dims}, but its manifest "
                f"says [N, 3, {size}, {size}]; reinstall the model.",
            )

    def infer_impl(self, batch: Batch) -> npt.NDArray[np.generic]:
        session = self._session  # one read: deactivate() may clear it from another thread
        if session is None:
            raise RunnerUnavailableError(
                f"The {self.name} runner was asked to score images after the model was unloaded."
            )
        step = len(batch) if "CUDAExecutionProvider" in self.providers else CPU_RUN_BATCH
        try:
            outputs = [session.run([self.manifest.output_name], {self.manifest.input_name: batch[i:i + step]})[0]
                       for i in range(0, len(batch), max(1, step))]
        except Exception as exc:
            raise ModelError(
                f"The model {self.manifest.name} failed while scoring images; restart the appliance.",
                detail=str(exc),
            ) from exc
        return np.concatenate([np.asarray(o) for o in outputs]) if outputs else np.empty((0,), np.float32)

    def deactivate_impl(self) -> None:
        self._session = None

"""The Runner interface every inference backend implements (after Polygraphy's runners).

Public `activate() / infer() / deactivate()` check state and inputs, then call the backend's
`activate_impl / infer_impl / deactivate_impl`. A runner is a context manager:

    with OnnxRunner(manifest) as runner:
        probabilities = runner.infer(batch)   # float32 [N] in [0, 1]
"""

from __future__ import annotations

import abc
import logging
import threading
from types import TracebackType
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from appliance.errors import ModelError, RunnerUnavailableError
from appliance.inference.manifest import ModelManifest

log = logging.getLogger(__name__)

Batch = npt.NDArray[np.float32]
Probabilities = npt.NDArray[np.float32]
R = TypeVar("R", bound="Runner")

#: How far outside [0, 1] an output may stray from float rounding before it counts as wrong.
_PROBABILITY_SLACK = 1e-5


class Runner(abc.ABC):
    """Runs one model on batches of preprocessed images.

    Args:
        manifest: the locked model (file, hash, input spec) this runner serves.
    """

    #: Backend name recorded in every result's ModelInfo ("onnxruntime", "tensorrt").
    name: str = "runner"

    def __init__(self, manifest: ModelManifest) -> None:
        self.manifest = manifest
        self._active = False
        # activate/deactivate may race (server start-up vs shutdown); infer itself is not locked.
        self._state_lock = threading.Lock()

    @property
    def is_active(self) -> bool:
        return self._active

    def activate(self) -> None:
        """Load the model so that infer() can run; a no-op when already active.

        Raises:
            ModelError (or a subclass): the model cannot be loaded or the backend cannot run here.
        """
        with self._state_lock:
            if self._active:
                return
            self.activate_impl()
            self._active = True
            log.info("Runner %s activated for %s %s", self.name, self.manifest.name, self.manifest.version)

    def deactivate(self) -> None:
        """Release the model and any device resources; a no-op when not active."""
        with self._state_lock:
            if not self._active:
                return
            self._active = False
            self.deactivate_impl()
            log.info("Runner %s deactivated", self.name)

    def infer(self, batch: Batch) -> Probabilities:
        """Score a batch of preprocessed images.

        Args:
            batch: float32 [N, 3, S, S] with N >= 1 and S the manifest's input size.

        Returns:
            float32 [N]: each image's probability of referable DR, in [0, 1].

        Raises:
            RunnerUnavailableError: the runner is not active.
            ValueError: the batch has the wrong dtype or shape (a programming error upstream).
            ModelError: the backend failed, or returned something that is not N probabilities.
        """
        if not self._active:
            raise RunnerUnavailableError(
                f"The {self.name} runner was asked to score images before the model was loaded.",
                detail="infer() called before activate()",
            )
        self._check_batch(batch)
        raw = np.asarray(self.infer_impl(batch))
        return self._check_output(raw, batch.shape[0])

    def _check_batch(self, batch: Batch) -> None:
        size = self.manifest.input.size
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
            kind = batch.dtype if isinstance(batch, np.ndarray) else type(batch).__name__
            raise ValueError(f"{self.name}: the batch must be a float32 numpy array, got {kind}")
        if batch.ndim != 4 or batch.shape[0] < 1 or batch.shape[1:] != (3, size, size):
            raise ValueError(
                f"{self.name}: the batch must have shape [N, 3, {size}, {size}] with N >= 1, "
                f"got {list(batch.shape)}"
            )

    def _check_output(self, raw: npt.NDArray[np.generic], n: int) -> Probabilities:
        if raw.shape not in ((n,), (n, 1)):
            raise ModelError(
                f"The model {self.manifest.name} returned an output of the wrong shape; reinstall the model.",
                detail=f"{self.name}: expected [{n}] or [{n}, 1], got {list(raw.shape)}",
            )
        out = raw.reshape(n).astype(np.float32)
        # A NaN or a logit would otherwise become a silent wrong outcome.
        low, high = -_PROBABILITY_SLACK, 1 + _PROBABILITY_SLACK
        if not np.all(np.isfinite(out)) or out.min() < low or out.max() > high:
            raise ModelError(
                f"The model {self.manifest.name} returned values that are not probabilities; "
                "the result cannot be trusted. Reinstall the model.",
                detail=f"{self.name}: outputs {out.tolist()[:8]}",
            )
        return np.clip(out, 0.0, 1.0)

    def __enter__(self: R) -> R:
        self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deactivate()

    @abc.abstractmethod
    def activate_impl(self) -> None:
        """Load the model; raise a ModelError subclass on failure."""

    @abc.abstractmethod
    def infer_impl(self, batch: Batch) -> npt.NDArray[np.generic]:
        """Return the model's raw output for a checked batch: shape [N] or [N, 1]."""

    @abc.abstractmethod
    def deactivate_impl(self) -> None:
        """Release everything activate_impl acquired."""

"""Where the model looked: the class-activation heatmap of one photo, drawn over the model's view of it.

The heatmap model (a manifest's optional [heatmap] file) is the scoring network without its final
averaging: it outputs the referable-DR logit per region, [N, 1, h, w], whose spatial mean is the
scoring model's logit. It runs on onnxruntime (CPU) on request only, never in the screening path,
so an explanation can neither slow nor change a result. It is a review aid; it is not validated.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from appliance.checksum import sha256_file
from appliance.errors import ModelError, ModelIntegrityError
from appliance.inference.manifest import HeatmapFile, ModelManifest
from appliance.inference.preprocess import (
    FOV_LEVEL,
    Circle,
    aperture_circle,
    fundus_square,
    natural_square,
    to_tensor,
)

UInt8Image = npt.NDArray[np.uint8]
#: Share of the overlay taken by the heatmap colour where the map is strongest.
ALPHA = 0.45


class HeatmapUnavailableError(ModelError):
    """The installed model ships no heatmap model."""

    reason_code = "heatmap_unavailable"
    http_status = 404


class HeatmapModel:
    """Lazily loaded, hash-checked onnxruntime session of a manifest's heatmap model (thread-safe)."""

    def __init__(self, manifest: ModelManifest, threads: int = 1) -> None:
        if manifest.heatmap is None:
            raise HeatmapUnavailableError(
                f"Model {manifest.name} {manifest.version} has no heatmap model; nothing to show.")
        self.manifest = manifest
        self.file: HeatmapFile = manifest.heatmap
        self._threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort  # the screening runner may be TensorRT; load only when asked

                try:
                    actual = sha256_file(self.file.path)
                except OSError as exc:
                    raise ModelError(f"Heatmap model {self.file.path} cannot be read: {exc.strerror}; "
                                     "reinstall the model.") from exc
                if actual != self.file.sha256:
                    raise ModelIntegrityError(
                        f"Heatmap model {self.file.path.name} does not match its manifest (sha256); "
                        "it was not loaded. Reinstall the model.", detail=f"expected {self.file.sha256}, got {actual}")
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.log_severity_level = 3
                try:
                    self._session = ort.InferenceSession(str(self.file.path), sess_options=options,
                                                         providers=["CPUExecutionProvider"])
                except Exception as exc:  # onnxruntime raises its own types for a broken file
                    raise ModelError(f"Heatmap model {self.file.path.name} cannot be loaded; reinstall the model.",
                                     detail=repr(exc)) from exc
            return self._session

    def activation_map(self, image: UInt8Image, circle: Circle | None = None) -> npt.NDArray[np.float32]:
        """The logit per region [h, w] of one decoded RGB photo (the model's own preprocessing; `circle`:
        the aperture as fitted, see appliance.inference.preprocess)."""
        session = self._load()
        x = to_tensor(fundus_square(image, self.manifest.input, circle), self.manifest.input)[None]
        (out,) = session.run([self.file.output_name], {self.manifest.input_name: x})
        cam = np.asarray(out, np.float32)
        if cam.ndim != 4 or cam.shape[:2] != (1, 1):
            raise ModelError(f"Heatmap model gave shape {cam.shape}, expected [1, 1, h, w]; reinstall the model.")
        result: npt.NDArray[np.float32] = cam[0, 0]
        return result

    def overlay_png(self, image: UInt8Image) -> bytes:
        """PNG of the model's view of `image` (field of view squared, natural colour) with the heatmap."""
        spec = self.manifest.input
        circle = aperture_circle(image) if spec.camera_normalise else None  # one fit for the view and the map
        view = natural_square(image, spec, circle)
        ok, png = cv2.imencode(".png", cv2.cvtColor(overlay(view, self.activation_map(image, circle)),
                                                    cv2.COLOR_RGB2BGR))
        if not ok:
            raise ModelError("The heatmap image could not be encoded.")
        return bytes(png.tobytes())


def overlay(view: UInt8Image, cam: npt.NDArray[np.float32]) -> UInt8Image:
    """Blend `cam` (any size; higher = more referable evidence) over the RGB square `view`.

    The map is scaled to 0..1 over its own range (relative, per photo), resized smoothly to the view,
    coloured with the JET map (blue low, red high) and blended in proportion to its value, inside the
    field of view only.
    """
    side = view.shape[0]
    span = float(cam.max() - cam.min())
    rel = (cam - cam.min()) / span if span > 1e-12 else np.zeros_like(cam)
    rel = np.clip(cv2.resize(rel.astype(np.float32), (view.shape[1], side), interpolation=cv2.INTER_CUBIC), 0, 1)
    colour = cv2.cvtColor(cv2.applyColorMap((rel * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    weight = (ALPHA * rel)[..., None] * (view.max(axis=2, keepdims=True) > FOV_LEVEL)
    return np.asarray(np.clip(view * (1 - weight) + colour * weight, 0, 255), np.uint8)

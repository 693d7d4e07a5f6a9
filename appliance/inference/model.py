"""The model the rest of the box opens: a locked manifest, the runner that scores with it and its
heatmap, behind four calls (`info`, `threshold`, `score`, `explain`). Nothing outside
`appliance.inference` needs to know about preprocessing, runners or onnxruntime sessions.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from appliance.domain import ModelInfo
from appliance.inference.heatmap import HeatmapModel, HeatmapUnavailableError
from appliance.inference.manifest import ModelManifest
from appliance.inference.preprocess import Circle, preprocess
from appliance.inference.runner import Runner

UInt8Image = npt.NDArray[np.uint8]


@dataclass
class Model:
    """A loaded, hash-checked model with an active runner (thread-safe: one inference at a time)."""

    manifest: ModelManifest
    runner: Runner
    heatmap: HeatmapModel | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def info(self) -> ModelInfo:
        """Name, version, sha256 and runner: recorded on every result."""
        return self.manifest.info(self.runner.name)

    @property
    def threshold(self) -> float:
        """The model's locked referable-DR threshold (a site's adopted one is decided elsewhere)."""
        return self.manifest.threshold

    @property
    def is_ready(self) -> bool:
        return self.runner.is_active

    def score(self, images: Sequence[UInt8Image], circles: Sequence[Circle | None] | None = None) -> list[float]:
        """The probability of referable DR (ICDR grade >= 2) of each decoded RGB photo, in [0, 1].

        `circles`: each photo's aperture as the quality gate fitted it, in that photo's pixels
        (appliance.quality.field_of_view.circle_from_metrics); None, or a None in it, fits it here.

        Raises:
            ModelError: the runner failed.
        """
        if not images:
            return []
        fits = circles if circles is not None else [None] * len(images)
        batch = np.stack([preprocess(image, self.manifest.input, circle)
                          for image, circle in zip(images, fits, strict=True)])
        with self._lock:
            probabilities = self.runner.infer(batch)
        return [float(p) for p in probabilities]

    def explain(self, image: UInt8Image) -> bytes:
        """PNG: the model's view of the photo with its class-activation heatmap (a review aid, not validated).

        Raises:
            HeatmapUnavailableError: the model ships no heatmap model.
        """
        if self.heatmap is None:
            raise HeatmapUnavailableError(
                f"Model {self.manifest.name} {self.manifest.version} has no heatmap model; nothing to show.")
        return self.heatmap.overlay_png(image)

    def close(self) -> None:
        self.runner.deactivate()

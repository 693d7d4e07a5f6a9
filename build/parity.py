"""Does the engine score like the model? TensorRT vs onnxruntime on the same preprocessed photos.

The images are real fundus photos (the calibration set, or the shipped samples), decoded and
preprocessed exactly as the appliance does, so the check covers the inputs the engine will see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.config import LimitsConfig
from appliance.errors import ImageError, ModelError
from appliance.imaging import decode_image
from appliance.inference.manifest import ModelManifest
from appliance.inference.onnx_runner import OnnxRunner
from appliance.inference.preprocess import preprocess
from appliance.inference.runner import Batch, Probabilities, Runner
from appliance.inference.trt_runner import TensorRTRunner
from build.errors import EngineBuildError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
#: Makes the runner that scores with the staged engine: (manifest, engine file, max batch) -> Runner.
EngineRunnerFactory = Callable[[ModelManifest, Path, int], Runner]
ReferenceRunnerFactory = Callable[[ModelManifest], Runner]


@dataclass(frozen=True)
class ParityReport:
    """How far the engine's probabilities are from onnxruntime's on `images` photos."""

    images: int
    max_abs_diff: float
    mean_abs_diff: float
    #: Images whose refer decision (score >= threshold) differs between the two.
    disagreements: int
    threshold: float
    tolerance: float
    max_disagreement: float

    @property
    def disagreement_rate(self) -> float:
        return self.disagreements / self.images

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.disagreement_rate <= self.max_disagreement

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "disagreement_rate": self.disagreement_rate, "passed": self.passed}


def compare_scores(
    reference: Probabilities, candidate: Probabilities, *, threshold: float, tolerance: float,
    max_disagreement: float,
) -> ParityReport:
    """Compare two score vectors of the same images (pure).

    Raises:
        ValueError: the vectors are empty or of different lengths.
    """
    if reference.shape != candidate.shape or reference.size == 0:
        raise ValueError(f"need two equal, non-empty score vectors, got {reference.shape} and {candidate.shape}")
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    flips = int(np.count_nonzero((reference >= threshold) != (candidate >= threshold)))
    return ParityReport(
        images=int(reference.size), max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
        disagreements=flips, threshold=threshold, tolerance=tolerance, max_disagreement=max_disagreement,
    )


def image_files(source: Path, limit: int, root: Path | None = None) -> list[Path]:
    """Up to `limit` photos from a folder (its image files, by name) or a text file listing one path a line.

    A list's relative paths are taken from `root`, or from the list's folder when `root` is None
    (the calibration list names files relative to the dev set); blank lines and `#` comments are
    skipped. When there are more than `limit`, evenly spaced ones are taken, so a folder sorted by
    source or grade is still sampled across.

    Raises:
        EngineBuildError: the source is missing, unreadable or holds no image.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    try:
        if source.is_dir():
            files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            lines = source.read_text(encoding="utf-8").splitlines()
            entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
            base = source.parent if root is None else root
            files = [p if p.is_absolute() else base / p for p in map(Path, entries)]
    except OSError as exc:
        raise EngineBuildError(
            f"The parity images {source} cannot be read ({exc.strerror}); give a folder of photos or a list file.",
        ) from exc
    if not files:
        raise EngineBuildError(f"No photos found in {source} to compare the engine with onnxruntime on.")
    if len(files) > limit:
        picks = np.linspace(0, len(files) - 1, limit).round().astype(int)
        files = [files[i] for i in sorted(set(picks.tolist()))]
    return files


def load_batch(files: list[Path], manifest: ModelManifest, limits: LimitsConfig | None = None) -> Batch:
    """Decode and preprocess the photos as the appliance does -> float32 [N, 3, S, S].

    Unreadable or rejected photos are skipped with a warning.

    Raises:
        EngineBuildError: none of the photos could be used.
    """
    limits = limits or LimitsConfig()
    tensors = []
    for path in files:
        try:
            tensors.append(preprocess(decode_image(path.read_bytes(), limits, reduced=True), manifest.input))
        except (OSError, ImageError) as exc:
            log.warning("Parity image %s skipped: %s", path, getattr(exc, "message", exc))
    if not tensors:
        raise EngineBuildError(f"None of the {len(files)} parity photos could be read; give other photos.")
    return np.stack(tensors).astype(np.float32)


def _onnx_runner(manifest: ModelManifest) -> Runner:
    return OnnxRunner(manifest)


def _trt_runner(manifest: ModelManifest, engine: Path, max_batch: int) -> Runner:
    return TensorRTRunner(manifest, engine, max_batch=max_batch)


def score_both(
    manifest: ModelManifest,
    engine: Path,
    batch: Batch,
    *,
    max_batch: int,
    engine_runner: EngineRunnerFactory = _trt_runner,
    reference_runner: ReferenceRunnerFactory = _onnx_runner,
) -> tuple[Probabilities, Probabilities]:
    """(onnxruntime scores, engine scores) of `batch`, each runner loaded only for this.

    Raises:
        ModelError: onnxruntime cannot load or run the model.
        EngineBuildError: the new engine cannot be loaded or run.
    """
    with reference_runner(manifest) as reference:
        expected = reference.infer(batch)
    try:
        with engine_runner(manifest, engine, max_batch) as candidate:
            got = candidate.infer(batch)
    except ModelError as exc:
        raise EngineBuildError(
            f"The engine TensorRT just built cannot be run ({exc.message}); it was deleted.",
            detail=exc.detail,
        ) from exc
    return expected, got

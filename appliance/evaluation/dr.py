"""Run the whole appliance path on a labelled folder: read, decode, quality gate, preprocess, model.

The order of the steps is the screening pipeline's (appliance/pipeline.py), with two differences
that evaluation needs: every decoded photo is scored, whatever the gate says (so the model can be
judged with and without the gate), and a photo that cannot be read or decoded is recorded with its
reason code instead of stopping the run (a folder from another site may hold anything).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from appliance.config import LimitsConfig, QualityConfig
from appliance.domain import QualityReport
from appliance.errors import ImageError
from appliance.evaluation.dataset import LabelledImage
from appliance.imaging import decode_image, read_header, reduction
from appliance.inference.manifest import ModelManifest
from appliance.inference.preprocess import preprocess
from appliance.inference.runner import Runner
from appliance.quality import assess, circle_from_metrics

#: Photos scored per runner.infer call.
DEFAULT_BATCH_SIZE = 16

#: Reason codes of failures that happen before the decoder (the decoder has its own, e.g. image_corrupt).
FILE_MISSING = "image_file_missing"
FILE_UNREADABLE = "image_file_unreadable"
#: The gate or preprocessing refused a decoded photo: a bug or a photo of a kind never seen, reported not hidden.
GATE_FAILED = "quality_gate_error"
PREPROCESS_FAILED = "preprocess_error"


@dataclass(frozen=True)
class ImageResult:
    """What the appliance path made of one labelled photo.

    `score` is the model's referable-DR probability (0..1) for every photo that went through
    preprocessing, None otherwise; `gate_passed` is the quality gate's verdict (None when the photo
    never reached the gate); `reason_codes` are the gate's reasons for failing it. `failure` is the
    reason code of a photo that could not be read, decoded or preprocessed, with its operator
    sentence in `failure_message`.
    """

    item: LabelledImage
    score: float | None
    gate_passed: bool | None
    reason_codes: tuple[str, ...] = ()
    failure: str | None = None
    failure_message: str = ""


@dataclass(frozen=True)
class EvaluationRun:
    """Every photo's result, in input order, and the wall-clock seconds the whole path took."""

    results: list[ImageResult]
    seconds: float
    runner: str

    @property
    def images_per_second(self) -> float:
        return len(self.results) / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True)
class PreparedImage:
    """A photo ready for the model: the gate's verdict and the float32 [3, S, S] input tensor."""

    report: QualityReport
    tensor: npt.NDArray[np.float32]


def prepare(item: LabelledImage, limits: LimitsConfig, quality: QualityConfig,
            manifest: ModelManifest) -> PreparedImage | ImageResult:
    """Read, decode, gate and preprocess one photo; an ImageResult (score None) where that fails."""
    try:
        data = item.path.read_bytes()
    except FileNotFoundError:
        return ImageResult(item, None, None, failure=FILE_MISSING,
                           failure_message=f"The file {item.file} named in labels.csv does not exist.")
    except OSError as exc:
        return ImageResult(item, None, None, failure=FILE_UNREADABLE,
                           failure_message=f"The file {item.file} cannot be read: {exc.strerror or exc}.")
    try:
        image = decode_image(data, limits)
    except ImageError as exc:
        return ImageResult(item, None, None, failure=exc.reason_code, failure_message=exc.message)
    try:
        report = assess(image, quality)
    except ValueError as exc:
        return ImageResult(item, None, None, failure=GATE_FAILED, failure_message=str(exc))
    try:
        # The model sees the photo as the appliance decodes it for the model (reduced for a camera's
        # full-size photo; the gate above judged every pixel).
        if reduction(read_header(data)) > 1:
            image = decode_image(data, limits, reduced=True)
        tensor = preprocess(image, manifest.input, circle_from_metrics(report.metrics, *image.shape[:2]))
    except ValueError as exc:
        return ImageResult(item, None, report.passed, report.reason_codes, PREPROCESS_FAILED, str(exc))
    return PreparedImage(report, tensor)


def evaluate_images(
    items: Sequence[LabelledImage],
    *,
    limits: LimitsConfig,
    quality: QualityConfig,
    manifest: ModelManifest,
    runner: Runner,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    quality_by_source: Mapping[str, QualityConfig] | None = None,
) -> EvaluationRun:
    """Put every photo through the appliance path, `batch_size` photos per model call.

    Args:
        runner: an active runner for `manifest`.
        quality: the gate's thresholds (a camera profile)...
        quality_by_source: ...unless the photo's `source` has its own here (a folder mixing cameras).
        progress: show a tqdm progress bar on stderr.

    Raises:
        ValueError: batch_size < 1.
        ModelError: the model failed on a batch (the run cannot be trusted, so it stops).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    results: list[ImageResult | None] = [None] * len(items)
    pending: list[tuple[int, PreparedImage]] = []
    started = time.perf_counter()

    def flush() -> None:
        scores = runner.infer(np.stack([p.tensor for _, p in pending]))
        for (i, p), score in zip(pending, scores, strict=True):
            results[i] = ImageResult(items[i], float(score), p.report.passed, p.report.reason_codes)
        pending.clear()

    for i, item in enumerate(tqdm(items, desc="evaluating", unit="img", disable=not progress, mininterval=2)):
        thresholds = quality_by_source.get(item.source, quality) if quality_by_source else quality
        prepared = prepare(item, limits, thresholds, manifest)
        if isinstance(prepared, ImageResult):
            results[i] = prepared
            continue
        pending.append((i, prepared))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    seconds = time.perf_counter() - started
    done = [r for r in results if r is not None]
    assert len(done) == len(items)  # nosec B101 # an invariant of the loop above (every index filled once)
    return EvaluationRun(results=done, seconds=seconds, runner=runner.name)

"""The quality gate: one verdict per photo, with reasons in the order the operator should fix them.

Pure: an RGB uint8 array and thresholds in, a QualityReport out. Cheap enough for every capture:
all work is done on a copy at most WORK_SIZE px on its longer side, and on the field resampled to
256 px across.

`measure` computes every metric (for calibration), `judge` applies the rules of
appliance/quality/rules.py to metrics, and `assess` does both, skipping the quality checks of a
photo that is not a fundus photo (their numbers would mean nothing).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from appliance.config import QualityConfig
from appliance.domain import QualityReport
from appliance.quality.content import measure_content
from appliance.quality.exposure import measure_exposure
from appliance.quality.field_of_view import FieldOfView, find_field
from appliance.quality.field_position import field_offset, find_disc
from appliance.quality.field_view import WORK_SIZE, FieldView, field_view
from appliance.quality.focus import measure_focus
from appliance.quality.guidance import quality_report
from appliance.quality.illumination import measure_illumination
from appliance.quality.rules import ATTRIBUTED, NOT_FUNDUS_RULES, QUALITY_RULES, failed_rules
from appliance.quality.score import main_reason, reject_probability
from appliance.quality.stamps import remove_stamps

UInt8Image = npt.NDArray[np.uint8]

def assess(image: UInt8Image, thresholds: QualityConfig) -> QualityReport:
    """Judge whether a photo is good enough to grade.

    Args:
        image: RGB uint8 array (H, W, 3), as decode_image returns it; any size from 8 px a side.
        thresholds: the gate's thresholds (a camera profile, maybe overridden).
    Returns:
        A QualityReport. When the photo is not a fundus photo only `not_fundus` is reported and
        only the field-of-view and content metrics are given. Its metrics include the optic
        disc's position (`disc_x`, `disc_y` in field radii, `disc_prominence`): see
        appliance.quality.field_position.field_from_metrics for the field it implies.
    Raises:
        ValueError: the array is not RGB uint8.
    """
    return judge(measure(image, thresholds, stop_if_not_fundus=True), thresholds)


def measure(image: UInt8Image, thresholds: QualityConfig, *, stop_if_not_fundus: bool = False) -> dict[str, float]:
    """Every metric of the gate for one photo (floats; see the modules of appliance.quality).

    Without a field of view only the field-of-view metrics are returned. With
    `stop_if_not_fundus`, a photo failing a not-fundus rule gets no quality metrics.

    Raises:
        ValueError: the array is not RGB uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got shape {image.shape} {image.dtype}")
    work = _shrink(image)
    fov = find_field(work)
    metrics = fov.metrics()
    if not fov.found:
        return metrics
    # Burned-in text is no part of the photo: every check looks at the photo without it.
    if fov.stamps is not None and fov.stamps.any():
        work = remove_stamps(work, fov.stamps)
        if image.shape[:2] != work.shape[:2]:  # pixel noise is measured on the photo itself
            h, w = image.shape[:2]
            image = remove_stamps(image, cv2.resize(fov.stamps.astype(np.uint8), (w, h),
                                                    interpolation=cv2.INTER_NEAREST).astype(bool))
        else:
            image = work
    view = field_view(work, fov)
    metrics.update(measure_content(image, fov.mask, view).metrics())
    if stop_if_not_fundus and failed_rules(metrics, thresholds, NOT_FUNDUS_RULES):
        return metrics
    metrics.update(_quality_metrics(work, fov, view, thresholds))
    if thresholds.score_model:  # over every metric above, the content cues among them
        metrics["reject_probability"] = reject_probability(metrics, thresholds.score_model)
    return metrics


def judge(metrics: dict[str, float], thresholds: QualityConfig) -> QualityReport:
    """The verdict on measured metrics: `not_fundus` alone, or the failed quality reasons."""
    if metrics.get("fov_found", 0.0) < 0.5 or failed_rules(metrics, thresholds, NOT_FUNDUS_RULES):
        return quality_report(["not_fundus"], metrics)
    reasons = [main_reason(metrics, thresholds.score_model) if rule.reason == ATTRIBUTED else rule.reason
               for rule in failed_rules(metrics, thresholds, QUALITY_RULES)]
    return quality_report(reasons, metrics)


def _quality_metrics(work: UInt8Image, fov: FieldOfView, view: FieldView,
                     thresholds: QualityConfig) -> dict[str, float]:
    disc = find_disc(view)
    metrics = measure_exposure(work, fov.mask).metrics()
    metrics.update(measure_illumination(view).metrics())
    metrics.update(measure_focus(view).metrics())
    metrics.update(disc.metrics())
    metrics["field_offset"] = field_offset(disc, thresholds.min_disc_prominence)
    return metrics


def _shrink(image: UInt8Image) -> UInt8Image:
    """A copy at most WORK_SIZE px on its longer side, area-averaged. A camera's full-size photo
    is first averaged by a whole factor (OpenCV's fast path; a fractional factor over 6 megapixels
    costs more than every check), losing under that factor's pixels at the right and bottom."""
    h, w = image.shape[:2]
    if max(h, w) <= WORK_SIZE:
        return np.ascontiguousarray(image)
    factor = max(h, w) // WORK_SIZE
    if factor > 1:
        h, w = max(1, h // factor), max(1, w // factor)  # a sliver (130×65535) keeps a row
        image = np.asarray(cv2.resize(image[: h * factor, : w * factor], (w, h), interpolation=cv2.INTER_AREA),
                           dtype=np.uint8)
    if max(h, w) <= WORK_SIZE:
        return image
    size = (max(1, round(w * WORK_SIZE / max(h, w))), max(1, round(h * WORK_SIZE / max(h, w))))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)

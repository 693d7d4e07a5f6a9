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
from appliance.quality.rules import NOT_FUNDUS_RULES, QUALITY_RULES, failed_rules

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
    view = field_view(work, fov)
    metrics.update(measure_content(image, fov.mask, view).metrics())
    if stop_if_not_fundus and failed_rules(metrics, thresholds, NOT_FUNDUS_RULES):
        return metrics
    metrics.update(_quality_metrics(work, fov, view, thresholds))
    return metrics


def judge(metrics: dict[str, float], thresholds: QualityConfig) -> QualityReport:
    """The verdict on measured metrics: `not_fundus` alone, or the failed quality reasons."""
    if metrics.get("fov_found", 0.0) < 0.5 or failed_rules(metrics, thresholds, NOT_FUNDUS_RULES):
        return quality_report(["not_fundus"], metrics)
    return quality_report([rule.reason for rule in failed_rules(metrics, thresholds, QUALITY_RULES)], metrics)


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
    longer = max(image.shape[:2])
    if longer <= WORK_SIZE:
        return np.ascontiguousarray(image)
    scale = WORK_SIZE / longer
    return np.asarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8)

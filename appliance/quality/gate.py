"""The quality gate: one verdict per photo, with reasons in the order the operator should fix them.

Pure: an RGB uint8 array and thresholds in, a QualityReport out. Cheap enough for every capture:
all work is done on a copy at most WORK_SIZE px on its longer side.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from appliance.config import QualityConfig
from appliance.domain import QualityReport
from appliance.quality.exposure import measure_exposure, overexposed, too_dark
from appliance.quality.field_of_view import find_field, fundus_failed
from appliance.quality.focus import blurred, measure_focus

UInt8Image = npt.NDArray[np.uint8]

#: Longer side (px) of the copy the gate works on.
WORK_SIZE = 512

#: One retake sentence per reason code, in the clinic's words. The order of this mapping is the
#: order in which reasons are reported: what to fix first comes first.
REASON_MESSAGES: dict[str, str] = {
    "not_fundus": "Not a fundus photo: centre the camera on the pupil and retake.",
    "too_dark": "Too dark: the pupil may be small — consider dilation or dim the room.",
    "overexposed": "Overexposed: lower the flash or check the camera settings.",
    "blurred": "Image is blurred: ask the patient to keep still and refocus.",
}


def assess(image: UInt8Image, thresholds: QualityConfig) -> QualityReport:
    """Judge whether a photo is good enough to grade.

    Args:
        image: RGB uint8 array (H, W, 3), as decode_image returns it.
        thresholds: the gate's thresholds.
    Returns:
        A QualityReport; when the photo is not a fundus photo only `not_fundus` is reported and
        the other checks are skipped (their numbers would mean nothing).
    Raises:
        ValueError: the array is not RGB uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got shape {image.shape} {image.dtype}")
    work = _shrink(image)
    fov = find_field(work)
    metrics = fov.metrics()
    if fundus_failed(fov, thresholds):
        return _report(["not_fundus"], metrics)
    exposure = measure_exposure(work, fov.mask)
    focus = measure_focus(work, fov)
    metrics.update(exposure.metrics())
    metrics["focus"] = focus
    failed = {
        "too_dark": too_dark(exposure, thresholds),
        "overexposed": overexposed(exposure, thresholds),
        "blurred": blurred(focus, thresholds),
    }
    return _report([code for code, bad in failed.items() if bad], metrics)


def _shrink(image: UInt8Image) -> UInt8Image:
    longer = max(image.shape[:2])
    if longer <= WORK_SIZE:
        return np.ascontiguousarray(image)
    scale = WORK_SIZE / longer
    return np.asarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _report(reasons: list[str], metrics: dict[str, float]) -> QualityReport:
    ordered = tuple(code for code in REASON_MESSAGES if code in reasons)
    return QualityReport(
        passed=not ordered,
        reason_codes=ordered,
        operator_message=REASON_MESSAGES[ordered[0]] if ordered else "",
        metrics=metrics,
    )

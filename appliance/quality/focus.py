"""Focus: is the retina sharp? Pure.

The measure is the variance of a Laplacian of Gaussian (sigma 1 px) of the green channel, where
vessels and lesions have the most contrast, inside the field shrunk away from its rim (the rim is
a strong edge in sharp and blurred photos alike).

It is taken at a fixed scale, with the field resized to FIELD_DIAMETER pixels across, so the
same photo scores the same at any resolution. 256 px, not more: the model sees the field at
224 px, so blur finer than that cannot change its answer, and the development photos the
threshold was calibrated on have fields of 256 to 512 px, which a larger scale would have to
upsample (and so blur) before measuring.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from appliance.config import QualityConfig
from appliance.quality.field_of_view import FieldOfView

UInt8Image = npt.NDArray[np.uint8]

#: The field's diameter (px) at which focus is measured.
FIELD_DIAMETER = 256
#: Smoothing (px at that scale) before the Laplacian: keeps JPEG blocks and sensor noise from
#: passing for detail.
SIGMA = 1.0
#: The field is eroded by this share of its diameter before measuring.
RIM_MARGIN = 0.05


def measure_focus(image: UInt8Image, fov: FieldOfView) -> float:
    """Focus score (>= 0; larger is sharper) of an RGB uint8 image inside its field of view.

    Returns 0.0 when too little of the field is left to measure.
    """
    scale = FIELD_DIAMETER / max(2.0 * fov.radius, 1.0)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    green = cv2.resize(image[:, :, 1], None, fx=scale, fy=scale, interpolation=interpolation)
    size = (green.shape[1], green.shape[0])
    field = cv2.resize(fov.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    margin = max(1, round(RIM_MARGIN * FIELD_DIAMETER / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    inner = cv2.erode(field, kernel).astype(bool)
    if np.count_nonzero(inner) < 100:
        return 0.0
    smooth = cv2.GaussianBlur(green.astype(np.float32), (0, 0), SIGMA)
    response = cv2.Laplacian(smooth, cv2.CV_32F)
    return float(response[inner].var())


def blurred(focus: float, thresholds: QualityConfig) -> bool:
    return focus < thresholds.min_focus

"""Exposure: is the field bright enough to see lesions, and not washed out? Pure.

Measured on the green channel, the one graders and most quality methods use: the red channel of
a fundus photo is often clipped in a well-exposed light fundus, and blue is mostly noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from appliance.config import QualityConfig

UInt8Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

#: A green value at or over this (0..255) is saturated: no detail survives there.
SATURATED_LEVEL = 250


@dataclass(frozen=True)
class Exposure:
    """Green-channel exposure inside the field: mean 0..255, saturated share 0..1."""

    mean_green: float
    saturated_fraction: float

    def metrics(self) -> dict[str, float]:
        return {"mean_green": self.mean_green, "saturated_fraction": self.saturated_fraction}


def measure_exposure(image: UInt8Image, field: Mask) -> Exposure:
    """Exposure of an RGB uint8 image inside `field` (a boolean mask of the same height and width).

    An empty field measures as black (mean 0, nothing saturated).
    """
    green = image[:, :, 1][field]
    if green.size == 0:
        return Exposure(mean_green=0.0, saturated_fraction=0.0)
    return Exposure(
        mean_green=float(green.mean()),
        saturated_fraction=float(np.count_nonzero(green >= SATURATED_LEVEL)) / green.size,
    )


def too_dark(exposure: Exposure, thresholds: QualityConfig) -> bool:
    return exposure.mean_green < thresholds.too_dark_mean


def overexposed(exposure: Exposure, thresholds: QualityConfig) -> bool:
    return (
        exposure.mean_green > thresholds.overexposed_mean
        or exposure.saturated_fraction > thresholds.max_saturated_fraction
    )

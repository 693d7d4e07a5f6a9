"""Exposure: is the field bright enough to see lesions, and not washed out? Pure.

Measured on the green channel, the one graders and most quality methods use: the red channel of
a fundus photo is often clipped in a well-exposed light fundus, and blue is mostly noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

UInt8Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

#: A green value at or over this (0..255) is saturated: no detail survives there.
SATURATED_LEVEL = 250
#: A green value at or under this (0..255) is black: no detail can be brought out of it.
BLACK_LEVEL = 10


@dataclass(frozen=True)
class Exposure:
    """Green-channel exposure inside the field: mean 0..255, saturated and black shares 0..1."""

    mean_green: float
    saturated_fraction: float
    black_fraction: float

    def metrics(self) -> dict[str, float]:
        return {
            "mean_green": self.mean_green,
            "saturated_fraction": self.saturated_fraction,
            "black_fraction": self.black_fraction,
        }


def measure_exposure(image: UInt8Image, field: Mask) -> Exposure:
    """Exposure of an RGB uint8 image inside `field` (a boolean mask of the same height and width).

    An empty field measures as black (mean 0, nothing saturated, all black).
    """
    green = image[:, :, 1][field]
    if green.size == 0:
        return Exposure(mean_green=0.0, saturated_fraction=0.0, black_fraction=1.0)
    return Exposure(
        mean_green=float(green.mean()),
        saturated_fraction=float(np.count_nonzero(green >= SATURATED_LEVEL)) / green.size,
        black_fraction=float(np.count_nonzero(green <= BLACK_LEVEL)) / green.size,
    )

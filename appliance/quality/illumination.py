"""Uneven illumination: shadows, crescents, and eyelid or lash artefacts at the edge. Pure.

A large-scale background estimate of the green channel (a Gaussian of GRID_SIGMA radii, taken
over the lit field only, dim parts included, so the black surround does not darken the rim) is compared with its own
median over the field: across the four quadrants, at the centre (where the macula of a
macula-centred photo lies), and in sectors of the rim. A small pupil or a misaligned camera
leaves a dark or bright crescent on one side; the upper lid and lashes shade the top edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.field_view import FieldView, masked_blur

FloatImage = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

#: The background is estimated on a grid this many px across the field...
GRID = 64
#: ...blurred by this share of the field's radius: larger than a vessel or the disc, smaller
#: than a crescent.
GRID_SIGMA = 0.15
#: The background is "dark" under this share of its median, "bright" over this multiple.
DARK_SHARE = 0.6
BRIGHT_SHARE = 1.5
#: The rim annulus (radii) and its number of sectors.
RIM = (0.7, 0.95)
RIM_SECTORS = 12
#: The centre disc (radii): the macula in a macula-centred photo, the disc in a disc-centred one.
CENTRE = 0.3


@dataclass(frozen=True)
class Illumination:
    """Background levels relative to the field's median background (1.0 = even).

    dark_fraction, bright_fraction: share (0..1) of the field darker than DARK_SHARE or brighter
    than BRIGHT_SHARE times the median; quadrant_ratio: darkest / brightest quadrant (0..1);
    centre_ratio: the centre disc's mean / the median; rim_min, rim_max: darkest and brightest
    rim sector's mean / the median.
    """

    dark_fraction: float
    bright_fraction: float
    quadrant_ratio: float
    centre_ratio: float
    rim_min: float
    rim_max: float

    def metrics(self) -> dict[str, float]:
        return {
            "illum_dark_fraction": self.dark_fraction,
            "illum_bright_fraction": self.bright_fraction,
            "illum_quadrant_ratio": self.quadrant_ratio,
            "illum_centre_ratio": self.centre_ratio,
            "illum_rim_min": self.rim_min,
            "illum_rim_max": self.rim_max,
        }


#: What an empty or black field measures as: as uneven as it gets.
UNMEASURABLE = Illumination(1.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def measure_illumination(view: FieldView) -> Illumination:
    """Illumination of the field in `view`; UNMEASURABLE when the field is black or too small."""
    h, w = view.green.shape
    scale = GRID / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    green = np.asarray(cv2.resize(view.green, size, interpolation=cv2.INTER_AREA), np.float32)
    mask = cv2.resize(view.lit.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    rho = cv2.resize(view.rho, size, interpolation=cv2.INTER_LINEAR)
    dx = cv2.resize(view.dx, size, interpolation=cv2.INTER_LINEAR)
    dy = cv2.resize(view.dy, size, interpolation=cv2.INTER_LINEAR)
    background = masked_blur(green, mask, GRID_SIGMA * GRID / 2)
    inside = mask & (rho < RIM[1]) & np.isfinite(background)
    if np.count_nonzero(inside) < 50:
        return UNMEASURABLE
    level = float(np.median(background[inside]))
    if level < 1.0:
        return UNMEASURABLE
    relative = background / level
    angle = np.arctan2(dy, dx)
    quadrant_values = _sector_means(relative, angle, inside, 4)
    sectors = _sector_means(relative, angle, inside & (rho >= RIM[0]), RIM_SECTORS)
    centre = _mean(relative, inside & (rho < CENTRE))
    return Illumination(
        dark_fraction=float(np.mean(relative[inside] < DARK_SHARE)),
        bright_fraction=float(np.mean(relative[inside] > BRIGHT_SHARE)),
        quadrant_ratio=min(quadrant_values) / max(max(quadrant_values), 1e-6),
        centre_ratio=centre if np.isfinite(centre) else 0.0,
        rim_min=min(sectors),
        rim_max=max(sectors),
    )


def _mean(values: FloatImage, where: Mask) -> float:
    return float(values[where].mean()) if np.count_nonzero(where) >= 3 else float("nan")


def _sector_means(values: FloatImage, angle: FloatImage, where: Mask, sectors: int) -> list[float]:
    """Mean of `values` in each of `sectors` equal angular sectors (the first centred on the
    image's right, then counter-clockwise in image coordinates), over `where`; sectors with fewer
    than 3 pixels are left out, and [0.0] is returned when all are."""
    width = 2 * np.pi / sectors
    index = (((angle[where] + width / 2) % (2 * np.pi)) // width).astype(np.int64) % sectors
    counts = np.bincount(index, minlength=sectors)
    sums = np.bincount(index, weights=values[where], minlength=sectors)
    means = [float(t / n) for t, n in zip(sums, counts, strict=True) if n >= 3]
    return means or [0.0]

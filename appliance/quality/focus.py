"""Focus: is the retina sharp, and are its vessels visible? Pure.

Measures on the green channel of the field view (the field DIAMETER px across, so the same
photo scores the same at any resolution), inside the field shrunk away from its rim (the rim is a
strong edge in sharp and blurred photos alike):

- `focus`: the variance of a Laplacian of Gaussian (sigma SIGMA px), the classic sharpness score;
  it grows with contrast as well as sharpness.
- `vessel_visibility`: the share of the field covered by thin dark lines (a morphological
  black-hat of VESSEL_WIDTH px, relative to the local background) — vessels, the structure every
  grader looks for. `vessel_visibility_centre` is the same within CENTRE radii of the centre,
  around the macula of a macula-centred photo, where blur and haze hide the small vessels first.
- `detail_ratio`: the variance of the green channel's finest detail (a band-pass between Gaussians
  of DETAIL_BANDS[0] and [1] px: small vessels, the edges of large ones) over that of the next,
  coarser band ([1] to [2] px: the large vessels themselves). Blur and haze take the finest detail
  first, so the ratio falls; unlike `focus` it does not grow with the photo's contrast or exposure,
  so a dim but sharp camera scores like a bright one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.field_view import DIAMETER, FieldView, masked_blur

FloatImage = npt.NDArray[np.float32]

#: Smoothing (px at the view's scale) before the Laplacian: keeps JPEG blocks and sensor noise
#: from passing for detail.
SIGMA = 1.0
#: The field is eroded by this share of its diameter before measuring.
RIM_MARGIN = 0.05
#: Widest vessel (px at the view's scale) the black-hat picks up: the main arcades near the disc
#: are ~1/40 of the field's diameter.
VESSEL_WIDTH = 11
#: A pixel is on a vessel when it is at least this share darker than its closing.
VESSEL_CONTRAST = 0.04
#: The local background is floored at this share of the field's median, so the noise of a black
#: corner does not pass for vessels.
BACKGROUND_FLOOR = 0.3
#: Radius (in field radii) of the central region.
CENTRE = 0.45
#: Gaussians (px at the view's scale) bounding the two bands of `detail_ratio`: finest detail, then vessels.
DETAIL_BANDS = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Focus:
    """focus >= 0 (larger is sharper); vessel visibility 0..1 over the field and at its centre;
    detail_ratio >= 0 (larger is crisper)."""

    focus: float
    vessel_visibility: float
    vessel_visibility_centre: float
    detail_ratio: float

    def metrics(self) -> dict[str, float]:
        return {
            "focus": self.focus,
            "vessel_visibility": self.vessel_visibility,
            "vessel_visibility_centre": self.vessel_visibility_centre,
            "detail_ratio": self.detail_ratio,
        }


UNMEASURABLE = Focus(0.0, 0.0, 0.0, 0.0)


def measure_focus(view: FieldView) -> Focus:
    """Focus of the field in `view`; UNMEASURABLE when too little of the field is left to measure."""
    margin = max(1, round(RIM_MARGIN * DIAMETER / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    inner = cv2.erode(view.mask.astype(np.uint8), kernel).astype(bool)
    if np.count_nonzero(inner) < 100:
        return UNMEASURABLE
    smooth = np.asarray(cv2.GaussianBlur(view.green, (0, 0), SIGMA), np.float32)
    laplacian = cv2.Laplacian(smooth, cv2.CV_32F)
    vessel = _vessel_map(smooth, float(np.median(smooth[inner])))
    centre = inner & (view.rho < CENTRE)
    return Focus(
        focus=float(laplacian[inner].var()),
        vessel_visibility=float(np.mean(vessel[inner])),
        vessel_visibility_centre=float(np.mean(vessel[centre])) if np.count_nonzero(centre) >= 100 else 0.0,
        detail_ratio=_detail_ratio(view, inner),
    )


def _detail_ratio(view: FieldView, inner: npt.NDArray[np.bool_]) -> float:
    """Variance of the finest band over that of the next coarser one, over `inner` (the field
    blurred over itself only, so its rim adds no edge); 0 when the field is flat."""
    blurred = [masked_blur(view.green, view.mask, sigma) for sigma in DETAIL_BANDS]
    fine, coarse = blurred[0] - blurred[1], blurred[1] - blurred[2]
    where = inner & np.isfinite(fine) & np.isfinite(coarse)
    if np.count_nonzero(where) < 100:
        return 0.0
    base = float(coarse[where].var())
    return float(fine[where].var()) / base if base > 1e-6 else 0.0


def _vessel_map(smooth: FloatImage, level: float) -> npt.NDArray[np.bool_]:
    """True where a thin dark line (narrower than VESSEL_WIDTH) crosses the pixel."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (VESSEL_WIDTH, VESSEL_WIDTH))
    closed = cv2.morphologyEx(smooth, cv2.MORPH_CLOSE, kernel)
    background = np.maximum(closed, max(BACKGROUND_FLOOR * level, 1.0))
    on_vessel: npt.NDArray[np.bool_] = (closed - smooth) / background > VESSEL_CONTRAST
    return on_vessel

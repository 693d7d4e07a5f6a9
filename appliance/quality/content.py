"""Is what the aperture frames a retina? Colour and texture cues for `not_fundus`. Pure.

A fundus camera frames whatever is in front of it in its round aperture: a face, the front of the
eye (its anterior mode), a sensor fault. The aperture's shape alone cannot tell those from a
retina, so three cues look inside it:

- `pixel_noise`: the median absolute 3×3 Laplacian of the green channel, relative to the field's
  median level, on every k-th pixel of the photo (k so that at most WORK_SIZE remain per side:
  subsampling, unlike averaging, keeps pixel noise). A retina is smooth at that scale (its finest
  structures span several pixels); a sensor fault or a noise frame is not.
- `cool_fraction`: the share of the field whose red channel is not its largest: sky, foliage,
  a blue or green cast. A natural-colour retina is red-dominated everywhere.
- `neutral_fraction`: the share of the field that is bright and nearly colourless (saturation
  under NEUTRAL_SATURATION, brightness over half the field's 95th percentile): the white of the
  eye, paper, a lamp. In a retina only the optic disc and reflexes are that pale — or a veil of
  haze, which the quality rules judge separately.
- `saturation`: the median saturation ((largest - smallest channel) / largest) of the field: a
  veil of haze or flare greys the whole field (a quality cue, not a not-fundus one).
- `anterior_eye`: the lesser of `neutral_fraction` and `pupil_fraction`, the share of the central
  field (within CENTRE radii) darker than PUPIL_SHARE of the field's median: high only when a white
  sclera and a black pupil are both in view, as in a photo of the front of the eye. A dark macula
  is never that dark against its surround, and a washed-out retina has no black centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.field_view import WORK_SIZE, FieldView
from appliance.quality.pixels import percentile_u8

UInt8Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

#: A pixel with (max - min) / max of its channels under this is colourless.
NEUTRAL_SATURATION = 0.15
#: ...and bright when its largest channel is over this share of the field's 95th percentile.
NEUTRAL_BRIGHTNESS = 0.5
#: The central field (radii) where a pupil would be...
CENTRE = 0.5
#: ...and "black" there: under this share of the field's median brightness.
PUPIL_SHARE = 0.2
#: The colour cues ignore the rim (radii), where flare and the aperture's edge tint the field.
RIM = 0.95


@dataclass(frozen=True)
class Content:
    pixel_noise: float
    cool_fraction: float
    neutral_fraction: float
    pupil_fraction: float
    saturation: float

    @property
    def anterior_eye(self) -> float:
        return min(self.neutral_fraction, self.pupil_fraction)

    def metrics(self) -> dict[str, float]:
        return {
            "pixel_noise": self.pixel_noise,
            "cool_fraction": self.cool_fraction,
            "neutral_fraction": self.neutral_fraction,
            "pupil_fraction": self.pupil_fraction,
            "anterior_eye": self.anterior_eye,
            "saturation": self.saturation,
        }


#: What an empty field measures as: nothing retina-like in it.
UNMEASURABLE = Content(pixel_noise=10.0, cool_fraction=1.0, neutral_fraction=1.0, pupil_fraction=1.0, saturation=0.0)


def measure_content(image: UInt8Image, field: Mask, view: FieldView) -> Content:
    """Content cues of the field: `image` is the photo at any size, `field` the field mask at the
    gate's working scale, `view` the field at the fixed scale."""
    inside = view.region(RIM)
    if np.count_nonzero(field) < 50 or np.count_nonzero(inside) < 50:
        return UNMEASURABLE
    step = max(1, int(np.ceil(max(image.shape[:2]) / WORK_SIZE)))
    green = np.ascontiguousarray(image[::step, ::step, 1])
    if green.shape != field.shape:
        field = cv2.resize(field.astype(np.uint8), (green.shape[1], green.shape[0]),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
    level = max(percentile_u8(green[field], 50), 1.0)
    laplacian = np.asarray(cv2.convertScaleAbs(cv2.Laplacian(green, cv2.CV_16S)), np.uint8)  # |.|, saturated
    red = view.rgb[:, :, 0][inside]
    brightest = view.brightest[inside]
    darkest = view.darkest[inside].astype(np.int16)
    spread = brightest.astype(np.int16) - darkest
    colourless = spread < NEUTRAL_SATURATION * brightest
    bright = brightest > NEUTRAL_BRIGHTNESS * percentile_u8(brightest, 95)
    black = view.brightest[view.region(CENTRE)] < PUPIL_SHARE * percentile_u8(brightest, 50)
    return Content(
        pixel_noise=percentile_u8(laplacian[field], 50) / level,
        cool_fraction=float(np.mean(red < brightest)),
        neutral_fraction=float(np.mean(colourless & bright)),
        pupil_fraction=float(np.mean(black)) if black.size else 0.0,
        saturation=float(np.median(spread / np.maximum(brightest, 1).astype(np.float32))),
    )

"""The field of view at a fixed scale: the checks that look inside the field share it. Pure.

The photo is cropped to the fitted circle's box (clipped to the frame) and resized so the circle
is DIAMETER px across. Every measure taken on it is then independent of the camera's resolution
and of how much black surround the frame has. 256 px, not more: the model sees the field at
224 px, so detail finer than that cannot change its answer, and the development photos have
fields of 256 to 512 px, which a larger scale would have to upsample (and so blur).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.field_of_view import FieldOfView
from appliance.quality.pixels import channel_max, channel_min

UInt8Image = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

#: Longer side (px) of the copy of the photo the gate works on.
WORK_SIZE = 512
#: Brightest channel (0..255) at or under which a pixel inside the circle is black (letterboxing,
#: the camera's mask), not a dim part of the field.
BLACK = 8
#: The field's diameter (px) in the view.
DIAMETER = 256


@dataclass(frozen=True)
class FieldView:
    """An RGB crop around the field, resized so the fitted circle is DIAMETER px across.

    `green` is the green channel as float32 (0..255); `mask` marks field pixels (the bright
    blob found by find_field); `lit` also takes in the dim parts of the fitted circle (not black,
    but too dark to pass for field: an eyelid's shadow, a dark crescent); `rho` is each
    pixel's distance from the circle's centre in radii (0 at the centre, 1 on the rim);
    `dx`, `dy` the offsets in radii (x to the image's right, y down).
    """

    rgb: UInt8Image
    #: The largest and smallest channel of each pixel.
    brightest: npt.NDArray[np.uint8]
    darkest: npt.NDArray[np.uint8]
    green: FloatImage
    mask: Mask
    lit: Mask
    rho: FloatImage
    dx: FloatImage
    dy: FloatImage

    def region(self, rho_max: float = 1.0, rho_min: float = 0.0) -> Mask:
        """Field pixels whose distance from the centre (in radii) lies in [rho_min, rho_max)."""
        inside: Mask = self.mask & (self.rho < rho_max) & (self.rho >= rho_min)
        return inside


def field_view(image: UInt8Image, fov: FieldOfView) -> FieldView:
    """Crop and rescale an RGB uint8 image around a found field of view (`fov.found` is True)."""
    h, w = image.shape[:2]
    scale = DIAMETER / max(2.0 * fov.radius, 1.0)
    x0, x1 = max(0, int(fov.centre_x - fov.radius)), min(w, int(np.ceil(fov.centre_x + fov.radius)) + 1)
    y0, y1 = max(0, int(fov.centre_y - fov.radius)), min(h, int(np.ceil(fov.centre_y + fov.radius)) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:  # a circle off the frame: keep the whole frame
        x0, x1, y0, y1 = 0, w, 0, h
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = np.ascontiguousarray(cv2.resize(image[y0:y1, x0:x1], size, interpolation=interpolation), np.uint8)
    mask = cv2.resize(fov.mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    yy, xx = np.mgrid[: size[1], : size[0]].astype(np.float32)
    r = np.float32(fov.radius * scale)
    dx = (xx + 0.5) / np.float32(scale) + np.float32(x0 - fov.centre_x)
    dy = (yy + 0.5) / np.float32(scale) + np.float32(y0 - fov.centre_y)
    dx, dy = dx * np.float32(scale) / r, dy * np.float32(scale) / r
    brightest = channel_max(rgb)
    rho = np.hypot(dx, dy).astype(np.float32)
    return FieldView(
        rgb=rgb,
        brightest=brightest,
        darkest=channel_min(rgb),
        green=rgb[:, :, 1].astype(np.float32),
        mask=mask,
        lit=mask | ((rho < 1.0) & (brightest > BLACK)),
        rho=rho,
        dx=dx.astype(np.float32),
        dy=dy.astype(np.float32),
    )


def masked_blur(values: FloatImage, mask: Mask, sigma: float) -> FloatImage:
    """Gaussian blur of `values` over `mask` only (normalised convolution), NaN where the mask's
    weight is too small: the black surround must not darken the field's edge."""
    weight = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    blurred = cv2.GaussianBlur(np.where(mask, values, 0).astype(np.float32), (0, 0), sigma)
    out: FloatImage = np.where(weight > 0.2, blurred / np.maximum(weight, 1e-6), np.nan).astype(np.float32)
    return out

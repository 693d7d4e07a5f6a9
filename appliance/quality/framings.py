"""Synthetic camera framings of a real fundus photo: how other cameras would have framed it. Pure.

Cameras frame the round field differently (docs/QUALITY.md, "Every framing"): a full circle on
black, a circle clipped at top and bottom, a circle wider than the sensor so that only the four
corners are dark, the rim cut exactly at the corners (the inscribed rectangle), a notch on the
rim, a date/time stamp or a patient name burned in, a 16:9 letterbox. `FRAMINGS` maps a stable
name to a function `(photo, field) -> framed photo`, where `field` is the photo's own field of
view (appliance.quality.field_of_view.find_field). `quality-eval --framing NAME` judges every
photo of a folder framed that way; the tests build the same framings.

Crops are taken around the field's centre as shares of its radius, so they mean the same on any
source; parts of the crop outside the source photo are black (as a camera's mask would be), and
the result is resized to a camera's resolution (CAMERA_SIZE, 4:3).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.field_of_view import FieldOfView

UInt8Image = npt.NDArray[np.uint8]
Framing = Callable[[UInt8Image, FieldOfView], UInt8Image]

#: The reported wide-field camera's frame (width, height).
CAMERA_SIZE = (760, 570)
#: Stamp colours (RGB) seen burned into photos: green date/time, yellow, white.
GREEN, YELLOW, WHITE = (40, 255, 40), (255, 240, 0), (255, 255, 255)


def crop(photo: UInt8Image, field: FieldOfView, half_width: float, half_height: float,
         size: tuple[int, int] = CAMERA_SIZE) -> UInt8Image:
    """The box `half_width` x `half_height` field radii around the field's centre, black outside
    the photo, resized to `size` (width, height)."""
    r = field.radius
    x0, x1 = round(field.centre_x - half_width * r), round(field.centre_x + half_width * r)
    y0, y1 = round(field.centre_y - half_height * r), round(field.centre_y + half_height * r)
    h, w = photo.shape[:2]
    padded = cv2.copyMakeBorder(photo, max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w),
                                cv2.BORDER_CONSTANT, value=(0, 0, 0))
    oy, ox = max(0, -y0), max(0, -x0)
    box = padded[y0 + oy: y1 + oy, x0 + ox: x1 + ox]
    interpolation = cv2.INTER_AREA if box.shape[1] > size[0] else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(box, size, interpolation=interpolation), np.uint8)


def black_outside(photo: UInt8Image, field: FieldOfView) -> UInt8Image:
    """The photo with everything outside its fitted circle set to black (a clean aperture)."""
    h, w = photo.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    out: UInt8Image = photo.copy()
    out[(xx - field.centre_x) ** 2 + (yy - field.centre_y) ** 2 > field.radius**2] = 0
    return out


def stamp(photo: UInt8Image, text: str, where: str, colour: tuple[int, int, int], *, scale: float = 1.0,
          inset: float = 0.02) -> UInt8Image:
    """Burn `text` in thin strokes near a corner (`where`: "top-right", "top-left", "bottom-left",
    "bottom-right"), `inset` (share of the height) from both edges, the way cameras print the
    date, time or patient name."""
    out: UInt8Image = photo.copy()
    h, w = out.shape[:2]
    font_scale = scale * h / 900
    thickness = max(1, round(scale * h / 400))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    margin = round(inset * h)
    x = w - tw - margin if where.endswith("right") else margin
    y = th + margin if where.startswith("top") else h - margin
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, thickness, cv2.LINE_AA)
    return out


def notch(photo: UInt8Image, field: FieldOfView) -> UInt8Image:
    """A small bright tab straddling the rim at the upper right (EyePACS cameras' orientation mark)."""
    out = black_outside(photo, field)
    angle = -np.pi / 4
    cx = field.centre_x + field.radius * np.cos(angle)
    cy = field.centre_y + field.radius * np.sin(angle)
    half = max(2, round(0.05 * field.radius))
    cv2.rectangle(out, (round(cx - half), round(cy - half)), (round(cx + half), round(cy + half)),
                  (200, 110, 60), -1)
    return out


def letterbox(photo: UInt8Image, aspect: float = 16 / 9) -> UInt8Image:
    """The photo centred in a black frame of the given width/height ratio (a video export)."""
    h, w = photo.shape[:2]
    width = max(w, round(h * aspect))
    left = (width - w) // 2
    return np.ascontiguousarray(cv2.copyMakeBorder(photo, 0, 0, left, width - w - left, cv2.BORDER_CONSTANT,
                                                   value=(0, 0, 0)), np.uint8)


def aim_off(photo: UInt8Image, field: FieldOfView, towards: tuple[float, float], rho: float,
            disc: tuple[float, float]) -> UInt8Image:
    """The photo as if the camera had been aimed further from the optic disc, so the disc sits
    `rho` radii from the centre, towards `towards` (x, y; normalised here): the retina moves
    inside the camera's fixed aperture, which stays where it was and full of retina. The view
    is zoomed in by 1 / (1 - shift) so no part of the aperture shows what lay outside the
    original field: the disc appears that much larger, as a narrower-angle camera would show it
    (1.3 times for a macula-centred photo whose disc moves from 0.5 to 0.95 radii).

    `disc` is the disc's position (x, y) in radii, as `disc_x`, `disc_y` of the photo's metrics;
    the aperture (the fitted circle) keeps its place; outside it the photo is unchanged. A disc
    already at or beyond `rho` leaves the photo as it is.
    """
    ux, uy = towards
    norm = float(np.hypot(ux, uy))
    along = (disc[0] * ux + disc[1] * uy) / norm if norm > 0 else 0.0
    shift = max(0.0, (rho - along) / (1.0 + rho))
    if norm == 0 or shift == 0:
        return np.array(photo, dtype=np.uint8)
    zoom = 1.0 / (1.0 - shift)
    r, cx, cy = field.radius, field.centre_x, field.centre_y
    # The output pixel at the aperture's point x shows the photo at c + x / zoom, c = -shift * u.
    sx, sy = -shift * r * ux / norm, -shift * r * uy / norm
    inverse = np.array([[1 / zoom, 0.0, cx + sx - cx / zoom], [0.0, 1 / zoom, cy + sy - cy / zoom]], np.float64)
    h, w = photo.shape[:2]
    moved = cv2.warpAffine(photo, inverse, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    yy, xx = np.ogrid[:h, :w]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    out: UInt8Image = np.where(inside[:, :, None], moved, photo).astype(np.uint8)
    return out


def _date(photo: UInt8Image, inset: float = 0.02) -> UInt8Image:
    return stamp(photo, "2026/11/22 10:41:07", "top-right", GREEN, inset=inset)


#: Half-width and half-height (field radii) of a 4:3 frame whose corners touch the circle.
INSCRIBED = (0.8, 0.6)
#: ...of the reported wide-field camera: the circle wider than the sensor, only corners dark.
CORNERS = (0.9, 0.675)
#: ...half way between the two.
BETWEEN = (0.85, 0.6375)

FRAMINGS: dict[str, Framing] = {
    "full-circle": lambda p, f: crop(black_outside(p, f), f, 1.3, 1.3 * 0.75),
    "clipped-top-bottom": lambda p, f: crop(black_outside(p, f), f, 1.15, 0.8625),
    "corners-only": lambda p, f: crop(black_outside(p, f), f, *CORNERS),
    "between": lambda p, f: crop(black_outside(p, f), f, *BETWEEN),
    "inscribed": lambda p, f: crop(p, f, *INSCRIBED),
    "notch": lambda p, f: crop(notch(p, f), f, 1.3, 1.3 * 0.75),
    "stamp-outside": lambda p, f: stamp(_date(crop(black_outside(p, f), f, 1.3, 0.975)), "PATIENT 0042 R",
                                        "bottom-left", WHITE),
    "stamp-inside": lambda p, f: _date(crop(black_outside(p, f), f, *CORNERS), inset=0.06),
    "stamp-inside-yellow": lambda p, f: stamp(crop(black_outside(p, f), f, *BETWEEN), "OD 45 deg  22-11-2026",
                                              "bottom-right", YELLOW, inset=0.08),
    "letterbox-16x9": lambda p, f: letterbox(_date(crop(black_outside(p, f), f, *CORNERS))),
    "letterbox-16x9-circle": lambda p, f: letterbox(crop(black_outside(p, f), f, 1.15, 0.8625)),
}

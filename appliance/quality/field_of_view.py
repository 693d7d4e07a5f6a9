"""Field of view: find the bright fundus disc on its dark surround and fit its circle. Pure.

A fundus camera images the retina through a circular aperture, so a real photo is a bright
disc (sometimes clipped at the top and bottom of the frame) on a near-black surround. We
threshold the brightest channel, open the mask (speckle in the surround must not bridge onto
the rim), keep the largest blob with its holes filled (a dark macula is still field), and fit
a circle to the part of its outline that does not lie on the image border. A black frame has
no blob, a document or a noise frame fills the whole frame (no outline to fit), and an odd
shape fills its fitted circle badly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.pixels import channel_max, percentile_u8

UInt8Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

#: The field is brighter than this share of the image's bright level (95th percentile of the
#: brightest channel)...
FIELD_LEVEL_SHARE = 0.12
#: ...and than this absolute level (0..255): a dim fundus still stands clear of a black
#: surround, while JPEG noise in the surround stays under it...
FIELD_LEVEL_MIN = 6.0
#: ...and by this much (0..255) than the surround, taken as the image's 2nd percentile, for
#: cameras and renderings whose surround is grey rather than black.
FIELD_OVER_SURROUND = 6.0
#: Outline points this close to the image border (px) are the frame's edge, not the aperture's.
BORDER_MARGIN = 2
#: A straight run of outline on the blob's top or bottom row (first or last column), at least
#: this share of the blob's width (height) long, is a frame edge, not the aperture. A circle's
#: own top row (±1 px) is 4·sqrt(r) px long: under 0.3 of its width for r > 45 px.
CLIP_RUN_SHARE = 0.3
#: The circle is fitted on a copy at most this many px on its longer side.
FIT_SIZE = 256
#: Outline points within this share of the radius from the fitted circle lie on it.
ON_CIRCLE_TOLERANCE = 0.03
#: Angular bins used to measure how much of the circle the outline covers.
ANGLE_BINS = 72


@dataclass(frozen=True)
class FieldOfView:
    """The fundus disc found in an image, in that image's pixel coordinates.

    `found` is False when no disc outline could be fitted; the circle is then the image's
    inscribed circle and every measure but `area_fraction` is 0. `mask` marks the pixels of
    the field (of the largest bright blob when none was fitted).
    """

    found: bool
    centre_x: float
    centre_y: float
    radius: float
    mask: Mask
    #: Circle diameter / the image's shorter side.
    diameter_fraction: float
    #: Share of the image inside the field (the mask).
    area_fraction: float
    #: Distance of the circle's centre from the image's centre / the image's shorter side.
    centre_offset: float
    #: Share of the circle (clipped to the frame) that the field fills.
    fill: float
    #: Share of the field's pixels lying outside the circle.
    spill: float
    #: Share of the circle's circumference covered by the fitted outline (0..1).
    arc_coverage: float
    #: Share of the circumference traced by outline lying on the circle (within ON_CIRCLE_TOLERANCE
    #: of the radius): high for a round aperture, low for an oval (a face) or a polygon.
    rim_on_circle: float
    #: Mean brightest channel outside the circle, 0..255.
    surround_level: float
    #: Median distance of the outline from the circle / the radius: 0 for a perfect disc. A
    #: camera's rim is within ~0.04; the development set's enhanced renderings have ragged rims
    #: (up to ~0.1), an oval face ~0.12.
    rim_error: float

    def metrics(self) -> dict[str, float]:
        return {
            "fov_found": float(self.found),
            "fov_diameter_fraction": self.diameter_fraction,
            "fov_area_fraction": self.area_fraction,
            "fov_centre_offset": self.centre_offset,
            "fov_fill": self.fill,
            "fov_spill": self.spill,
            "fov_arc_coverage": self.arc_coverage,
            "fov_rim_on_circle": self.rim_on_circle,
            "fov_surround_level": self.surround_level,
            "fov_rim_error": self.rim_error,
        }


def find_field(image: UInt8Image) -> FieldOfView:
    """Find the fundus disc in an RGB uint8 image (any size).

    The circle is fitted on the brightest channel shrunk to at most FIT_SIZE px per side (a
    radius of ~120 px fits to a fraction of a pixel) and mapped back to the image's pixels.
    """
    h, w = image.shape[:2]
    brightness = channel_max(image)
    scale = min(1.0, FIT_SIZE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        brightness = np.asarray(cv2.resize(brightness, size, interpolation=cv2.INTER_AREA), np.uint8)
    fov = _find(np.asarray(cv2.medianBlur(brightness, 3), np.uint8))
    if scale == 1.0:
        return fov
    sy, sx = h / brightness.shape[0], w / brightness.shape[1]
    mask = cv2.resize(fov.mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return dataclasses.replace(fov, centre_x=(fov.centre_x + 0.5) * sx - 0.5, centre_y=(fov.centre_y + 0.5) * sy - 0.5,
                               radius=fov.radius * (sx + sy) / 2, mask=mask)


def _find(brightness: npt.NDArray[np.uint8]) -> FieldOfView:
    h, w = brightness.shape
    low, high = percentile_u8(brightness, 2), percentile_u8(brightness, 95)
    level = max(FIELD_LEVEL_MIN, FIELD_LEVEL_SHARE * high, low + FIELD_OVER_SURROUND)
    blob = _bright_blob(brightness, level)
    if blob is None:
        return _not_found(h, w)
    outline = _free_outline(blob)
    if outline.shape[0] < 16:
        return _not_found(h, w, blob)
    cx, cy, r = _fit_circle(outline)
    # A straight edge (a page, a lit half-frame) fits a huge circle: that is no aperture.
    if not (np.isfinite(r) and 4 < r < 2 * max(h, w)):
        return _not_found(h, w, blob)
    yy, xx = np.ogrid[:h, :w]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    inside_area = int(np.count_nonzero(inside))
    mask_area = int(np.count_nonzero(blob))
    residual = np.abs(np.hypot(outline[:, 0] - cx, outline[:, 1] - cy) - r) / r
    outside = ~_dilate(inside, max(2, round(0.03 * r)))
    # The field's dim parts (an eyelid's shadow, a dark crescent) are not black: they fill the
    # circle and trace its rim too, though too dark to have been fitted.
    dim = _bright_blob(brightness, FIELD_LEVEL_MIN) if level > FIELD_LEVEL_MIN else blob
    dim_outline = _free_outline(dim) if dim is not None else outline[:0]
    dim_residual = np.abs(np.hypot(dim_outline[:, 0] - cx, dim_outline[:, 1] - cy) - r) / r
    field = blob | dim if dim is not None else blob
    return FieldOfView(
        found=True,
        centre_x=cx,
        centre_y=cy,
        radius=r,
        mask=blob,
        diameter_fraction=2 * r / min(h, w),
        area_fraction=mask_area / (h * w),
        centre_offset=float(np.hypot(cx - w / 2, cy - h / 2)) / min(h, w),
        fill=float(np.count_nonzero(field & inside)) / max(inside_area, 1),
        spill=float(np.count_nonzero(blob & ~inside)) / max(mask_area, 1),
        arc_coverage=max(_arc_share(outline, cx, cy), _arc_share(dim_outline[dim_residual <= 2 * ON_CIRCLE_TOLERANCE],
                                                                 cx, cy)),
        rim_on_circle=max(_arc_share(outline[residual <= ON_CIRCLE_TOLERANCE], cx, cy),
                          _arc_share(dim_outline[dim_residual <= ON_CIRCLE_TOLERANCE], cx, cy)),
        surround_level=float(brightness[outside].mean()) if outside.any() else 255.0,
        rim_error=float(np.median(residual)),
    )


def _arc_share(points: npt.NDArray[np.float64], cx: float, cy: float) -> float:
    """Share (0..1) of the angular bins around (cx, cy) that hold at least one of the points."""
    angles = np.arctan2(points[:, 1] - cy, points[:, 0] - cx)
    bins = np.unique(((angles + np.pi) / (2 * np.pi) * ANGLE_BINS).astype(int) % ANGLE_BINS)
    return bins.size / ANGLE_BINS


def _bright_blob(brightness: npt.NDArray[np.uint8], level: float) -> Mask | None:
    """The largest blob brighter than `level`, holes filled; None when nothing is."""
    h, w = brightness.shape
    # Opening removes speckle (noise, dust, text) that would otherwise bridge onto the rim.
    opened = cv2.morphologyEx((brightness > level).astype(np.uint8), cv2.MORPH_OPEN, _disc(min(h, w) // 40))
    return _largest_blob(np.asarray(opened, np.uint8))


def _largest_blob(mask: npt.NDArray[np.uint8]) -> Mask | None:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = (labels == biggest).astype(np.uint8)
    # Fill holes (a dark macula or disc in a dim photo) by drawing the outer outline filled.
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(mask.shape, dtype=np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return np.asarray(filled, dtype=bool)


def _free_outline(blob: Mask) -> npt.NDArray[np.float64]:
    """(x, y) points of the blob's outline that are not on the image border."""
    contours, _ = cv2.findContours(blob.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate([np.asarray(c, dtype=np.float64).reshape(-1, 2) for c in contours])
    h, w = blob.shape
    x, y = points[:, 0], points[:, 1]
    free = (x > BORDER_MARGIN) & (x < w - 1 - BORDER_MARGIN) & (y > BORDER_MARGIN) & (y < h - 1 - BORDER_MARGIN)
    # A letterboxed or cropped photo has the frame's edge inside the image: a long straight run
    # of outline on the blob's top or bottom row (or first or last column) is that edge too.
    for coord, other in ((y, x), (x, y)):
        extent = float(other.max() - other.min()) + 1
        for extreme in (coord.min(), coord.max()):
            on_edge = np.abs(coord - extreme) <= 1
            if np.count_nonzero(on_edge) >= CLIP_RUN_SHARE * extent:
                free &= ~on_edge
    free_points: npt.NDArray[np.float64] = points[free]
    return free_points


def _fit_circle(points: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """Least-squares (Kåsa) circle through the points, refitted once without outliers.

    Outliers are notches, labels and eyelash shadows on the rim.
    """
    cx, cy, r = _kasa(points)
    residual = np.abs(np.hypot(points[:, 0] - cx, points[:, 1] - cy) - r)
    keep = residual <= max(2.0, 2.5 * float(np.median(residual)))
    if keep.sum() >= 16:
        cx, cy, r = _kasa(points[keep])
    return cx, cy, r


def _kasa(points: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    x, y = points[:, 0], points[:, 1]
    a = np.column_stack([x, y, np.ones_like(x)])
    b = x * x + y * y
    (d, e, f), *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = d / 2, e / 2
    return float(cx), float(cy), float(np.sqrt(max(f + cx * cx + cy * cy, 0.0)))


def _disc(radius: int) -> npt.NDArray[np.uint8]:
    radius = max(radius, 1)
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)), np.uint8)


def _dilate(mask: Mask, pixels: int) -> Mask:
    return cv2.dilate(mask.astype(np.uint8), _disc(pixels)).astype(bool)


def _not_found(h: int, w: int, mask: Mask | None = None) -> FieldOfView:
    area = float(mask.sum()) / (h * w) if mask is not None else 0.0
    return FieldOfView(
        found=False,
        centre_x=w / 2,
        centre_y=h / 2,
        radius=min(h, w) / 2,
        mask=mask if mask is not None else np.zeros((h, w), dtype=bool),
        diameter_fraction=0.0,
        area_fraction=area,
        centre_offset=0.0,
        fill=0.0,
        spill=0.0,
        arc_coverage=0.0,
        rim_on_circle=0.0,
        surround_level=0.0,
        rim_error=0.0,
    )

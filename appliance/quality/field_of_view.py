"""Field of view: find the bright fundus disc on its dark surround and fit its circle. Pure.

A fundus camera images the retina through a circular aperture, so a real photo is a bright
disc on a near-black surround, framed in one of several ways: the whole circle; the circle
clipped flat at top and bottom; a circle wider than the sensor, clipped on all four sides so
that only the corners are dark; with a notch on the rim; letterboxed into a wider frame; with a
date or name burned in (appliance/quality/stamps.py: found and painted over first). We
threshold the brightest channel, open the mask (speckle in the surround must not bridge onto
the rim), keep the largest blob with its holes filled (a dark macula is still field), and fit
a circle to the part of its outline that lies neither on the image border nor on a straight
frame edge (a letterbox bar). Coverage of the rim is measured against the part of the circle
that lies inside the frame (`visible_arc`), since a clipped rim cannot be seen.

A photo cropped inside the circle (no dark surround at all, `framing` "full-frame") has no rim
to fit: it is taken as field only when it looks like a retina edge to edge (red-dominated,
strongly coloured, with fine structure), and its circle is then the smallest one holding the
frame. A black frame has no blob, a document, a grey wall or a noise frame fills the whole frame
without looking like a retina, and an odd shape fills its fitted circle badly.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.pixels import channel_max, channel_min, percentile_u8
from appliance.quality.stamps import STAMP_SIZE, find_stamps, remove_stamps

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
#: The percentile of the frame's outermost pixels also taken for the surround's level: the dark
#: corners of a circle clipped on four sides are a few % of the edge, under 2 % of the frame.
EDGE_SURROUND_PERCENTILE = 5
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
#: An outline shorter than this (points at FIT_SIZE) cannot be fitted: the frame is full.
MIN_OUTLINE = 16
#: A blob filling this share of its frame (the image, or the box inside letterbox bars) is a
#: full frame, whatever bits of outline its corners show.
FULL_FRAME_FILL = 0.985
#: A fitted "rim" whose surround (inside the frame) is at least this share of the field's median
#: brightness, in a frame the field (dim parts included) fills to this share, is no aperture's
#: rim but the vignetted corners of a photo cropped inside its circle.
FULL_FRAME_SURROUND = 0.4
FULL_FRAME_NEAR = 0.9
#: A full frame is a retina when red is the largest channel in this share of it...
FULL_FRAME_RED = 0.9
#: ...its median saturation ((max - min) / max of the channels) is at least this (a retina is
#: strongly coloured; skin, paper and walls are not)...
FULL_FRAME_SATURATION = 0.25
#: ...with at most this share colourless (saturation under COLOURLESS): the white of an eye, paper.
FULL_FRAME_COLOURLESS = 0.12
COLOURLESS = 0.15
#: ...and its green channel has fine structure (vessels) all over: in at least FULL_FRAME_STRUCTURED
#: of the cells of a TEXTURE_GRID x TEXTURE_GRID grid, the standard deviation of a band-pass
#: (Gaussians of 2 and 8 px at FIT_SIZE) is at least FULL_FRAME_TEXTURE of the cell's mean.
FULL_FRAME_TEXTURE = 0.004
FULL_FRAME_STRUCTURED = 0.9
TEXTURE_GRID = 4


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
    #: How the frame holds the circle: "circle" (all of it in the frame), "clipped" (part of it
    #: beyond the frame's edges: top and bottom, or all four sides), "full-frame" (no rim in
    #: the frame at all), or "none" (not found).
    framing: str = "none"
    #: Share of the circle's circumference lying inside the frame, where a rim could be seen.
    visible_arc: float = 0.0
    #: Pixels of burned-in text or marks (appliance.quality.stamps), painted over before fitting.
    stamps: Mask | None = None

    def metrics(self) -> dict[str, float]:
        """The field-of-view metrics; a full frame has no fitted rim, so the rim's measures (and
        the circle's size, which is only a lower bound there) are left out and their rules skipped.
        A found field also gives its circle as shares of the frame (`circle_from_metrics`), so the
        model's preprocessing cuts its square around this fit instead of fitting again."""
        return {**self._measures(), **self._circle()} if self.found else self._measures()

    def _circle(self) -> dict[str, float]:
        h, w = self.mask.shape[:2]
        return {"fov_circle_x": (self.centre_x + 0.5) / w, "fov_circle_y": (self.centre_y + 0.5) / h,
                "fov_circle_r": self.radius / w}

    def _measures(self) -> dict[str, float]:
        if self.framing == "full-frame":
            return {
                "fov_found": float(self.found),
                "fov_full_frame": 1.0,
                "fov_area_fraction": self.area_fraction,
                "fov_centre_offset": self.centre_offset,
                "fov_fill": self.fill,
                "fov_spill": self.spill,
                "fov_surround_level": self.surround_level,
                "fov_stamp_fraction": self.stamp_fraction,
            }
        return {
            "fov_found": float(self.found),
            "fov_full_frame": 0.0,
            "fov_visible_arc": self.visible_arc,
            "fov_stamp_fraction": self.stamp_fraction,
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

    @property
    def stamp_fraction(self) -> float:
        """Share of the image covered by burned-in stamps."""
        return float(np.mean(self.stamps)) if self.stamps is not None and self.stamps.size else 0.0


def circle_from_metrics(metrics: Mapping[str, float], height: int, width: int) -> tuple[float, float, float] | None:
    """The fitted circle (centre x, centre y, radius in px) that the gate's `metrics` give for a
    copy of the photo `height` x `width` px (the photo, or a reduced decode of it); None when the
    gate found no field or the metrics predate the circle's keys."""
    try:
        x, y, r = (float(metrics[key]) for key in ("fov_circle_x", "fov_circle_y", "fov_circle_r"))
    except KeyError:
        return None
    if not all(map(math.isfinite, (x, y, r))):
        return None
    return x * width - 0.5, y * height - 0.5, r * width


def find_field(image: UInt8Image) -> FieldOfView:
    """Find the fundus disc in an RGB uint8 image (any size).

    Stamps are found and painted over on a copy at most STAMP_SIZE px per side; the circle is
    fitted on the brightest channel shrunk to at most FIT_SIZE px per side (a radius of ~120 px
    fits to a fraction of a pixel) and mapped back to the image's pixels. `stamps` and `mask`
    are at the image's size.
    """
    h, w = image.shape[:2]
    work = _shrink(image, STAMP_SIZE)
    stamps = find_stamps(work)
    work = remove_stamps(work, stamps)
    small = _shrink(work, FIT_SIZE)
    brightness = np.asarray(cv2.medianBlur(channel_max(small), 3), np.uint8)
    fov = _find(brightness, small)
    if stamps.shape != (h, w):
        stamps = (cv2.resize(stamps.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
                  if stamps.any() else np.zeros((h, w), dtype=bool))
    if brightness.shape == (h, w):
        return dataclasses.replace(fov, stamps=stamps)
    sy, sx = h / brightness.shape[0], w / brightness.shape[1]
    mask = cv2.resize(fov.mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return dataclasses.replace(fov, centre_x=(fov.centre_x + 0.5) * sx - 0.5, centre_y=(fov.centre_y + 0.5) * sy - 0.5,
                               radius=fov.radius * (sx + sy) / 2, mask=mask, stamps=stamps)


def _shrink(image: UInt8Image, size: int) -> UInt8Image:
    """A copy at most `size` px on its longer side, area-averaged; a camera's full-size photo is
    first averaged by a whole factor (OpenCV's fast path)."""
    h, w = image.shape[:2]
    if max(h, w) <= size:
        return image
    factor = max(h, w) // size
    if factor > 1:
        h, w = max(1, h // factor), max(1, w // factor)  # a sliver (130×65535) keeps a row
        image = np.asarray(cv2.resize(image[: h * factor, : w * factor], (w, h), interpolation=cv2.INTER_AREA),
                           np.uint8)
    scale = size / max(h, w)
    if scale >= 1.0:
        return image
    dsize = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, dsize, interpolation=cv2.INTER_AREA), np.uint8)


def _find(brightness: npt.NDArray[np.uint8], rgb: UInt8Image) -> FieldOfView:
    h, w = brightness.shape
    # The surround's level: the 2nd percentile, or the frame's edge where the dark surround is
    # under 2 % of the frame (a circle clipped on four sides so far that its corners are slivers).
    low = min(percentile_u8(brightness, 2), percentile_u8(_edge(brightness), EDGE_SURROUND_PERCENTILE))
    high = percentile_u8(brightness, 95)
    level = max(FIELD_LEVEL_MIN, FIELD_LEVEL_SHARE * high, low + FIELD_OVER_SURROUND)
    blob = _bright_blob(brightness, level)
    if blob is None:
        return _not_found(h, w)
    frame = _frame(blob)
    x0, y0, x1, y1 = frame
    frame_area = (x1 - x0 + 1) * (y1 - y0 + 1)
    # The field's dim parts (an eyelid's shadow, a dark crescent, the vignetted corners of a
    # full frame) are not black: they fill the circle and trace its rim too, though too dark to
    # have been fitted.
    dim = _bright_blob(brightness, FIELD_LEVEL_MIN) if level > FIELD_LEVEL_MIN else blob
    field = blob | dim if dim is not None else blob
    outline = _free_outline(blob)
    if outline.shape[0] < MIN_OUTLINE or np.count_nonzero(blob) >= FULL_FRAME_FILL * frame_area:
        full_frame = _full_frame(field, rgb, frame)
        if full_frame is not None:
            return full_frame
        if outline.shape[0] < MIN_OUTLINE:
            return _not_found(h, w, blob)
    cx, cy, r = _fit_circle(outline)
    # A straight edge (a page, a lit half-frame) fits a huge circle: that is no aperture.
    if not (np.isfinite(r) and 4 < r < 2 * max(h, w)):
        return _full_frame(field, rgb, frame) or _not_found(h, w, blob)
    visible = _visible_bins(cx, cy, r, frame)
    yy, xx = np.ogrid[:h, :w]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    inside_area = int(np.count_nonzero(inside))
    mask_area = int(np.count_nonzero(blob))
    residual = np.abs(np.hypot(outline[:, 0] - cx, outline[:, 1] - cy) - r) / r
    outside = ~_dilate(inside, max(2, round(0.03 * r)))
    outside[:y0] = outside[y1 + 1 :] = False
    outside[:, :x0] = outside[:, x1 + 1 :] = False
    surround = float(brightness[outside].mean()) if np.count_nonzero(outside) >= 16 else 0.0
    # Lit, not black, beyond the fitted "rim" of a frame the field nearly fills: that rim was
    # only the vignetted corners of a photo cropped inside its circle.
    if (surround >= FULL_FRAME_SURROUND * float(np.median(brightness[blob]))
            and np.count_nonzero(field[y0 : y1 + 1, x0 : x1 + 1]) >= FULL_FRAME_NEAR * frame_area):
        full_frame = _full_frame(field, rgb, frame)
        if full_frame is not None:
            return full_frame
    dim_outline = _free_outline(dim) if dim is not None else outline[:0]
    dim_residual = np.abs(np.hypot(dim_outline[:, 0] - cx, dim_outline[:, 1] - cy) - r) / r
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
        arc_coverage=max(_arc_share(outline, cx, cy, visible),
                         _arc_share(dim_outline[dim_residual <= 2 * ON_CIRCLE_TOLERANCE], cx, cy, visible)),
        rim_on_circle=max(_arc_share(outline[residual <= ON_CIRCLE_TOLERANCE], cx, cy, visible),
                          _arc_share(dim_outline[dim_residual <= ON_CIRCLE_TOLERANCE], cx, cy, visible)),
        # A frame holding no surround (only a sliver of each corner is dark) has none to be bright.
        surround_level=surround,
        rim_error=float(np.median(residual)),
        framing="circle" if visible.all() else "clipped",
        visible_arc=float(np.mean(visible)),
    )


def _edge(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The image's outermost rows and columns, as one array."""
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def _frame(blob: Mask) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the frame the field is seen through: the image, less letterbox bars,
    i.e. the blob's extreme rows and columns where they are a long straight run."""
    h, w = blob.shape
    rows, cols = np.flatnonzero(blob.any(axis=1)), np.flatnonzero(blob.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    width, height = right - left + 1, bottom - top + 1

    def straight(line: npt.NDArray[np.bool_], extent: int) -> bool:
        return bool(np.count_nonzero(line) >= CLIP_RUN_SHARE * extent)

    y0 = top if top > BORDER_MARGIN and straight(blob[top], width) else 0
    y1 = bottom if bottom < h - 1 - BORDER_MARGIN and straight(blob[bottom], width) else h - 1
    x0 = left if left > BORDER_MARGIN and straight(blob[:, left], height) else 0
    x1 = right if right < w - 1 - BORDER_MARGIN and straight(blob[:, right], height) else w - 1
    return x0, y0, x1, y1


def _visible_bins(cx: float, cy: float, r: float, frame: tuple[int, int, int, int]) -> npt.NDArray[np.bool_]:
    """For each of ANGLE_BINS bins, whether the circle at the bin's centre angle lies inside the
    frame (away from its edges by more than BORDER_MARGIN), where its rim could be seen."""
    x0, y0, x1, y1 = frame
    angles = (np.arange(ANGLE_BINS) + 0.5) / ANGLE_BINS * 2 * np.pi - np.pi
    x, y = cx + r * np.cos(angles), cy + r * np.sin(angles)
    margin = BORDER_MARGIN + 1
    visible: npt.NDArray[np.bool_] = (x > x0 + margin) & (x < x1 - margin) & (y > y0 + margin) & (y < y1 - margin)
    return visible


def _full_frame(blob: Mask, rgb: UInt8Image, frame: tuple[int, int, int, int]) -> FieldOfView | None:
    """A frame filled with field to its edges (or to its letterbox bars): field when it looks
    like a retina, its circle the smallest one holding the frame; None otherwise."""
    h, w = blob.shape
    x0, y0, x1, y1 = frame
    if not _looks_like_retina(rgb[y0 : y1 + 1, x0 : x1 + 1], blob[y0 : y1 + 1, x0 : x1 + 1]):
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = float(np.hypot(x1 - x0 + 1, y1 - y0 + 1)) / 2
    mask_area = int(np.count_nonzero(blob))
    in_frame = np.zeros_like(blob)
    in_frame[y0 : y1 + 1, x0 : x1 + 1] = True
    return FieldOfView(
        found=True,
        centre_x=cx,
        centre_y=cy,
        radius=r,
        mask=blob,
        diameter_fraction=2 * r / min(h, w),
        area_fraction=mask_area / (h * w),
        centre_offset=float(np.hypot(cx - (w - 1) / 2, cy - (h - 1) / 2)) / min(h, w),
        fill=float(np.count_nonzero(blob & in_frame)) / max(int(np.count_nonzero(in_frame)), 1),
        spill=float(np.count_nonzero(blob & ~in_frame)) / max(mask_area, 1),
        arc_coverage=0.0,
        rim_on_circle=0.0,
        surround_level=0.0,
        rim_error=0.0,
        framing="full-frame",
        visible_arc=0.0,
    )


def _looks_like_retina(rgb: UInt8Image, where: Mask) -> bool:
    """Red-dominated, strongly coloured nearly everywhere, and finely structured all over (see FULL_FRAME_*)."""
    if np.count_nonzero(where) < 100:
        return False
    brightest = channel_max(rgb).astype(np.float32)
    darkest = channel_min(rgb).astype(np.float32)
    red = rgb[:, :, 0].astype(np.float32)
    saturation = (brightest - darkest) / np.maximum(brightest, 1.0)
    return (float(np.mean(red[where] >= brightest[where])) >= FULL_FRAME_RED
            and float(np.median(saturation[where])) >= FULL_FRAME_SATURATION
            and float(np.mean(saturation[where] < COLOURLESS)) <= FULL_FRAME_COLOURLESS
            and structured_share(rgb[:, :, 1]) >= FULL_FRAME_STRUCTURED)


def structured_share(green: npt.NDArray[np.uint8]) -> float:
    """Share of the cells of a TEXTURE_GRID x TEXTURE_GRID grid over the frame (less a margin)
    whose band-pass green (Gaussians of 2 and 8 px, above pixel noise) varies by at least FULL_FRAME_TEXTURE of the
    cell's mean: vessels cross every part of a retina, while a lamp, a wall or the skin around an
    eye is smooth."""
    values = green.astype(np.float32)
    band = cv2.GaussianBlur(values, (0, 0), 2.0) - cv2.GaussianBlur(values, (0, 0), 8.0)
    m = 12  # px: the blurs reach across the frame's edge
    band, values = band[m:-m, m:-m], values[m:-m, m:-m]
    h, w = band.shape
    if h < 4 * TEXTURE_GRID or w < 4 * TEXTURE_GRID:
        return 0.0
    ys, xs = np.linspace(0, h, TEXTURE_GRID + 1).astype(int), np.linspace(0, w, TEXTURE_GRID + 1).astype(int)
    structured = [float(band[y0:y1, x0:x1].std()) >= FULL_FRAME_TEXTURE * max(float(values[y0:y1, x0:x1].mean()), 1.0)
                  for y0, y1 in itertools.pairwise(ys) for x0, x1 in itertools.pairwise(xs)]
    return float(np.mean(structured))


def _arc_share(points: npt.NDArray[np.float64], cx: float, cy: float, visible: npt.NDArray[np.bool_]) -> float:
    """Share (0..1) of the visible angular bins around (cx, cy) that hold at least one of the
    points (0 when no bin is visible)."""
    if not visible.any():
        return 0.0
    angles = np.arctan2(points[:, 1] - cy, points[:, 0] - cx)
    bins = np.unique(((angles + np.pi) / (2 * np.pi) * ANGLE_BINS).astype(int) % ANGLE_BINS)
    return float(np.count_nonzero(visible[bins])) / float(np.count_nonzero(visible))


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

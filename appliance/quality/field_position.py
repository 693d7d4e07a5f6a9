"""Field position: where the optic disc is, so the kiosk can say which field it got. Pure.

The optic disc is the brightest compact blob of the fundus, about a sixth of a 45° field across.
It is found as the peak of a band-pass (a Gaussian of about the disc's size, over the field only,
minus a Gaussian five times larger) of the green channel, relative to the large-scale level,
among the points where that band-pass is round (curving down in every direction: a blob, not a
bright crescent along the rim or a streak of flare). It is looked for within RIM radii first (where
the protocol's fields put it), then in the rim band out to SEARCH_RADIUS, where flare is common: a
peak there is taken for the disc only when it clearly outshines the best one inside (RIM_FACTOR,
RIM_MARGIN), so a disc at the rim is found and a bright spot of flare beside a visible disc is not.

Where the frame cuts the circle (clipped top and bottom, clipped on four sides, the inscribed
rectangle, a letterbox bar), the field ends in a corner where the frame's edge meets the rim: a
wedge cut off on two sides, which many cameras' bright rim (a halo of stray light) fills, and
which the band-pass then sees as a round blob. So no peak within a disc's radius of such a corner
(CORNER_CLEARANCE) is taken for the disc: what lies there cannot be seen whole. A disc really in
that corner is missed with it; one anywhere else on the rim, or beside a cut edge, is still found.
An edge that cuts only a sliver off the circle (under MIN_CUT_DEPTH: the ODIR release's square
crops) makes no such corner.

In a macula-centred photo the disc sits 0.4–0.8 radii from the centre on the nasal side: on the
image's right for a right eye, on its left for a left eye (the usual, non-inverted view); in a
disc-centred photo it is near the centre. A disc at the rim means the camera aimed off the
protocol's fields (`field_not_centred` when `field_offset` is over the profile's
`max_field_offset`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from appliance.domain import Eye, Field
from appliance.quality.field_view import FieldView, masked_blur

#: The band-pass is computed at 1/SCALE_DOWN of the view's scale.
SCALE_DOWN = 4
#: Gaussians (px at the view's scale, the field 256 px across) of the band-pass.
DISC_SIGMA = 8.0
SURROUND_SIGMA = 30.0
#: The disc is searched for within this distance of the centre (radii), so a disc at the rim (the
#: camera aimed off the protocol's fields) is found; the outermost sliver is left out, where the
#: band-pass sees too little of the field around a point.
SEARCH_RADIUS = 0.95
#: The rim band starts here (radii): a peak beyond it is the disc only when its prominence is at
#: least RIM_FACTOR times the best peak's inside plus RIM_MARGIN.
RIM = 0.8
RIM_FACTOR = 1.2
RIM_MARGIN = 0.1
#: A point is round enough for a disc when the band-pass curves down along its flattest direction
#: at least this share of its steepest (1 for a round blob, 0 for a ridge: a crescent, a streak).
MIN_ROUNDNESS = 0.5
#: Pixels (at the band-pass's scale) between the samples of the curvature: about the disc's radius.
CURVATURE_STEP = 2
#: A peak at least this much brighter than its surround (relative) counts as the disc.
MIN_PROMINENCE = 0.2
#: A peak closer than this (radii: the disc's radius, a sixth of the field's) to a corner of the
#: field (where an edge of the frame meets the rim) is no candidate...
CORNER_CLEARANCE = 1 / 6
#: ...where that edge cuts at least this much (radii) off the circle: ODIR's square crops cut
#: 0.04-0.06, the framings of docs/QUALITY.md 0.14 (clipped top and bottom) to 0.4 (inscribed).
MIN_CUT_DEPTH = 0.1
#: An edge of the frame cutting the field: a straight run of the field on its top or bottom row
#: (first or last column) at least this share of the field's width (height) long (a circle's own
#: top row is 4·sqrt(r) px long: under 0.2 of its width at the view's 128 px radius).
FRAME_EDGE_RUN = 0.3
#: Disc within this distance of the centre (radii): a disc-centred field.
DISC_CENTRED = 0.3
#: Disc between DISC_CENTRED and this distance, near the horizontal meridian: macula-centred.
MACULA_CENTRED = 0.85
#: The meridian band: |vertical offset| at most this (radii) for a macula-centred field.
MERIDIAN = 0.35


@dataclass(frozen=True)
class DiscPosition:
    """The optic disc's position in field radii from the circle's centre (x to the image's
    right, y down) and its prominence (relative excess over its surround; <= 0 when none)."""

    x: float
    y: float
    prominence: float

    @property
    def offset(self) -> float:
        return float(np.hypot(self.x, self.y))

    def metrics(self) -> dict[str, float]:
        return {"disc_x": self.x, "disc_y": self.y, "disc_prominence": self.prominence}


NOT_FOUND = DiscPosition(0.0, 0.0, 0.0)


def find_disc(view: FieldView) -> DiscPosition:
    """The brightest compact blob of the field in `view`; NOT_FOUND when the field is black."""
    # At a quarter of the view's scale: the disc is ~10 px across there, and the blurs are 16x cheaper.
    h, w = view.green.shape
    size = (max(1, w // SCALE_DOWN), max(1, h // SCALE_DOWN))
    green = np.asarray(cv2.resize(view.green, size, interpolation=cv2.INTER_AREA), np.float32)
    mask = cv2.resize(view.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    rho = cv2.resize(view.rho, size, interpolation=cv2.INTER_LINEAR)
    disc = masked_blur(green, mask, DISC_SIGMA / SCALE_DOWN)
    surround = masked_blur(green, mask, SURROUND_SIGMA / SCALE_DOWN)
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = (disc - surround) / np.maximum(surround, 1.0)
    search = mask & (rho < SEARCH_RADIUS) & np.isfinite(excess) & (roundness(disc) >= MIN_ROUNDNESS)
    # Not in a corner where the frame's edge meets the rim (see the module's docstring); such a
    # corner lies in the rim band.
    seen_whole = cv2.resize((corner_distance(view) >= CORNER_CLEARANCE).astype(np.uint8), size,
                            interpolation=cv2.INTER_NEAREST).astype(bool)
    scores = np.where(np.isfinite(excess), excess, -np.inf).astype(np.float64)
    inside, rim = _peak(scores, search & (rho < RIM)), _peak(scores, search & (rho >= RIM) & seen_whole)
    inner_best = max(float(scores[inside]), 0.0) if inside is not None else 0.0
    peak = rim if rim is not None and (inside is None or scores[rim] >= RIM_FACTOR * inner_best + RIM_MARGIN) \
        else inside
    if peak is None:
        return NOT_FOUND
    y, x = peak
    # The peak cell's centre, back in the view's pixels.
    vy, vx = min(h - 1, int((y + 0.5) * h / size[1])), min(w - 1, int((x + 0.5) * w / size[0]))
    return DiscPosition(x=float(view.dx[vy, vx]), y=float(view.dy[vy, vx]), prominence=float(excess[y, x]))


def corner_distance(view: FieldView) -> npt.NDArray[np.float32]:
    """Each pixel's distance (radii) from the nearest corner of the field, where an edge of the
    frame that cuts at least MIN_CUT_DEPTH off the circle meets the rim; inf everywhere when there
    is none (a whole circle, or only slivers cut off).

    The frame's edges are found on the field itself (FRAME_EDGE_RUN): the view's border where the
    field reaches it, or a letterbox bar's edge inside the view."""
    mask = view.mask
    out = np.full(mask.shape, np.inf, np.float32)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size < 2 or cols.size < 2:
        return out
    height, width = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
    # Half a pixel in radii: an edge lies on the outer side of the field's last row (column).
    half_y = float(view.dy[1, 0] - view.dy[0, 0]) / 2
    half_x = float(view.dx[0, 1] - view.dx[0, 0]) / 2
    # Each edge as (the offset along it, the offset across it, where it crosses).
    edges: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], float]] = []
    for row, side in ((int(rows[0]), -1.0), (int(rows[-1]), 1.0)):
        if np.count_nonzero(mask[row]) >= FRAME_EDGE_RUN * width:
            edges.append((view.dx, view.dy, float(view.dy[row, 0]) + side * half_y))
    for col, side in ((int(cols[0]), -1.0), (int(cols[-1]), 1.0)):
        if np.count_nonzero(mask[:, col]) >= FRAME_EDGE_RUN * height:
            edges.append((view.dy, view.dx, float(view.dx[0, col]) + side * half_x))
    for along, across, at in edges:
        if abs(at) > 1.0 - MIN_CUT_DEPTH:
            continue
        # The edge meets the rim at (±half_chord along it).
        half_chord = float(np.sqrt(1.0 - at * at))
        gap = np.hypot(np.abs(along) - half_chord, across - at)
        out = np.minimum(out, gap.astype(np.float32))
    return out


def _peak(values: npt.NDArray[np.float64], where: npt.NDArray[np.bool_]) -> tuple[int, int] | None:
    """The (row, column) of the largest of `values` where `where` holds; None when it holds nowhere."""
    if not where.any():
        return None
    y, x = np.unravel_index(int(np.argmax(np.where(where, values, -np.inf))), values.shape)
    return int(y), int(x)


def roundness(image: npt.NDArray[np.float32], step: int = CURVATURE_STEP) -> npt.NDArray[np.float32]:
    """How round a peak each pixel of `image` sits on: the Hessian's (by central differences
    `step` px apart) flatter curvature over its steeper one where both curve down (1 a round
    blob, 0 a ridge), negative at a saddle, -1 where the image does not curve down or cannot be
    measured (NaN within `step` px)."""
    padded = np.pad(image.astype(np.float32), step, constant_values=np.nan)
    h, w = image.shape

    def at(dy: int, dx: int) -> npt.NDArray[np.float32]:
        return padded[step + dy: step + dy + h, step + dx: step + dx + w]

    centre = at(0, 0)
    dxx = at(0, step) + at(0, -step) - 2 * centre
    dyy = at(step, 0) + at(-step, 0) - 2 * centre
    dxy = (at(step, step) + at(-step, -step) - at(step, -step) - at(-step, step)) / 4
    half_trace = (dxx + dyy) / 2
    root = np.sqrt(np.maximum(half_trace**2 - (dxx * dyy - dxy**2), 0))
    steep, flat = half_trace - root, half_trace + root  # steep <= flat; a peak has steep < 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(steep < 0, flat / steep, -1.0)
    out: npt.NDArray[np.float32] = np.nan_to_num(ratio, nan=-1.0).astype(np.float32)
    return out


def field_offset(disc: DiscPosition, min_prominence: float = MIN_PROMINENCE) -> float:
    """The disc's distance from the field's centre in radii; 0 when no disc was found (an
    unknown position is not reported as off-centre)."""
    return disc.offset if disc.prominence >= min_prominence else 0.0


def field_from_metrics(metrics: Mapping[str, float], min_prominence: float = MIN_PROMINENCE) -> Field:
    """Which field a QualityReport's metrics show: DISC, MACULA, or UNKNOWN (no clear disc, or a
    disc where neither protocol field puts it)."""
    if metrics.get("disc_prominence", 0.0) < min_prominence:
        return Field.UNKNOWN
    x, y = metrics.get("disc_x", 0.0), metrics.get("disc_y", 0.0)
    offset = float(np.hypot(x, y))
    if offset < DISC_CENTRED:
        return Field.DISC
    if offset < MACULA_CENTRED and abs(y) <= MERIDIAN:
        return Field.MACULA
    return Field.UNKNOWN


def eye_from_metrics(metrics: Mapping[str, float], min_prominence: float = MIN_PROMINENCE) -> Eye | None:
    """The eye a macula-centred photo looks like, from the disc's side (RIGHT when the disc is on
    the image's right); None when the field is not macula-centred. A hint for the operator, not a
    verdict: some cameras and exports flip the image."""
    if field_from_metrics(metrics, min_prominence) is not Field.MACULA:
        return None
    return Eye.RIGHT if metrics.get("disc_x", 0.0) > 0 else Eye.LEFT

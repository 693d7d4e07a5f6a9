"""Burned-in stamps: a date, a time, a patient name or a logo printed into the photo. Pure.

Cameras print them in saturated pure colours (green, yellow) or white, in thin strokes, inside or
outside the field. Left in, they spoil every measure: a stamp on the black surround is a bright
blob that bends the field's outline, and one inside the field reads as saturated pixels, colour
cast and sharp detail. A retina has no such strokes: its vessels are dark, its bright structures
(the optic disc, exudates, reflexes) are orange to pale yellow, never pure green, and the only
near-white ones are blobs, not strokes.

`find_stamps` marks stroke pixels: much brighter than their surroundings at a stroke's width (a
morphological top-hat) and of a stamp's colour; `remove_stamps` paints them over from their
surroundings (OpenCV inpainting), so the checks see the photo without them.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from appliance.quality.pixels import channel_min

UInt8Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

#: Stamps are looked for on a copy at most this many px on its longer side: text strokes 1-2 px
#: wide at a camera's resolution keep their colour there.
STAMP_SIZE = 1024
#: A stroke is narrower than this (px at STAMP_SIZE)...
STROKE_WIDTH = 5
#: ...and brighter (brightest channel, 0..255) than the opening of that width around it by this much.
STROKE_CONTRAST = 40
#: Stamp colours: white (every channel at least WHITE_LEVEL), or a pure green (green over red and
#: blue by PURE_MARGIN) or yellow (red and green over blue by PURE_MARGIN), at least COLOUR_LEVEL
#: bright.
WHITE_LEVEL = 160
COLOUR_LEVEL = 120
PURE_MARGIN = 110
#: Stroke cores: white (every channel at least CORE_LEVEL, within CORE_GREY of each other), or
#: green or yellow by CORE_MARGIN at least CORE_LEVEL bright.
CORE_LEVEL = 200
CORE_GREY = 40
CORE_MARGIN = 150
MIN_CORE = 10
#: Letters of a line are joined across gaps this wide (px); a line is this many times wider than high.
LETTER_GAP = 15
LINE_ASPECT = 2.5
#: Stroke pixels are grown by this many px, to take the anti-aliased edge of the letters too.
GROW = 1
#: A stamp has at least this many stroke pixels (at STAMP_SIZE): a few specks are no text.
MIN_PIXELS = 30
#: Stamps cover at most this share of the image: strokes of stamp colours all over it are the
#: image itself (sensor noise, a white page), which must be judged as it is.
MAX_SHARE = 0.05
#: ...and lie together: CLUSTER_SHARE of them in at most CLUSTER_CELLS cells of a
#: CLUSTER_GRID x CLUSTER_GRID grid (a date and a name in two corners take 2-6 cells).
CLUSTER_GRID = 8
CLUSTER_SHARE = 0.9
CLUSTER_CELLS = 12
#: Inpainting radius (px).
INPAINT_RADIUS = 3


def find_stamps(image: UInt8Image) -> Mask:
    """Pixels of burned-in text or marks in an RGB uint8 image, at the image's size.

    Returns an all-False mask when there is none (the usual case), or when stroke-like pixels
    cover more than MAX_SHARE of the image or are spread all over it.
    """
    h, w = image.shape[:2]
    scale = min(1.0, STAMP_SIZE / max(h, w))
    small = image
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    mask = _strokes(small)
    if np.count_nonzero(mask) < MIN_PIXELS or np.mean(mask) > MAX_SHARE or not _clustered(mask):
        return np.zeros((h, w), dtype=bool)
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((2 * GROW + 1, 2 * GROW + 1), np.uint8)).astype(bool)
    if scale < 1.0:
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return mask


def remove_stamps(image: UInt8Image, stamps: Mask) -> UInt8Image:
    """The image with the stamp pixels painted over from their surroundings (a copy; the image
    itself when there are none)."""
    if not stamps.any():
        return image
    return np.asarray(cv2.inpaint(image, stamps.astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA), np.uint8)


def _clustered(mask: Mask) -> bool:
    """True when the stroke pixels lie together, as lines of text and logos do: CLUSTER_SHARE of
    them within at most CLUSTER_CELLS of the CLUSTER_GRID x CLUSTER_GRID cells of the image.
    Stroke-coloured specks spread all over are the image's own (noise, texture)."""
    h, w = mask.shape
    ys = np.minimum(np.nonzero(mask)[0] * CLUSTER_GRID // h, CLUSTER_GRID - 1)
    xs = np.minimum(np.nonzero(mask)[1] * CLUSTER_GRID // w, CLUSTER_GRID - 1)
    counts = np.sort(np.bincount(ys * CLUSTER_GRID + xs, minlength=CLUSTER_GRID**2))[::-1]
    cells = int(np.searchsorted(np.cumsum(counts), CLUSTER_SHARE * counts.sum())) + 1
    return cells <= CLUSTER_CELLS


def _strokes(rgb: UInt8Image) -> Mask:
    """Thin strokes of a stamp colour: for each colour, a top-hat of how strongly each pixel shows
    it (whiteness, greenness, yellowness), so a green stroke stands out on a bright red retina too.
    Kept only in text lines (see _text_lines) holding pure-coloured stroke cores."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (STROKE_WIDTH, STROKE_WIDTH))
    r, g, b = (np.ascontiguousarray(rgb[:, :, i]) for i in range(3))
    lowest = channel_min(rgb)
    highest = cv2.max(cv2.max(r, g), b)
    greenness = cv2.subtract(g, cv2.max(r, b))
    yellowness = cv2.subtract(cv2.min(r, g), b)
    stroke = np.zeros(lowest.shape, dtype=bool)
    for strength, level, colour in ((lowest, WHITE_LEVEL, lowest),
                                    (greenness, PURE_MARGIN, g),
                                    (yellowness, PURE_MARGIN, cv2.min(r, g))):
        if int(strength.max()) < level:
            continue
        tophat = cv2.morphologyEx(strength, cv2.MORPH_TOPHAT, kernel)
        stroke |= (tophat >= STROKE_CONTRAST) & (strength >= level) & (colour >= COLOUR_LEVEL)
    if not stroke.any():
        return stroke
    # Cores: the colours a stamp is printed in, which no retina shows (pure white, green, yellow).
    core = stroke & (((lowest >= CORE_LEVEL) & (cv2.subtract(highest, lowest) <= CORE_GREY))
                     | ((greenness >= CORE_MARGIN) & (g >= CORE_LEVEL))
                     | ((yellowness >= CORE_MARGIN) & (cv2.min(r, g) >= CORE_LEVEL)))
    return _text_lines(stroke, core)


def _text_lines(stroke: Mask, core: Mask) -> Mask:
    """The strokes that join, letter to letter, into lines wider than LINE_ASPECT times their
    height, each with at least MIN_CORE core pixels: printed text, not a lesion or a reflex."""
    joined = cv2.morphologyEx(stroke.astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_RECT, (LETTER_GAP, 3)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    cores = np.bincount(labels[core], minlength=count)
    keep = np.zeros(count, dtype=bool)
    for i in range(1, count):
        width, height = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
        keep[i] = width >= LINE_ASPECT * height and cores[i] >= MIN_CORE
    lines: Mask = stroke & keep[labels]
    return lines

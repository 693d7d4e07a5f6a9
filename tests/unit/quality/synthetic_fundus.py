"""Synthetic test photos for the quality gate: a fundus-like disc, and things that are not fundi."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def fundus(height: int = 600, width: int = 800, *, radius: float = 0.46, centre: tuple[float, float] = (0.5, 0.5),
           seed: int = 0) -> Image:
    """An RGB fundus-like photo: an orange disc with vessels, optic disc and macula on black.

    `radius` is a share of the height; `centre` is (x, y) as shares of width and height.
    """
    rng = np.random.default_rng(seed)
    cx, cy, r = centre[0] * width, centre[1] * height, radius * height
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    dist = np.hypot(xx - cx, yy - cy) / r
    vignette = np.clip(1.0 - 0.35 * dist**2, 0, 1)
    image = np.zeros((height, width, 3), np.float32)
    for channel, level in enumerate((200.0, 95.0, 40.0)):
        image[:, :, channel] = level * vignette
    # Choroidal texture: faint, fine-grained.
    texture = cv2.GaussianBlur(rng.normal(0, 6, (height, width)).astype(np.float32), (0, 0), 1.5)
    image += texture[:, :, None] * np.array([1.0, 0.6, 0.3], np.float32)
    disc_x, disc_y = cx + 0.45 * r, cy
    cv2.circle(image, (round(cx - 0.3 * r), round(cy)), round(0.12 * r), (150, 60, 25), -1)  # macula
    image = cv2.GaussianBlur(image, (0, 0), 0.04 * r)  # soft macula edge; texture re-added below
    image += texture[:, :, None] * np.array([1.0, 0.6, 0.3], np.float32)
    for _ in range(14):  # vessels: dark red curves leaving the optic disc
        angle = rng.uniform(0, 2 * np.pi)
        bend = rng.uniform(-1.5, 1.5)
        t = np.linspace(0, 1.4 * r, 60)
        theta = angle + bend * t / r
        points = np.stack([disc_x + t * np.cos(theta), disc_y + t * np.sin(theta)], axis=1)
        thickness = int(rng.integers(2, 6))
        cv2.polylines(image, [points.astype(np.int32)], False, (120, 30, 20), thickness, cv2.LINE_AA)
    cv2.circle(image, (round(disc_x), round(disc_y)), round(0.13 * r), (245, 215, 150), -1, cv2.LINE_AA)
    image[dist > 1.0] = 0  # the camera's circular aperture
    return np.clip(image, 0, 255).astype(np.uint8)


def black(height: int = 600, width: int = 800) -> Image:
    return np.zeros((height, width, 3), np.uint8)


def white(height: int = 600, width: int = 800) -> Image:
    return np.full((height, width, 3), 255, np.uint8)


def noise(height: int = 600, width: int = 800, seed: int = 0) -> Image:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def document(height: int = 800, width: int = 600) -> Image:
    """A photographed page: white paper with lines of black text."""
    page = np.full((height, width, 3), 245, np.uint8)
    for line, y in enumerate(range(60, height - 40, 36)):
        cv2.putText(page, f"Referral letter line {line}: patient history", (30, y), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (20, 20, 20), 1, cv2.LINE_AA)
    return page


def darken(image: Image, factor: float) -> Image:
    return (image.astype(np.float32) * factor).astype(np.uint8)


def wash_out(image: Image, keep: float = 0.2) -> Image:
    """Overexpose: push the lit field towards white, keeping `keep` of its detail; the dark surround
    (including a real photo's JPEG noise in it) stays as it was."""
    lit = image.max(axis=2) > 20
    out = image.astype(np.float32)
    out[lit] = 255 - (255 - out[lit]) * keep
    return out.astype(np.uint8)


def blur(image: Image, share: float = 0.02) -> Image:
    """Heavy defocus: a Gaussian blur of `share` of the image's longer side."""
    return cv2.GaussianBlur(image, (0, 0), share * max(image.shape[:2]))


def shade(image: Image, side: str = "left", depth: float = 0.8, width: float = 0.45) -> Image:
    """A shadow over one side of the field (a small pupil, a misaligned camera): brightness falls
    smoothly to (1 - depth) across `width` of the frame from that edge."""
    w = image.shape[1]
    ramp = np.clip(np.linspace(0, 1, w) / width, 0, 1).astype(np.float32)
    if side == "right":
        ramp = ramp[::-1]
    gain = 1 - depth * (1 - ramp)
    return np.clip(image.astype(np.float32) * gain[None, :, None], 0, 255).astype(np.uint8)


def eyelid(image: Image, share: float = 0.22) -> Image:
    """The upper lid and lashes over the top of the field: a dark band with a soft edge."""
    h = image.shape[0]
    y = np.arange(h, dtype=np.float32)
    edge = share * h
    gain = np.clip((y - edge) / (0.04 * h) + 0.5, 0.08, 1.0)
    return (image.astype(np.float32) * gain[:, None, None]).astype(np.uint8)


def crescent(image: Image, side: str = "right", strength: float = 160.0) -> Image:
    """A bright crescent of stray light along one side of the rim (camera too close or off-axis)."""
    h, w = image.shape[:2]
    lit = image.max(axis=2) > 20
    xx = np.mgrid[:h, :w][1].astype(np.float32)
    x = xx / w if side == "right" else 1 - xx / w
    glow = strength * np.clip((x - 0.72) / 0.12, 0, 1)
    out = image.astype(np.float32) + (glow * lit)[:, :, None] * np.array([1.0, 1.0, 0.9], np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def haze(image: Image, amount: float = 0.6) -> Image:
    """A grey-white veil over the field (flare, a dirty lens): detail and colour wash out."""
    lit = image.max(axis=2) > 20
    out = image.astype(np.float32)
    out[lit] = (1 - amount) * out[lit] + amount * 200.0
    return out.astype(np.uint8)

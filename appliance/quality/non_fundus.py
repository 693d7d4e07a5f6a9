"""Synthetic photos that are not fundus photos: the gate's negative controls. Pure.

Every one of them must be refused with `not_fundus`. They stand for what reaches a screening
camera by mistake: a face or an external-eye shot (the camera's anterior mode, the operator's
phone), a referral letter, a capped lens, a sensor fault, a lamp. The hard cases are the ones a
fundus camera would frame inside its round aperture, so several are drawn that way.

`NON_FUNDUS` maps a stable name to a generator `(height, width, seed) -> RGB uint8 image`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

UInt8Image = npt.NDArray[np.uint8]
Generator = Callable[[int, int, int], UInt8Image]

SKIN = (205, 160, 130)
SCLERA = (238, 236, 230)
IRIS = (120, 80, 40)


def blank(level: int) -> Generator:
    """A uniform frame at `level` (0..255) in every channel, with faint sensor noise."""

    def make(height: int, width: int, seed: int) -> UInt8Image:
        noise = np.random.default_rng(seed).normal(0, 1.5, (height, width, 3))
        return _clip(level + noise)

    return make


def uniform_noise(height: int, width: int, seed: int) -> UInt8Image:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def noise_in_aperture(height: int, width: int, seed: int) -> UInt8Image:
    """Sensor noise inside a round aperture: a camera whose sensor or cable failed."""
    image = uniform_noise(height, width, seed)
    image[~_aperture(height, width)] = 0
    return image


def document(height: int, width: int, seed: int) -> UInt8Image:
    """A photographed page: white paper with lines of black text."""
    page = _clip(np.full((height, width, 3), 240.0) + np.random.default_rng(seed).normal(0, 3, (height, width, 3)))
    step = max(12, height // 22)
    for line, y in enumerate(range(2 * step, height - step, step)):
        cv2.putText(page, f"Referral letter {line}: history of diabetes, HbA1c", (width // 20, y),
                    cv2.FONT_HERSHEY_SIMPLEX, step / 40, (20, 20, 20), max(1, step // 20), cv2.LINE_AA)
    return page


def bright_rectangle(height: int, width: int, seed: int) -> UInt8Image:
    """A lit rectangle (a lamp, a screen) on black."""
    image = np.zeros((height, width, 3), np.uint8)
    cv2.rectangle(image, (width // 5, height // 6), (4 * width // 5, 5 * height // 6), (230, 200, 170), -1)
    return _add_noise(image, seed)


def bright_square(height: int, width: int, seed: int) -> UInt8Image:
    """A square lit patch on black, as round-ish as a rectangle gets."""
    side = int(0.7 * min(height, width))
    image = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - side) // 2, (height - side) // 2
    cv2.rectangle(image, (x0, y0), (x0 + side, y0 + side), (220, 120, 60), -1)
    return _add_noise(image, seed)


def gradient_photo(height: int, width: int, seed: int) -> UInt8Image:
    """A colour photo-like scene: sky over ground, a sun, smooth gradients."""
    y, x = np.mgrid[:height, :width].astype(np.float32)
    t = y / height
    sky = np.stack([90 + 80 * t, 140 + 60 * t, 230 - 40 * t], axis=2)
    ground = np.stack([110 - 40 * t, 150 - 50 * t, 60 + 0 * t], axis=2)
    image = np.where((y > 0.6 * height + 0.05 * height * np.sin(x / width * 6))[:, :, None], ground, sky)
    cv2.circle(image, (int(0.75 * width), int(0.2 * height)), max(3, height // 12), (255, 240, 200), -1)
    return _add_noise(_clip(image), seed)


def gradient_in_aperture(height: int, width: int, seed: int) -> UInt8Image:
    """The same scene seen through a round aperture (a phone photo through a lens)."""
    image = gradient_photo(height, width, seed)
    image[~_aperture(height, width)] = 0
    return image


def face(height: int, width: int, seed: int) -> UInt8Image:
    """A face: a skin-toned oval with eyes, brows and a mouth, on a grey wall."""
    image = np.full((height, width, 3), 120, np.uint8)
    _draw_face(image)
    return _add_noise(image, seed)


def face_on_black(height: int, width: int, seed: int) -> UInt8Image:
    """A face lit by the flash against a dark room: a bright oval on black."""
    image = np.zeros((height, width, 3), np.uint8)
    _draw_face(image)
    return _add_noise(image, seed)


def external_eye(height: int, width: int, seed: int) -> UInt8Image:
    """A close-up of the front of the eye: skin, lids, white sclera, brown iris, black pupil."""
    image = np.full((height, width, 3), SKIN, np.uint8)
    _draw_eye(image, (width // 2, height // 2), int(0.42 * width), int(0.2 * height))
    return _add_noise(image, seed)


def external_eye_in_aperture(height: int, width: int, seed: int) -> UInt8Image:
    """The front of the eye framed by a fundus camera's round aperture (its anterior mode)."""
    image = external_eye(height, width, seed)
    image[~_aperture(height, width)] = 0
    return image


#: Every negative control, by name. All must be refused as `not_fundus`.
NON_FUNDUS: dict[str, Generator] = {
    "blank-black": blank(0),
    "blank-grey": blank(128),
    "blank-white": blank(255),
    "uniform-noise": uniform_noise,
    "noise-in-aperture": noise_in_aperture,
    "document": document,
    "bright-rectangle": bright_rectangle,
    "bright-square": bright_square,
    "gradient-photo": gradient_photo,
    "gradient-in-aperture": gradient_in_aperture,
    "face": face,
    "face-on-black": face_on_black,
    "external-eye": external_eye,
    "external-eye-in-aperture": external_eye_in_aperture,
}


def non_fundus_images(height: int = 600, width: int = 800, seed: int = 0) -> dict[str, UInt8Image]:
    """One image of each negative control at the given size (each side >= 64 px)."""
    return {name: make(height, width, seed) for name, make in NON_FUNDUS.items()}


def _draw_face(image: UInt8Image) -> None:
    h, w = image.shape[:2]
    cx, cy = w // 2, h // 2
    cv2.ellipse(image, (cx, cy), (int(0.3 * h), int(0.42 * h)), 0, 0, 360, SKIN, -1, cv2.LINE_AA)
    for side in (-1, 1):
        eye = (cx + side * int(0.13 * h), cy - int(0.08 * h))
        cv2.ellipse(image, (eye[0], eye[1] - int(0.06 * h)), (int(0.07 * h), int(0.015 * h)), 0, 0, 360,
                    (70, 50, 40), -1, cv2.LINE_AA)  # brow
        _draw_eye(image, eye, int(0.07 * h), int(0.03 * h))
    cv2.ellipse(image, (cx, cy + int(0.2 * h)), (int(0.1 * h), int(0.03 * h)), 0, 0, 360, (170, 80, 80), -1,
                cv2.LINE_AA)  # mouth


def _draw_eye(image: UInt8Image, centre: tuple[int, int], half_width: int, half_height: int) -> None:
    """Almond of sclera with iris, pupil, catch-light and a fringe of lashes on the upper lid."""
    cv2.ellipse(image, centre, (half_width, half_height), 0, 0, 360, SCLERA, -1, cv2.LINE_AA)
    iris = max(2, int(0.95 * half_height))
    cv2.circle(image, centre, iris, IRIS, -1, cv2.LINE_AA)
    cv2.circle(image, centre, max(1, iris // 2), (10, 10, 10), -1, cv2.LINE_AA)
    cv2.circle(image, (centre[0] + iris // 4, centre[1] - iris // 4), max(1, iris // 8), (255, 255, 255), -1)
    for k in range(-8, 9):
        x = centre[0] + k * half_width // 9
        top = centre[1] - int(half_height * np.sqrt(max(0.0, 1 - (k / 9) ** 2)))
        cv2.line(image, (x, top), (x + k * half_width // 40, top - max(2, half_height // 3)), (30, 25, 20),
                 max(1, half_height // 25), cv2.LINE_AA)


def _aperture(height: int, width: int) -> npt.NDArray[np.bool_]:
    yy, xx = np.ogrid[:height, :width]
    r = 0.46 * min(height, width)
    inside: npt.NDArray[np.bool_] = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 <= r * r
    return inside


def _add_noise(image: UInt8Image, seed: int) -> UInt8Image:
    noise = np.random.default_rng(seed).normal(0, 2, image.shape)
    return _clip(image.astype(np.float32) + noise)


def _clip(values: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> UInt8Image:
    return np.asarray(np.clip(np.rint(values), 0, 255), dtype=np.uint8)

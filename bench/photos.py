"""Photos at a camera's full resolution for benchmarks and fault loops, made from the shipped samples.

The simulated camera's demo photos (IDRiD, 512×340) are upscaled with OpenCV (cubic) to the size asked,
given a little sensor-like grain (so that the JPEG weighs what a camera's does: a smooth upscale compresses
to a fraction of it and decodes unrealistically fast) and re-encoded as JPEG quality 92. Two photos per
eye, all four passing the quality gate, each exam's bytes unique (a different grain seed) so that the
store never shares a file between exams.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from appliance.devices.simulated import SAMPLES_DIR
from appliance.domain import Eye

#: Camera resolutions of the benchmark, by name: (width, height); None keeps the sample's own size.
SIZES: dict[str, tuple[int, int] | None] = {
    "512px": None,
    "3000x2000": (3000, 2000),
    "12MP": (4000, 3000),
    "48MP": (8000, 6000),
}
#: Two photos per eye: the healthy demo pairs.
SAMPLES = (("healthy_01", Eye.RIGHT), ("healthy_02", Eye.RIGHT), ("healthy_01", Eye.LEFT), ("healthy_02", Eye.LEFT))
#: Standard deviation of the grain, in levels of 0..255.
GRAIN = 3.0
JPEG_QUALITY = 92


@dataclass(frozen=True)
class Photo:
    eye: Eye
    name: str
    jpeg: bytes


def exam_photos(size: str, seed: int = 0) -> list[Photo]:
    """The four photos of one exam at `size` (a key of SIZES); `seed` makes each exam's bytes its own."""
    wanted = SIZES[size]
    rng = np.random.default_rng(seed)
    photos = []
    for name, eye in SAMPLES:
        image = np.asarray(cv2.imread(str(SAMPLES_DIR / f"{name}_{eye.value}.jpg"), cv2.IMREAD_COLOR), np.uint8)
        if wanted is not None:
            image = np.asarray(cv2.resize(image, wanted, interpolation=cv2.INTER_CUBIC), np.uint8)
        grain = rng.normal(0.0, GRAIN, image.shape)
        noisy = np.clip(image.astype(np.float32) + grain, 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {name} at {size}")
        photos.append(Photo(eye=eye, name=f"{name}_{eye.value}.jpg", jpeg=encoded.tobytes()))
    return photos

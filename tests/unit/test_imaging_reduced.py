"""decode_image(reduced=True), the model's decode: a camera's JPEG decoded at 1/2, 1/4 or 1/8 (libjpeg's
scaled IDCT), other formats reduced by the same factor, the shorter side never under MODEL_MIN_SIDE, EXIF
orientation still applied; a reduced photo looks like the full one averaged. The quality gate keeps every
pixel, because averaging hides the noise of a sensor fault."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from appliance.config import LimitsConfig, QualityConfig
from appliance.imaging import MODEL_MIN_SIDE, ImageHeader, decode_image, read_header, reduction
from appliance.quality import assess

LIMITS = LimitsConfig()


def card(height: int, width: int) -> npt.NDArray[np.uint8]:
    """A colour card (BGR) with a bright disc off-centre to the right, so orientation can be told."""
    y, x = np.mgrid[:height, :width]
    bgr = np.stack([(x * 200 // width), (y * 200 // height), np.full_like(x, 90)], axis=2).astype(np.uint8)
    cv2.circle(bgr, (3 * width // 4, height // 2), min(height, width) // 6, (30, 60, 240), -1)
    return bgr


def jpeg(bgr: npt.NDArray[np.uint8], quality: int = 92) -> bytes:
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def with_exif_orientation(data: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF APP1 segment holding only the Orientation tag."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


@pytest.mark.parametrize(("width", "height", "factor"), [
    (512, 340, 1), (1022, 1022, 1), (1023, 1023, 2), (3000, 2000, 2), (4000, 3000, 4), (4288, 2848, 4),
    (8000, 6000, 8), (12000, 9000, 8),
])
def test_the_factor_keeps_the_shorter_side_at_least_the_screening_size(width: int, height: int, factor: int) -> None:
    assert reduction(ImageHeader(width, height)) == factor
    assert -(-min(width, height) // factor) >= min(MODEL_MIN_SIDE, min(width, height))


@pytest.mark.parametrize(("width", "height"), [(2732, 2048), (3001, 2001), (2000, 3000)])
def test_a_camera_jpeg_is_decoded_reduced_and_looks_like_the_full_one_averaged(width: int, height: int) -> None:
    data = jpeg(card(height, width))
    factor = reduction(read_header(data))
    reduced = decode_image(data, LIMITS, reduced=True)
    full = decode_image(data, LIMITS)
    assert full.shape == (height, width, 3)
    assert reduced.shape == (-(-height // factor), -(-width // factor), 3)
    assert reduced.dtype == np.uint8 and reduced.flags.c_contiguous
    averaged = cv2.resize(full, (reduced.shape[1], reduced.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(reduced.astype(int) - averaged.astype(int)).mean() < 2.0


def test_exif_orientation_is_applied_to_a_reduced_decode_as_to_a_full_one() -> None:
    upright = card(2000, 3000)  # the disc on the right
    rotated = with_exif_orientation(jpeg(cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)), 6)
    reduced = decode_image(rotated, LIMITS, reduced=True)
    full = decode_image(rotated, LIMITS)
    assert full.shape == (2000, 3000, 3)
    assert reduced.shape == (1000, 1500, 3)
    red = reduced[:, :, 0].astype(int)
    assert red[:, 1000:].mean() > red[:, :500].mean() + 15  # the disc is on the right again
    averaged = cv2.resize(full, (1500, 1000), interpolation=cv2.INTER_AREA)
    assert np.abs(reduced.astype(int) - averaged.astype(int)).mean() < 2.0


def test_a_large_png_is_reduced_by_the_same_factor() -> None:
    bgr = card(1200, 1600)
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    reduced = decode_image(png.tobytes(), LIMITS, reduced=True)
    assert reduced.shape == (600, 800, 3)
    expected = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (800, 600), interpolation=cv2.INTER_AREA)
    assert np.array_equal(reduced, expected)


def test_a_photo_under_twice_the_screening_size_is_decoded_whole() -> None:
    bgr = card(1000, 1500)
    assert decode_image(jpeg(bgr), LIMITS, reduced=True).shape == (1000, 1500, 3)


def test_the_gate_needs_every_pixel_averaging_hides_a_noise_frame() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (2048, 2800, 3), dtype=np.uint8)  # decoded at 1/4 for the model
    outside = np.ones((2048, 2800), np.uint8)
    cv2.circle(outside, (1400, 1024), 980, 0, -1)
    frame[outside == 1] = 0
    data = jpeg(frame)
    every_pixel = assess(decode_image(data, LIMITS), QualityConfig())
    averaged = assess(decode_image(data, LIMITS, reduced=True), QualityConfig())
    assert every_pixel.reason_codes == ("not_fundus",)
    assert averaged.metrics["pixel_noise"] < every_pixel.metrics["pixel_noise"] / 2

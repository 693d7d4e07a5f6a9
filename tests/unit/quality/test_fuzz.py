"""Fuzzed inputs through decode + gate: every input ends in a typed ImageError or a QualityReport.

Random bytes, damaged real encodings, tiny, huge-claiming, one-channel and 16-bit files go through
decode_image; random arrays of many sizes and contents go straight to assess (a camera driver
hands the gate arrays, not files).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import synthetic_fundus as synth

from appliance.config import LimitsConfig, QualityConfig, quality_profile
from appliance.domain import QualityReport
from appliance.errors import ImageError
from appliance.imaging import decode_image
from appliance.quality import assess
from tests.fuzzing import check_report

LIMITS = LimitsConfig(min_image_side=8)
PROFILES = [QualityConfig(), quality_profile("eyepacs-natural"), quality_profile("eyepacs-enhanced")]


def screen(data: bytes) -> QualityReport | ImageError:
    """decode + gate, as the pipeline runs them; the only acceptable outcomes."""
    try:
        image = decode_image(data, LIMITS)
    except ImageError as exc:
        assert exc.reason_code and exc.message
        return exc
    reports = [assess(image, thresholds) for thresholds in PROFILES]
    for report in reports:
        check_report(report)
    return reports[0]


def encode(rgb_or_grey: np.ndarray, ext: str = ".png") -> bytes:
    array = cv2.cvtColor(rgb_or_grey, cv2.COLOR_RGB2BGR) if rgb_or_grey.ndim == 3 else rgb_or_grey
    ok, buffer = cv2.imencode(ext, array)
    assert ok
    return buffer.tobytes()


def test_random_bytes() -> None:
    rng = np.random.default_rng(0)
    for size in (0, 1, 3, 16, 1000, 50_000):
        outcome = screen(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        assert isinstance(outcome, ImageError)


def test_damaged_real_encodings() -> None:
    """Bit flips, cuts and splices of a real-looking JPEG and PNG."""
    rng = np.random.default_rng(1)
    for ext in (".jpg", ".png"):
        good = encode(synth.fundus(240, 320), ext)
        assert isinstance(screen(good), QualityReport)
        for trial in range(40):
            data = bytearray(good)
            kind = trial % 4
            if kind == 0:  # flip a few bytes after the header
                for i in rng.integers(20, len(data), 5):
                    data[i] ^= int(rng.integers(1, 256))
            elif kind == 1:  # cut
                data = data[: int(rng.integers(1, len(data)))]
            elif kind == 2:  # splice random bytes in the middle
                at = int(rng.integers(10, len(data)))
                data[at:at] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
            else:  # overwrite the header
                data[2:12] = rng.integers(0, 256, 10, dtype=np.uint8).tobytes()
            screen(bytes(data))


@pytest.mark.parametrize("side", [1, 2, 7, 8, 9, 16, 33])
def test_tiny_images(side: int) -> None:
    rng = np.random.default_rng(side)
    for image in (np.zeros((side, side, 3), np.uint8), rng.integers(0, 256, (side, side + 1, 3), dtype=np.uint8)):
        outcome = screen(encode(image))
        if side < LIMITS.min_image_side:
            assert isinstance(outcome, ImageError) and outcome.reason_code == "image_too_small"


def test_a_file_claiming_a_huge_image_is_refused_before_decoding() -> None:
    data = bytearray(encode(synth.fundus(64, 64)))
    data[16:24] = (60_000).to_bytes(4, "big") + (60_000).to_bytes(4, "big")  # PNG IHDR width, height
    outcome = screen(bytes(data))
    assert isinstance(outcome, ImageError) and outcome.reason_code in ("image_too_many_pixels", "image_corrupt")


def test_a_large_real_image_goes_through() -> None:
    big = cv2.resize(synth.fundus(), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    outcome = screen(encode(big, ".jpg"))
    assert isinstance(outcome, QualityReport) and outcome.passed, outcome


def test_one_channel_and_16_bit_files_are_typed_errors() -> None:
    grey = cv2.cvtColor(synth.fundus(120, 160), cv2.COLOR_RGB2GRAY)
    deep = (synth.fundus(120, 160).astype(np.uint16) * 257)
    for data, code in ((encode(grey), "image_grayscale"), (encode(deep), "image_16bit"),
                       (encode(grey.astype(np.uint16) * 257), "image_16bit")):
        outcome = screen(data)
        assert isinstance(outcome, ImageError) and outcome.reason_code == code


def test_random_arrays_straight_into_the_gate() -> None:
    rng = np.random.default_rng(2)
    makers = [
        lambda h, w: rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        lambda h, w: np.full((h, w, 3), int(rng.integers(0, 256)), np.uint8),
        lambda h, w: (rng.random((h, w, 1)) * rng.integers(1, 256, 3)).astype(np.uint8),
        lambda h, w: cv2.resize(synth.fundus(), (w, h), interpolation=cv2.INTER_AREA),
        lambda h, w: np.where(rng.random((h, w, 1)) < 0.01, 255, 0).astype(np.uint8).repeat(3, axis=2),
    ]
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 700, 2))
        image = makers[trial % len(makers)](h, w)
        for thresholds in PROFILES:
            check_report(assess(np.ascontiguousarray(image), thresholds))


def test_non_contiguous_and_odd_layout_arrays() -> None:
    photo = synth.fundus()
    for image in (photo[::2, ::3], photo[:, ::-1], np.asfortranarray(photo)):
        check_report(assess(image, QualityConfig()))

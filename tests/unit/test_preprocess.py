"""Preprocessing: crop to the field of view, square, resize, normalise (shared with training)."""

import cv2
import numpy as np
import pytest

from appliance.inference.preprocess import (
    InputSpec,
    crop_to_square_field,
    field_of_view_box,
    fundus_square,
    preprocess,
)


def disc_image(h: int = 342, w: int = 512, radius: int = 160, cut: int = 0) -> np.ndarray:
    """A bright disc on black, like a fundus photo (optionally cut at top and bottom)."""
    image = np.zeros((h, w, 3), np.uint8)
    cv2.circle(image, (w // 2, h // 2), radius, (180, 90, 40), -1)
    if cut:
        image[:cut] = 0
        image[h - cut:] = 0
    return image


def test_box_is_the_disc_not_the_black_surround() -> None:
    top, bottom, left, right = field_of_view_box(disc_image())
    assert abs((right - left) - 321) <= 4  # the disc's diameter
    assert abs((bottom - top) - 321) <= 4
    assert abs((left + right) / 2 - 256) <= 2


def test_cut_disc_is_padded_to_a_centred_square() -> None:
    square = crop_to_square_field(disc_image(cut=60))
    assert square.shape[0] == square.shape[1]
    assert square[:5].max() == 0 and square[-5:].max() == 0  # padding rows are black
    assert square[square.shape[0] // 2, square.shape[1] // 2].tolist() == [180, 90, 40]


def test_black_image_falls_back_to_whole_frame() -> None:
    assert field_of_view_box(np.zeros((100, 120, 3), np.uint8)) == (0, 100, 0, 120)


def test_tensor_layout_and_normalisation() -> None:
    spec = InputSpec(size=64)
    image = disc_image()
    x = preprocess(image, spec)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    square = fundus_square(image, spec).astype(np.float64) / 255.0
    expected = ((square - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1)
    np.testing.assert_allclose(x, expected, atol=1e-5)


def test_same_field_at_two_resolutions_gives_nearly_the_same_tensor() -> None:
    spec = InputSpec(size=64)
    small = preprocess(disc_image(), spec)
    big = preprocess(cv2.resize(disc_image(), (2048, 1368), interpolation=cv2.INTER_NEAREST), spec)
    assert np.abs(small - big).mean() < 0.05


def test_local_contrast_keeps_surround_black_and_centre_grey() -> None:
    out = fundus_square(disc_image(), InputSpec(size=128, local_contrast=True))
    assert out[0, 0].tolist() == [0, 0, 0]
    assert np.abs(out[64, 64].astype(int) - 128).max() <= 8  # flat field -> mid grey


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.uint16),
                                 np.zeros((10, 10, 4), np.uint8)])
def test_non_rgb8_input_is_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        preprocess(bad, InputSpec())

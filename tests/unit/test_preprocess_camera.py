"""Camera-normalised preprocessing (models from 0.3.0): the same eye gives the same view whatever the
camera's framing, contrast or rim, on the shipped IDRiD photos (CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from appliance.config import load_config
from appliance.inference.preprocess import (
    DETAIL_STD,
    MID_GREY,
    VISIBLE_RADIUS,
    InputSpec,
    aperture_circle,
    camera_normal_square,
    fundus_square,
    local_contrast,
    natural_square,
    preprocess,
)
from appliance.quality import assess, circle_from_metrics
from appliance.quality.field_of_view import find_field

SAMPLES = Path(__file__).resolve().parents[2] / "appliance" / "devices" / "samples"
SIZE = 192
Image = npt.NDArray[np.uint8]


def _photo(name: str = "healthy_01_right.jpg") -> Image:
    bgr = cv2.imread(str(SAMPLES / name), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)


def _radius_grid(size: int = SIZE) -> npt.NDArray[np.float64]:
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    return np.asarray(np.hypot(xx - centre, yy - centre) / (size / 2), np.float64)


def _visible(view: Image) -> npt.NDArray[np.bool_]:
    return np.asarray((view != MID_GREY).any(axis=2), bool)


def _clip_four_sides(image: Image, keep_y: float, keep_x: float) -> Image:
    """What a camera whose aperture is wider than its sensor records: only the corners dark."""
    cx, cy, r = aperture_circle(image)
    top, bottom = round(cy - keep_y * r), round(cy + keep_y * r)
    left, right = round(cx - keep_x * r), round(cx + keep_x * r)
    return np.ascontiguousarray(image[max(0, top):bottom, max(0, left):right])


def test_everything_outside_the_visible_disc_is_mid_grey_and_the_detail_has_one_spread() -> None:
    view = camera_normal_square(_photo(), SIZE)
    assert view.shape == (SIZE, SIZE, 3) and view.dtype == np.uint8
    radius = _radius_grid()
    assert (view[radius > VISIBLE_RADIUS] == MID_GREY).all()
    inside = radius < 0.8
    assert _visible(view)[inside].mean() > 0.95  # the field itself is shown
    spread = float((view[inside].astype(np.float64) - MID_GREY).std())
    assert spread == pytest.approx(DETAIL_STD, rel=0.2)


def test_no_bright_or_dark_ring_at_the_rim() -> None:
    """The local average is taken over field pixels only, so the rim looks like the rest of the field;
    the plain local-contrast step, whose blur mixes in the black surround, leaves a ring there."""
    radius = _radius_grid()
    ring = (radius > 0.8) & (radius < VISIBLE_RADIUS - 0.02)
    centre = radius < 0.6
    view = camera_normal_square(_photo(), SIZE).astype(np.float64)
    assert abs(view[ring].mean() - view[centre].mean()) < 6
    plain = local_contrast(fundus_square(_photo(), InputSpec(size=SIZE))).astype(np.float64)
    plain_ring = plain[(radius > 0.85) & (radius < 0.95)]
    assert abs(plain_ring.mean() - plain[centre].mean()) > 10  # the artefact this step removes


@pytest.mark.parametrize(("keep_y", "keep_x"), [(0.75, 1.2), (0.8, 0.95), (0.7, 0.85)])
def test_a_circle_clipped_on_two_or_four_sides_gives_the_same_view_where_both_see(keep_y: float,
                                                                                 keep_x: float) -> None:
    photo = _photo()
    full = camera_normal_square(photo, SIZE)
    clipped_photo = _clip_four_sides(photo, keep_y, keep_x)
    clipped = camera_normal_square(clipped_photo, SIZE)
    both = _visible(full) & _visible(clipped)
    assert both.sum() > 0.4 * _visible(full).sum()
    # Same scale and place: the structures both show line up. Compared at sigma 1.5 px, a fit that is
    # 2 px off still correlates above 0.8, one 8 px off (another scale or centre) below 0.1.
    common = cv2.erode(both.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    a, b = (cv2.GaussianBlur(v.astype(np.float32), (0, 0), 1.5)[common].ravel() for v in (full, clipped))
    assert np.corrcoef(a, b)[0, 1] > 0.75
    # What the camera did not record is hidden, not black.
    rows = np.flatnonzero(_visible(clipped).any(axis=1))
    assert rows[-1] - rows[0] < 2 * keep_y * SIZE / 2 + 4


def test_a_letterboxed_photo_gives_the_same_view() -> None:
    photo = _photo()
    h, w = photo.shape[:2]
    wide = np.zeros((h, round(h * 16 / 9) + w // 2, 3), np.uint8)
    wide[:, w // 4:w // 4 + w] = photo
    a, b = camera_normal_square(photo, SIZE), camera_normal_square(wide, SIZE)
    assert float(np.median(np.abs(a.astype(np.int16) - b.astype(np.int16)))) <= 3


def test_contrast_and_brightness_of_the_camera_do_not_change_the_view() -> None:
    """A flatter, darker camera (or a rendering with strong contrast) gives the same detail spread."""
    photo = _photo()
    field = photo.max(axis=2) > 20
    flat = photo.astype(np.float64)
    flat[field] = 0.45 * flat[field] + 15
    a = camera_normal_square(photo, SIZE).astype(np.float64)
    b = camera_normal_square(np.clip(flat, 0, 255).astype(np.uint8), SIZE).astype(np.float64)
    inside = _radius_grid() < 0.8
    assert (b[inside] - MID_GREY).std() == pytest.approx((a[inside] - MID_GREY).std(), rel=0.1)
    assert np.corrcoef(a[inside].ravel(), b[inside].ravel())[0, 1] > 0.9


def test_odd_frames_still_give_a_tensor() -> None:
    """The gate refuses these; preprocessing must not raise on them."""
    rng = np.random.default_rng(0)
    spec = InputSpec(size=64, camera_normalise=True)
    for frame in (np.zeros((300, 400, 3), np.uint8), rng.integers(0, 256, (300, 400, 3), dtype=np.uint8),
                  np.full((300, 400, 3), 255, np.uint8)):
        tensor = preprocess(frame, spec)
        assert tensor.shape == (3, 64, 64) and np.isfinite(tensor).all()


def test_the_natural_view_is_aligned_with_the_model_view() -> None:
    photo = _photo()
    spec = InputSpec(size=SIZE, camera_normalise=True)
    natural = natural_square(photo, spec)
    view = fundus_square(photo, spec)
    assert natural.shape == view.shape
    assert natural[..., 0].mean() > natural[..., 2].mean()  # natural colour: red above blue
    # Vessels are dark in both: the darkest natural pixels in the field sit below mid-grey in the view.
    inside = _radius_grid() < 0.8
    dark = inside & (natural[..., 1] < np.quantile(natural[..., 1][inside], 0.05))
    assert view[..., 1][dark].mean() < MID_GREY - 10


def test_the_gates_circle_maps_to_any_decode_of_the_photo_and_the_square_needs_no_second_fit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    photo = _photo()
    h, w = photo.shape[:2]
    metrics = assess(photo, load_config(env={}).quality).metrics
    fov = find_field(photo)
    circle = circle_from_metrics(metrics, h, w)
    assert circle == pytest.approx((fov.centre_x, fov.centre_y, fov.radius), abs=1e-9)
    # A reduced decode (half the size): the same circle in its pixels.
    assert circle_from_metrics(metrics, h // 2, w // 2) == pytest.approx(
        ((fov.centre_x + 0.5) / 2 - 0.5, (fov.centre_y + 0.5) / 2 - 0.5, fov.radius * (w // 2) / w), abs=0.01)
    spec = InputSpec(size=SIZE, camera_normalise=True)
    expected, expected_view = preprocess(photo, spec), natural_square(photo, spec)

    def no_fit(image: Image) -> None:
        raise AssertionError("the aperture was fitted again")

    monkeypatch.setattr("appliance.inference.preprocess.find_field", no_fit)
    assert np.array_equal(preprocess(photo, spec, circle), expected)
    assert np.array_equal(natural_square(photo, spec, circle), expected_view)


def test_without_a_fitted_field_in_the_metrics_there_is_no_circle() -> None:
    black = np.zeros((300, 400, 3), np.uint8)
    assert circle_from_metrics(assess(black, load_config(env={}).quality).metrics, 300, 400) is None
    assert circle_from_metrics({"fov_found": 1.0}, 300, 400) is None  # judged before the gate kept its circle
    assert circle_from_metrics({"fov_circle_x": 0.5, "fov_circle_y": float("nan"), "fov_circle_r": 0.4},
                               300, 400) is None

"""Every camera framing on small synthetic photos (no data needed): the field is found, its circle
is the aperture's (beyond the frame where the frame clips it), stamps are painted over, and the
gate passes what a good photo becomes in each framing; an overexposed frame is `overexposed`."""

from __future__ import annotations

import numpy as np
import pytest
import synthetic_fundus as synth

from appliance.config import QualityConfig
from appliance.quality import assess, measure
from appliance.quality.field_of_view import find_field
from appliance.quality.framings import (
    BETWEEN,
    CAMERA_SIZE,
    CORNERS,
    FRAMINGS,
    GREEN,
    INSCRIBED,
    WHITE,
    YELLOW,
    aim_off,
    black_outside,
    crop,
    letterbox,
    stamp,
)
from appliance.quality.stamps import find_stamps, remove_stamps

THRESHOLDS = QualityConfig()
PHOTO = synth.fundus(600, 800, radius=0.46)
FIELD = find_field(PHOTO)
W, H = CAMERA_SIZE


def test_the_source_photo_is_a_full_circle() -> None:
    assert FIELD.found and FIELD.framing == "circle"
    assert FIELD.radius == pytest.approx(0.46 * 600, rel=0.02)


def test_a_circle_clipped_on_four_sides_is_fitted_beyond_the_frame() -> None:
    half_width, half_height = CORNERS
    framed = crop(PHOTO, FIELD, half_width, half_height)
    fov = find_field(framed)
    # The crop maps the aperture's radius r to W / (2 half_width) px.
    radius = W / (2 * half_width)
    assert fov.found and fov.framing == "clipped"
    assert fov.radius == pytest.approx(radius, rel=0.03)
    assert fov.radius > W / 2 and fov.radius > H / 2  # the circle extends beyond the frame
    assert fov.centre_x == pytest.approx(W / 2, abs=0.02 * W)
    assert fov.centre_y == pytest.approx(H / 2, abs=0.02 * H)
    assert 0 < fov.visible_arc < 0.5  # only the corners show the rim
    assert fov.rim_on_circle > 0.8
    assert assess(framed, THRESHOLDS).passed


def test_a_rim_seen_only_in_slivers_of_the_corners_is_a_field_either_way() -> None:
    """Between the four-side clip and the inscribed rectangle the dark corners are a few pixels:
    fitted as a clipped circle or taken as a full frame, the circle is about the aperture's."""
    framed = crop(PHOTO, FIELD, *BETWEEN)
    fov = find_field(framed)
    assert fov.found and fov.framing in ("clipped", "full-frame")
    assert fov.radius == pytest.approx(W / (2 * BETWEEN[0]), rel=0.08)
    assert assess(framed, THRESHOLDS).passed


def test_dark_corner_slivers_set_the_surround_level_even_under_two_percent_of_the_frame() -> None:
    """Cropped between the four-side clip and the inscribed rectangle, the black corners are under
    2 % of the frame, so the frame's 2nd percentile lies in the field: a field level set from it
    cut through the field's darker side, fitting a smaller, shifted circle whose "surround" was
    the field itself (EyePACS photos: not_fundus). The frame's edge holds the black corners."""
    shaded = synth.shade(black_outside(PHOTO, FIELD), "left", depth=0.5)
    half_width = 0.88  # corners too big for a full frame (over 1.5 %), under 2 % of the frame
    framed = crop(shaded, FIELD, half_width, 0.75 * half_width)
    assert 0.015 < np.mean(framed.max(axis=2) < 10) < 0.02
    fov = find_field(framed)
    assert fov.found and fov.framing == "clipped"
    assert fov.radius == pytest.approx(W / (2 * half_width), rel=0.03)
    assert fov.centre_x == pytest.approx(W / 2, abs=0.02 * W)
    assert fov.centre_y == pytest.approx(H / 2, abs=0.02 * H)
    assert fov.surround_level < 10
    assert "not_fundus" not in assess(framed, THRESHOLDS).reason_codes


def test_a_photo_cropped_to_the_inscribed_rectangle_is_a_full_frame_field() -> None:
    framed = crop(PHOTO, FIELD, *INSCRIBED)
    fov = find_field(framed)
    assert fov.found and fov.framing == "full-frame"
    assert fov.radius == pytest.approx(np.hypot(W, H) / 2, rel=0.01)  # the smallest circle holding the frame
    assert fov.mask.mean() > 0.98
    metrics = fov.metrics()
    assert metrics["fov_full_frame"] == 1.0 and "fov_rim_on_circle" not in metrics
    assert assess(framed, THRESHOLDS).passed


def test_a_full_frame_that_is_no_retina_is_not_a_field() -> None:
    grey_wall = np.full((H, W, 3), 120, np.uint8)
    skin = np.full((H, W, 3), (205, 160, 130), np.uint8)
    for frame in (grey_wall, skin):
        assert not find_field(frame).found
        assert assess(frame, THRESHOLDS).reason_codes == ("not_fundus",)


@pytest.mark.parametrize("name", sorted(FRAMINGS))
def test_every_named_framing_of_a_good_photo_passes(name: str) -> None:
    framed = FRAMINGS[name](PHOTO, FIELD)
    report = assess(framed, THRESHOLDS)
    assert report.passed, (name, report.reason_codes, report.metrics)


def test_a_notch_does_not_move_the_fitted_circle() -> None:
    plain = find_field(FRAMINGS["full-circle"](PHOTO, FIELD))
    notched = find_field(FRAMINGS["notch"](PHOTO, FIELD))
    assert notched.radius == pytest.approx(plain.radius, rel=0.02)
    assert notched.centre_x == pytest.approx(plain.centre_x, abs=3)


def test_a_letterbox_keeps_the_circle_and_its_bars_are_not_rim() -> None:
    clipped = crop(black_outside(PHOTO, FIELD), FIELD, *CORNERS)
    boxed = letterbox(clipped)
    assert boxed.shape[1] / boxed.shape[0] == pytest.approx(16 / 9, abs=0.01)
    inner, outer = find_field(clipped), find_field(boxed)
    left = (boxed.shape[1] - clipped.shape[1]) // 2
    assert outer.framing == "clipped"
    assert outer.radius == pytest.approx(inner.radius, rel=0.03)
    assert outer.centre_x == pytest.approx(inner.centre_x + left, abs=4)
    assert assess(boxed, THRESHOLDS).passed


@pytest.mark.parametrize("colour", [GREEN, YELLOW, WHITE], ids=["green", "yellow", "white"])
@pytest.mark.parametrize("inset", [0.02, 0.12], ids=["outside-the-field", "inside-the-field"])
def test_a_burned_in_stamp_is_found_and_painted_over(colour: tuple[int, int, int], inset: float) -> None:
    plain = crop(black_outside(PHOTO, FIELD), FIELD, 1.3, 0.975) if inset < 0.05 else crop(PHOTO, FIELD, *CORNERS)
    stamped = stamp(plain, "2026/11/22 10:41:07", "top-right", colour, inset=inset)
    change = np.abs(stamped.astype(int) - plain.astype(int)).max(axis=2)
    drawn, strokes = change > 0, change > 100  # every touched pixel; the strokes' cores
    found = find_stamps(stamped)
    assert found[strokes].mean() > 0.95  # nearly every stroke pixel...
    assert found.mean() < 4 * drawn.mean()  # ...and little else
    cleaned = remove_stamps(stamped, found)
    assert np.abs(cleaned.astype(int) - plain.astype(int))[drawn].mean() < 30
    before, after = measure(plain, THRESHOLDS), measure(stamped, THRESHOLDS)
    assert after["fov_stamp_fraction"] > 0
    assert after["saturated_fraction"] == pytest.approx(before["saturated_fraction"], abs=0.002)
    assert after["mean_green"] == pytest.approx(before["mean_green"], abs=1.0)
    assert find_field(stamped).radius == pytest.approx(find_field(plain).radius, rel=0.02)


def test_no_stamp_is_found_in_a_plain_photo_or_in_noise() -> None:
    assert not find_stamps(PHOTO).any()
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    assert not find_stamps(noise).any()  # stroke-coloured pixels all over are the image, not a stamp


@pytest.mark.parametrize("framing", ["full-circle", "corners-only", "letterbox-16x9"])
def test_an_overexposed_frame_is_overexposed_not_another_reason(framing: str) -> None:
    white = FRAMINGS[framing](synth.wash_out(PHOTO, keep=0.03), FIELD)
    report = assess(white, THRESHOLDS)
    assert not report.passed
    assert report.reason_codes[0] == "overexposed", report.reason_codes


def test_a_frame_washed_out_to_pure_white_in_its_aperture_is_overexposed() -> None:
    white = black_outside(np.full_like(PHOTO, 252), FIELD)
    assert assess(white, THRESHOLDS).reason_codes[0] == "overexposed"


def test_aiming_off_moves_the_retina_inside_the_same_aperture() -> None:
    # The synthetic disc sits 0.45 radii right of the centre; aimed off, it sits at 0.95.
    aimed = aim_off(PHOTO, FIELD, (1.0, 0.0), 0.95, (0.45, 0.0))
    field = find_field(aimed)
    assert (field.centre_x, field.centre_y, field.radius) == pytest.approx(
        (FIELD.centre_x, FIELD.centre_y, FIELD.radius), abs=3)
    h, w = PHOTO.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    inside = (xx - FIELD.centre_x) ** 2 + (yy - FIELD.centre_y) ** 2 <= FIELD.radius**2
    assert (aimed[~inside] == PHOTO[~inside]).all()  # the aperture's surround is untouched
    assert (aimed[inside].max(axis=1) > 8).mean() > 0.99  # and it is full of retina, no black moved in
    assert 0.85 < measure(aimed, THRESHOLDS)["disc_x"] <= 0.95  # found within the search radius
    assert (aim_off(PHOTO, FIELD, (1.0, 0.0), 0.4, (0.45, 0.0)) == PHOTO).all()  # already further out

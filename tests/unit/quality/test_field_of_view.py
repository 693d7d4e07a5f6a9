"""Field of view: the fitted circle matches the disc, also when the frame clips it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import synthetic_fundus as synth

from appliance.quality.field_of_view import find_field


@pytest.mark.parametrize(
    ("height", "width", "radius", "centre"),
    [(600, 800, 0.46, (0.5, 0.5)), (400, 800, 0.6, (0.5, 0.5)), (600, 600, 0.4, (0.45, 0.55))],
    ids=["whole-disc", "clipped-top-and-bottom", "off-centre"],
)
def test_circle_fit_recovers_the_disc(height: int, width: int, radius: float, centre: tuple[float, float]) -> None:
    fov = find_field(synth.fundus(height, width, radius=radius, centre=centre))
    assert fov.found
    assert fov.radius == pytest.approx(radius * height, rel=0.02)
    assert fov.centre_x == pytest.approx(centre[0] * width, abs=0.01 * width)
    assert fov.centre_y == pytest.approx(centre[1] * height, abs=0.01 * height)
    assert fov.fill > 0.95 and fov.spill < 0.05


def test_a_notch_on_the_rim_does_not_move_the_circle() -> None:
    # EyePACS cameras put a small notch or tab on the aperture's edge.
    photo = synth.fundus()
    cv2.rectangle(photo, (632, 146), (668, 178), (180, 90, 40), -1)  # straddles the rim
    fov = find_field(photo)
    assert fov.radius == pytest.approx(0.46 * 600, rel=0.02)


def test_a_clipped_disc_shows_part_of_its_circle_and_its_rim_covers_that_part() -> None:
    whole = find_field(synth.fundus(600, 800, radius=0.46))
    clipped = find_field(synth.fundus(400, 800, radius=0.6))
    assert whole.framing == "circle" and whole.visible_arc == 1.0 and whole.arc_coverage > 0.95
    assert clipped.framing == "clipped" and 0.3 < clipped.visible_arc < 0.8
    assert clipped.arc_coverage > 0.95  # of the part inside the frame: a clipped rim cannot be seen
    assert clipped.diameter_fraction > 1.0


def test_nothing_bright_means_no_field() -> None:
    fov = find_field(np.zeros((300, 400, 3), np.uint8))
    assert not fov.found
    assert fov.area_fraction == 0.0 and not fov.mask.any()


def test_a_frame_filled_edge_to_edge_has_no_outline_to_fit() -> None:
    fov = find_field(np.full((300, 400, 3), 128, np.uint8))
    assert not fov.found


def test_an_oval_is_not_a_round_aperture() -> None:
    oval = np.zeros((600, 800, 3), np.uint8)
    cv2.ellipse(oval, (400, 300), (260, 200), 0, 0, 360, (200, 95, 40), -1)
    circle = find_field(synth.fundus())
    fov = find_field(oval)
    assert circle.rim_on_circle > 0.9 and circle.rim_error < 0.01
    assert fov.rim_on_circle < 0.3 and fov.rim_error > 0.05


def test_letterbox_edges_inside_the_image_are_frame_edges_not_aperture() -> None:
    # Some exports pad the photo: the frame's edge then cuts the disc inside the image.
    photo = synth.fundus(600, 800, radius=0.46)
    photo[:80] = 0
    photo[-80:] = 0
    fov = find_field(photo)
    assert fov.found and fov.radius == pytest.approx(0.46 * 600, rel=0.02)
    assert 0.5 < fov.visible_arc < 0.7  # the two side arcs lie inside the frame...
    assert fov.rim_on_circle > 0.9  # ...and are traced; the straight cuts do not count against it


def test_a_large_photo_is_fitted_on_a_small_copy_and_mapped_back() -> None:
    small = find_field(synth.fundus(300, 400))
    large = find_field(synth.fundus(1500, 2000))
    assert large.radius == pytest.approx(5 * small.radius, rel=0.02)
    assert large.centre_x == pytest.approx(5 * small.centre_x, rel=0.02)
    assert large.mask.shape == (1500, 2000) and large.mask[750, 1000]

"""Field position: the optic disc is found where it is, the field is named, the eye is hinted."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import synthetic_fundus as synth

from appliance.config import LimitsConfig, QualityConfig
from appliance.domain import Eye, Field
from appliance.imaging import decode_image
from appliance.quality import assess, eye_from_metrics, field_from_metrics, field_position, measure
from appliance.quality.field_of_view import find_field
from appliance.quality.field_position import corner_distance, roundness
from appliance.quality.field_view import FieldView, field_view
from appliance.quality.framings import FRAMINGS, aim_off

SAMPLES = Path(__file__).resolve().parents[3] / "appliance" / "devices" / "samples"
THRESHOLDS = QualityConfig()


def test_the_synthetic_disc_is_found_where_it_was_drawn() -> None:
    # synth.fundus draws the disc 0.45 radii right of the centre, the macula 0.3 radii left.
    m = measure(synth.fundus(), THRESHOLDS)
    assert m["disc_x"] == pytest.approx(0.45, abs=0.06)
    assert m["disc_y"] == pytest.approx(0.0, abs=0.06)
    assert m["disc_prominence"] > THRESHOLDS.min_disc_prominence
    assert field_from_metrics(m) is Field.MACULA
    assert eye_from_metrics(m) is Eye.RIGHT


def test_a_mirrored_photo_looks_like_the_other_eye() -> None:
    m = measure(synth.fundus()[:, ::-1].copy(), THRESHOLDS)
    assert m["disc_x"] == pytest.approx(-0.45, abs=0.06)
    assert eye_from_metrics(m) is Eye.LEFT


@pytest.mark.parametrize(
    ("metrics", "field"),
    [
        ({"disc_x": 0.05, "disc_y": 0.1, "disc_prominence": 0.5}, Field.DISC),
        ({"disc_x": -0.6, "disc_y": 0.1, "disc_prominence": 0.5}, Field.MACULA),
        ({"disc_x": 0.3, "disc_y": 0.7, "disc_prominence": 0.5}, Field.UNKNOWN),  # far off the meridian
        ({"disc_x": 0.6, "disc_y": 0.0, "disc_prominence": 0.05}, Field.UNKNOWN),  # no clear disc
        ({}, Field.UNKNOWN),
    ],
)
def test_field_from_metrics(metrics: dict[str, float], field: Field) -> None:
    assert field_from_metrics(metrics) is field


def test_no_eye_hint_unless_macula_centred() -> None:
    assert eye_from_metrics({"disc_x": 0.05, "disc_y": 0.0, "disc_prominence": 0.5}) is None


def test_disc_at_the_edge_of_the_field_is_field_not_centred() -> None:
    photo = synth.fundus()
    offset = measure(photo, THRESHOLDS)["field_offset"]
    assert offset == pytest.approx(0.45, abs=0.06)
    report = assess(photo, QualityConfig(max_field_offset=offset - 0.1))
    assert report.reason_codes == ("field_not_centred",)
    assert assess(photo, QualityConfig(max_field_offset=offset + 0.1)).passed


@pytest.mark.parametrize("path", sorted([*SAMPLES.glob("healthy_*.jpg"), *SAMPLES.glob("referable_*.jpg")]),
                         ids=lambda p: p.name)
def test_shipped_samples_disc_side_matches_the_eye_in_their_name(path: Path) -> None:
    """The gradable IDRiD samples are in the usual orientation: a right eye's disc on the image's right.
    (The blurred, dark and off-centre ones are made to fail the gate: tests/integration/test_demo_samples.py.)"""
    m = assess(decode_image(path.read_bytes(), LimitsConfig()), THRESHOLDS).metrics
    assert field_from_metrics(m) is Field.MACULA
    assert eye_from_metrics(m) is (Eye.RIGHT if "_right" in path.name else Eye.LEFT)


def test_roundness_tells_a_blob_from_a_ridge() -> None:
    yy, xx = np.mgrid[:40, :40].astype(np.float32)
    blob = np.exp(-((xx - 20) ** 2 + (yy - 20) ** 2) / (2 * 3.0**2)).astype(np.float32)
    ridge = np.exp(-((xx - 20) ** 2) / (2 * 3.0**2)).astype(np.float32)  # a bright band down the image
    assert roundness(blob)[20, 20] == pytest.approx(1.0, abs=0.05)
    assert roundness(ridge)[20, 20] == pytest.approx(0.0, abs=0.05)
    assert roundness(-blob)[20, 20] == -1.0  # a pit is no peak
    assert roundness(np.full((8, 8), np.nan, np.float32)).max() == -1.0


@pytest.mark.parametrize("rho", [0.95, 1.0])
def test_a_camera_aimed_off_the_fields_puts_the_disc_at_the_rim_and_is_field_not_centred(rho: float) -> None:
    photo = synth.fundus()  # disc 0.45 radii right of the centre
    aimed = aim_off(photo, find_field(photo), (1.0, 0.0), rho, (0.45, 0.0))
    m = measure(aimed, THRESHOLDS)
    assert m["disc_x"] > THRESHOLDS.max_field_offset and abs(m["disc_y"]) < 0.1
    report = assess(aimed, THRESHOLDS)
    assert report.reason_codes[0] == "field_not_centred", report.reason_codes
    assert field_from_metrics(m) is Field.UNKNOWN


def test_a_bright_crescent_at_the_rim_is_not_taken_for_the_disc() -> None:
    photo = synth.fundus()
    field = find_field(photo)
    # Flare: a bright crescent along the left rim, opposite the disc.
    cv2.ellipse(photo, (round(field.centre_x), round(field.centre_y)), (round(field.radius * 0.95),) * 2, 0, 150, 210,
                (255, 230, 170), max(3, round(0.06 * field.radius)))
    m = measure(photo, THRESHOLDS)
    assert m["disc_x"] == pytest.approx(0.45, abs=0.06)
    assert assess(photo, THRESHOLDS).passed


def test_a_field_off_the_frames_centre_is_field_not_centred_and_far_off_is_not_fundus() -> None:
    shifted = synth.fundus(centre=(0.7, 0.5))  # the field cut at the frame's right edge
    m = measure(shifted, THRESHOLDS)
    assert THRESHOLDS.max_field_centre_offset < m["fov_centre_offset"] < THRESHOLDS.max_fov_centre_offset
    assert assess(shifted, THRESHOLDS).reason_codes == ("field_not_centred",)
    assert assess(synth.fundus(centre=(0.95, 0.5)), THRESHOLDS).reason_codes == ("not_fundus",)
    assert assess(synth.fundus(centre=(0.55, 0.5)), THRESHOLDS).passed


def _faint_disc_and_bright_rim(photo: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The synthetic photo as many ODIR photos look: a faint optic disc (prominence under 0.2, so
    no disc is reported) and a bright halo of stray light along the inside of the rim."""
    field = find_field(photo)
    out = photo.copy()
    cv2.circle(out, (round(field.centre_x + 0.45 * field.radius), round(field.centre_y)), round(0.13 * field.radius),
               (190, 100, 40), -1, cv2.LINE_AA)
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    rho = np.hypot(xx - field.centre_x, yy - field.centre_y) / field.radius
    glow = 255 * np.exp(-(((1 - rho) / 0.06) ** 2)) * (rho <= 1)
    lit: npt.NDArray[np.uint8] = np.clip(out + glow[:, :, None] * np.array([1.0, 0.9, 0.6], np.float32), 0, 255).astype(
        np.uint8)
    return lit


def test_the_bright_wedge_where_the_frames_edge_meets_the_rim_is_not_taken_for_the_disc(
        monkeypatch: pytest.MonkeyPatch) -> None:
    photo = _faint_disc_and_bright_rim(synth.fundus())
    assert assess(photo, THRESHOLDS).passed  # as framed: a full circle
    clipped = FRAMINGS["clipped-top-bottom"](photo, find_field(photo))
    # Without the rule, the halo cut off by the frame's bottom edge is a round peak at the rim.
    monkeypatch.setattr(field_position, "CORNER_CLEARANCE", 0.0)
    m = measure(clipped, THRESHOLDS)
    assert abs(m["disc_y"]) > 0.7 and m["field_offset"] > THRESHOLDS.max_field_offset
    monkeypatch.undo()
    m = measure(clipped, THRESHOLDS)
    assert m["disc_x"] == pytest.approx(0.45, abs=0.06) and abs(m["disc_y"]) < 0.06
    assert assess(clipped, THRESHOLDS).passed


def test_a_disc_at_the_rim_the_frame_keeps_is_still_found_in_a_clipped_frame() -> None:
    photo = synth.fundus()  # disc 0.45 radii right of the centre
    aimed = aim_off(photo, find_field(photo), (1.0, 0.0), 0.95, (0.45, 0.0))
    clipped = FRAMINGS["clipped-top-bottom"](aimed, find_field(aimed))
    m = measure(clipped, THRESHOLDS)
    assert m["disc_x"] > THRESHOLDS.max_field_offset and abs(m["disc_y"]) < 0.1
    assert assess(clipped, THRESHOLDS).reason_codes[0] == "field_not_centred"


def test_corner_distance_measures_from_where_the_frames_edge_meets_the_rim() -> None:
    photo = synth.fundus()
    assert np.isinf(corner_distance(_view(photo))).all()  # a whole circle: no corner
    view = _view(FRAMINGS["clipped-top-bottom"](photo, find_field(photo)))  # cut at ±0.8625 radii
    distance = corner_distance(view)

    def at(x: float, y: float) -> float:
        return float(distance[np.unravel_index(int(np.argmin(np.hypot(view.dx - x, view.dy - y))), view.rho.shape)])

    assert at(0.0, 0.0) == pytest.approx(1.0, abs=0.02)  # the corners lie on the rim
    assert at(0.5, -0.85) < 0.05
    assert at(0.0, 0.85) == pytest.approx(0.506, abs=0.02)  # beside the cut edge, far from its ends
    assert at(0.95, 0.0) == pytest.approx(0.97, abs=0.02)  # the side rim


def _view(photo: npt.NDArray[np.uint8]) -> FieldView:
    return field_view(photo, find_field(photo))

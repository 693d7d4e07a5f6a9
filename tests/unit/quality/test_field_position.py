"""Field position: the optic disc is found where it is, the field is named, the eye is hinted."""

from __future__ import annotations

from pathlib import Path

import pytest
import synthetic_fundus as synth

from appliance.config import LimitsConfig, QualityConfig
from appliance.domain import Eye, Field
from appliance.imaging import decode_image
from appliance.quality import assess, eye_from_metrics, field_from_metrics, measure

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

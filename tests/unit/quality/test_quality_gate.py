"""The gate's contract: reasons in fix-first order, one operator sentence, float metrics, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import synthetic_fundus as synth

from appliance.config import QualityConfig
from appliance.domain import QualityReport
from appliance.quality import REASON_MESSAGES, assess

THRESHOLDS = QualityConfig()


def test_every_reason_has_one_short_sentence() -> None:
    assert list(REASON_MESSAGES) == ["not_fundus", "field_not_centred", "eyelid_artefact", "too_dark", "overexposed",
                                     "uneven_illumination", "hazy", "blurred"]
    for code, sentence in REASON_MESSAGES.items():
        assert sentence.endswith(".") and ":" in sentence, code
        assert len(sentence) < 90, code


def test_a_passing_photo_has_no_reasons_and_no_message() -> None:
    report = assess(synth.fundus(), THRESHOLDS)
    assert isinstance(report, QualityReport)
    assert report.passed
    assert report.reason_codes == ()
    assert report.operator_message == ""


def test_metrics_are_floats_and_cover_every_check() -> None:
    report = assess(synth.fundus(), THRESHOLDS)
    assert {"fov_diameter_fraction", "fov_area_fraction", "fov_centre_offset", "mean_green",
            "saturated_fraction", "focus"} <= set(report.metrics)
    assert all(type(value) is float for value in report.metrics.values())


def test_message_is_the_first_reason_and_reasons_come_in_fix_first_order() -> None:
    # Darkening also flattens the detail: both too_dark and blurred (with a focus threshold a
    # little over the dark photo's focus); darkness is fixed first.
    dark = synth.darken(synth.fundus(), 0.15)
    thresholds = QualityConfig(min_focus=1.1 * assess(dark, THRESHOLDS).metrics["focus"])
    report = assess(dark, thresholds)
    assert report.reason_codes == ("too_dark", "blurred")
    assert report.operator_message == REASON_MESSAGES["too_dark"]


def test_not_a_fundus_skips_the_other_checks() -> None:
    report = assess(synth.black(), THRESHOLDS)
    assert report.reason_codes == ("not_fundus",)
    assert report.operator_message == REASON_MESSAGES["not_fundus"]
    assert "focus" not in report.metrics and "mean_green" not in report.metrics


def test_thresholds_come_from_the_config() -> None:
    photo = synth.fundus()
    focus = assess(photo, THRESHOLDS).metrics["focus"]
    strict = QualityConfig(min_focus=focus * 1.01)
    assert assess(photo, strict).reason_codes == ("blurred",)
    lenient = QualityConfig(too_dark_mean=0.0, max_black_fraction=1000.0, min_focus=0.0)
    assert assess(synth.darken(photo, 0.15), lenient).passed


@pytest.mark.parametrize(
    "bad",
    [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64, 3), np.float32)],
    ids=["2d", "rgba", "float"],
)
def test_rejects_arrays_that_are_not_rgb_uint8(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        assess(bad, THRESHOLDS)

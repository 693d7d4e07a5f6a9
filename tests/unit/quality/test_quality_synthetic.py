"""Synthetic photos: a fundus-like disc passes; blur, darkness, overexposure and non-fundi fail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import synthetic_fundus as synth

from appliance.config import QualityConfig
from appliance.quality import assess

THRESHOLDS = QualityConfig()


@pytest.mark.parametrize(
    ("height", "width", "radius"),
    [(600, 800, 0.46), (1200, 1600, 0.46), (400, 800, 0.6)],
    ids=["small-camera", "large-camera", "clipped-top-and-bottom"],
)
def test_a_sharp_well_exposed_disc_passes(height: int, width: int, radius: float) -> None:
    report = assess(synth.fundus(height, width, radius=radius), THRESHOLDS)
    assert report.passed, report


def test_heavy_blur_is_blurred() -> None:
    photo = synth.fundus()
    sharp = assess(photo, THRESHOLDS)
    report = assess(synth.blur(photo), THRESHOLDS)
    assert report.reason_codes == ("blurred",)
    assert report.metrics["focus"] < sharp.metrics["focus"] / 10


def test_dark_photo_is_too_dark() -> None:
    report = assess(synth.darken(synth.fundus(), 0.15), THRESHOLDS)
    assert report.reason_codes[0] == "too_dark"


def test_washed_out_photo_is_overexposed() -> None:
    report = assess(synth.wash_out(synth.fundus()), THRESHOLDS)
    assert report.reason_codes[0] == "overexposed"


def test_saturated_patch_is_overexposed_even_when_the_mean_is_fine() -> None:
    photo = synth.fundus()
    h, w = photo.shape[:2]
    cv2.circle(photo, (w // 2 - h // 8, h // 2), h // 6, (255, 255, 255), -1)  # a flash reflex
    report = assess(photo, THRESHOLDS)
    assert report.metrics["mean_green"] < THRESHOLDS.overexposed_mean
    assert report.reason_codes[0] == "overexposed"


@pytest.mark.parametrize(
    "image",
    [synth.black(), synth.white(), synth.noise(), synth.document(),
     synth.fundus(radius=0.12), synth.fundus(centre=(0.95, 0.5))],
    ids=["black", "white", "noise", "document", "tiny-disc", "disc-off-the-edge"],
)
def test_not_a_fundus_photo(image: np.ndarray) -> None:
    report = assess(image, THRESHOLDS)
    assert report.reason_codes == ("not_fundus",)
    assert not report.passed


def test_verdict_does_not_depend_on_resolution() -> None:
    photo = synth.fundus()
    for scale in (0.75, 2.0):
        resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        assert assess(resized, THRESHOLDS).passed
        blurred = cv2.resize(synth.blur(photo), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        assert assess(blurred, THRESHOLDS).reason_codes == ("blurred",)


def test_a_white_veil_is_hazy() -> None:
    photo = synth.fundus()
    report = assess(synth.haze(photo, 0.8), THRESHOLDS)
    assert report.reason_codes == ("hazy",), report
    assert report.metrics["neutral_fraction"] > THRESHOLDS.max_haze_neutral_fraction
    assert assess(photo, THRESHOLDS).metrics["neutral_fraction"] < 0.05


def test_blur_hides_the_vessels() -> None:
    sharp = assess(synth.fundus(), THRESHOLDS).metrics
    blurred = assess(synth.blur(synth.fundus()), THRESHOLDS).metrics
    assert sharp["vessel_visibility"] > 0.1
    assert blurred["vessel_visibility"] < sharp["vessel_visibility"] / 5
    assert blurred["vessel_visibility_centre"] < sharp["vessel_visibility_centre"] / 5


def test_reasons_name_every_failed_check_in_fix_first_order() -> None:
    # Dark and shaded and blurred at once: darkness first, the shadow next, focus last.
    photo = synth.blur(synth.shade(synth.darken(synth.fundus(), 0.2), "left", depth=0.95, width=0.7))
    strict = QualityConfig(max_illum_dark_fraction=0.05)
    report = assess(photo, strict)
    assert report.reason_codes[0] == "too_dark"
    assert report.reason_codes[-1] == "blurred" and "uneven_illumination" in report.reason_codes


def test_detail_ratio_falls_with_blur_but_not_with_exposure() -> None:
    photo = synth.fundus()
    sharp = assess(photo, THRESHOLDS).metrics
    soft = assess(cv2.GaussianBlur(photo, (0, 0), 4.0), THRESHOLDS).metrics  # ~2 px at the 256-px view
    dim = assess(synth.darken(photo, 0.5), THRESHOLDS).metrics
    assert soft["detail_ratio"] < 0.5 * sharp["detail_ratio"]
    # Halving the light quarters `focus` (it grows with contrast); the ratio stays.
    assert dim["focus"] < 0.35 * sharp["focus"]
    assert dim["detail_ratio"] == pytest.approx(sharp["detail_ratio"], rel=0.05)


def test_a_grey_veil_lowers_the_saturation() -> None:
    photo = synth.fundus()
    clear = assess(photo, THRESHOLDS).metrics["saturation"]
    veiled = assess(synth.haze(photo, 0.4), THRESHOLDS).metrics["saturation"]
    assert clear > 0.6 and veiled < clear - 0.2

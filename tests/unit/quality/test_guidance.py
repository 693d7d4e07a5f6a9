"""Retake guidance: one sentence per reason in fix-first order; dilation or referral after N failures."""

from __future__ import annotations

import pytest

from appliance.domain import QualityReport
from appliance.quality import REASON_MESSAGES, retake_guidance
from appliance.quality.guidance import ordered, quality_report


def failed(*codes: str) -> QualityReport:
    return quality_report(codes, {})


PASSED = quality_report((), {})


def test_reasons_come_in_fix_first_order_and_the_message_is_the_first() -> None:
    report = quality_report(["blurred", "too_dark", "not_fundus"], {"x": 1.0})
    assert report.reason_codes == ("not_fundus", "too_dark", "blurred")
    assert report.operator_message == REASON_MESSAGES["not_fundus"]
    assert not report.passed and report.metrics == {"x": 1.0}


def test_unknown_reason_codes_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no_such_reason"):
        ordered(["blurred", "no_such_reason"])


def test_no_photo_yet_or_a_passed_photo_needs_no_guidance() -> None:
    assert retake_guidance([], 3).message == ""
    done = retake_guidance([failed("blurred"), failed("blurred"), PASSED], 3)
    assert done.message == "" and done.failed_attempts == 0 and not done.escalate


def test_before_the_limit_the_latest_failure_is_explained() -> None:
    guidance = retake_guidance([failed("blurred"), failed("too_dark", "blurred")], 3)
    assert guidance.message == REASON_MESSAGES["too_dark"]
    assert guidance.failed_attempts == 2 and not guidance.escalate


def test_after_the_limit_of_lighting_failures_dilation_is_advised() -> None:
    guidance = retake_guidance([failed("too_dark"), failed("uneven_illumination"), failed("blurred")], 3)
    assert guidance.escalate and guidance.failed_attempts == 3
    assert "dilate" in guidance.message and "refer" in guidance.message


def test_after_the_limit_of_blurred_photos_referral_is_advised() -> None:
    guidance = retake_guidance([failed("blurred"), failed("hazy"), failed("blurred"), failed("blurred")], 3)
    assert guidance.escalate and guidance.failed_attempts == 4
    assert "refer" in guidance.message and "dilate" not in guidance.message


def test_only_the_failures_since_the_last_pass_count() -> None:
    history = [failed("blurred"), failed("blurred"), PASSED, failed("blurred")]
    assert not retake_guidance(history, 2).escalate
    assert retake_guidance([*history, failed("too_dark")], 2).escalate


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        retake_guidance([failed("blurred")], 0)


def test_every_sentence_is_short_and_in_the_clinic_form() -> None:
    for code, sentence in REASON_MESSAGES.items():
        assert ":" in sentence and sentence.endswith("."), code
        assert len(sentence) <= 90, code

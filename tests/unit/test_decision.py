"""Every branch of the exam decision (CLINICAL.md rules)."""

import pytest

from appliance.decision import decide, eye_scores
from appliance.domain import Eye, ImageFinding, Outcome

T = 0.5
R, L = Eye.RIGHT, Eye.LEFT


def f(eye: Eye, score: float | None, gradable: bool = True) -> ImageFinding:
    return ImageFinding(eye=eye, gradable=gradable, score=score)


def test_both_eyes_gradable_and_under_threshold_is_no_refer() -> None:
    result = decide([f(R, 0.1), f(L, 0.49)], T)
    assert result.outcome is Outcome.NO_REFER
    assert result.eye_scores == {R: 0.1, L: 0.49}
    assert "rescreen in 12 months" in result.message


def test_either_eye_over_threshold_refers() -> None:
    assert decide([f(R, 0.9), f(L, 0.1)], T).outcome is Outcome.REFER
    assert decide([f(R, 0.1), f(L, 0.9)], T).outcome is Outcome.REFER


def test_score_equal_to_threshold_refers() -> None:
    assert decide([f(R, 0.5), f(L, 0.1)], T).outcome is Outcome.REFER


def test_refer_even_when_the_other_eye_is_ungradable() -> None:
    result = decide([f(R, 0.8), f(L, None, gradable=False)], T)
    assert result.outcome is Outcome.REFER
    assert result.eye_scores[L] is None
    assert "left eye: no gradable image" in result.reasons


def test_one_eye_ungradable_and_other_under_is_ungradable() -> None:
    result = decide([f(R, 0.2), f(L, None, gradable=False)], T)
    assert result.outcome is Outcome.UNGRADABLE
    assert "Insufficient exam quality" in result.message


def test_both_eyes_ungradable_is_ungradable() -> None:
    assert decide([f(R, None, False), f(L, None, False)], T).outcome is Outcome.UNGRADABLE


def test_missing_eye_is_ungradable() -> None:
    assert decide([f(R, 0.1)], T).outcome is Outcome.UNGRADABLE


def test_eye_score_is_max_over_gradable_images_only() -> None:
    findings = [f(R, 0.2), f(R, 0.7), f(L, 0.1), f(L, 0.95, gradable=False)]
    assert eye_scores(findings) == {R: 0.7, L: 0.1}
    result = decide(findings, T)
    assert result.outcome is Outcome.REFER  # right eye's second image
    assert decide([f(R, 0.2), f(L, 0.1), f(L, 0.99, gradable=False)], T).outcome is Outcome.NO_REFER


def test_one_gradable_of_two_images_makes_the_eye_gradable() -> None:
    result = decide([f(R, None, False), f(R, 0.3), f(L, 0.2)], T)
    assert result.outcome is Outcome.NO_REFER
    assert result.eye_scores[R] == pytest.approx(0.3)


def test_reasons_name_scores_and_threshold() -> None:
    result = decide([f(R, 0.8), f(L, 0.1)], T)
    assert result.reasons == (
        "right eye: score 0.800 over threshold 0.500",
        "left eye: score 0.100 under threshold 0.500",
    )
    assert result.threshold == T

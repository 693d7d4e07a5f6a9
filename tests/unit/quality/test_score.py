"""The combined score: a logistic model over the metrics, its probability and its named reason."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.quality.score import INTERCEPT, check_model, contributions, fit_model, main_reason, reject_probability


def blurry_and_dark_rows(n: int = 200, seed: int = 0) -> tuple[list[dict[str, float]], list[bool]]:
    """Rejects are blurred (low focus); mean green is noise with no relation to the label."""
    rng = np.random.default_rng(seed)
    rejected = rng.random(n) < 0.3
    focus = np.where(rejected, rng.uniform(0.3, 2.0, n), rng.uniform(2.5, 12.0, n))
    green = rng.uniform(40, 160, n)
    rows = [{"focus": float(f), "mean_green": float(g)} for f, g in zip(focus, green, strict=True)]
    return rows, [bool(r) for r in rejected]


def test_the_fit_learns_that_low_focus_means_reject() -> None:
    rows, rejected = blurry_and_dark_rows()
    model = fit_model(rows, rejected, [1.0] * len(rows))
    assert set(model) == {"focus", "mean_green", INTERCEPT}
    assert model["focus"][2] < 0  # weight on log focus: sharper is less likely rejected
    assert abs(model["mean_green"][2]) < abs(model["focus"][2]) / 3
    assert reject_probability({"focus": 0.5, "mean_green": 100}, model) > 0.9
    assert reject_probability({"focus": 10.0, "mean_green": 100}, model) < 0.1
    check_model(model)


def test_the_reason_is_the_metric_pushing_hardest() -> None:
    model = {"focus": [1.0, 1.0, -2.0], "mean_green": [100.0, 20.0, -1.0], INTERCEPT: [0.0]}
    assert main_reason({"focus": 0.2, "mean_green": 100.0}, model) == "blurred"
    assert main_reason({"focus": 2.7, "mean_green": 20.0}, model) == "too_dark"
    over = {"focus": 2.7, "mean_green": 200.0}
    model_over = {"focus": [1.0, 1.0, -2.0], "mean_green": [100.0, 20.0, 1.0], INTERCEPT: [0.0]}
    assert main_reason(over, model_over) == "overexposed"
    assert contributions({"mean_green": 100.0}, model) == {"mean_green": 0.0}  # a missing metric adds nothing


def test_a_missing_metric_sits_at_its_centre() -> None:
    model = {"focus": [1.0, 1.0, -2.0], INTERCEPT: [0.5]}
    assert reject_probability({}, model) == pytest.approx(1 / (1 + np.exp(-0.5)))


@pytest.mark.parametrize(
    "model",
    [
        {"focus": [1.0, 1.0, 1.0]},  # no intercept
        {"focus": [1.0, 0.0, 1.0], INTERCEPT: [0.0]},  # zero scale
        {"focus": [1.0, 1.0], INTERCEPT: [0.0]},  # too short
        {"nonsense": [1.0, 1.0, 1.0], INTERCEPT: [0.0]},
        {"focus": [1.0, float("nan"), 1.0], INTERCEPT: [0.0]},
    ],
)
def test_malformed_models_are_refused(model: dict[str, list[float]]) -> None:
    with pytest.raises(ValueError, match="score_model"):
        check_model(model)


def test_fitting_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        fit_model([{"focus": 1.0}], [True], [1.0])

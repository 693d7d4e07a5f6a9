"""Calibration: thresholds fitted to labels respect the false-reject target and catch what they can."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.config import QualityConfig
from appliance.quality import judge
from appliance.quality.calibration import OFF, Sample, calibrate, fit_thresholds, loosen_not_fundus
from appliance.quality.rules import QUALITY_RULES, RULES

FUNDUS = {"fov_found": 1.0, "fov_diameter_fraction": 0.95, "fov_area_fraction": 0.6, "fov_centre_offset": 0.01,
          "fov_fill": 1.0, "fov_spill": 0.0, "fov_arc_coverage": 1.0, "fov_rim_on_circle": 1.0,
          "fov_rim_error": 0.001, "fov_surround_level": 1.0, "pixel_noise": 0.05, "cool_fraction": 0.0,
          "anterior_eye": 0.0}


def photo(quality: str, **metrics: float) -> Sample:
    return Sample({**FUNDUS, **metrics}, quality)


def population(seed: int = 0) -> list[Sample]:
    """Good photos are sharp and bright; rejects are blurred or dark (never both), usable in between."""
    rng = np.random.default_rng(seed)
    samples = [photo("good", focus=rng.uniform(3, 10), mean_green=rng.uniform(60, 150)) for _ in range(100)]
    samples += [photo("reject", focus=rng.uniform(0.2, 2.5), mean_green=rng.uniform(60, 150)) for _ in range(20)]
    samples += [photo("reject", focus=rng.uniform(3, 10), mean_green=rng.uniform(10, 30)) for _ in range(20)]
    samples += [photo("usable", focus=rng.uniform(3, 5), mean_green=rng.uniform(50, 80)) for _ in range(20)]
    return samples


def verdicts(samples: list[Sample], thresholds: QualityConfig, quality: str) -> list[bool]:
    return [not judge(dict(s.metrics), thresholds).passed for s in samples if s.quality == quality]


def test_separable_metrics_get_thresholds_between_the_classes() -> None:
    samples = population()
    fit = fit_thresholds(samples, QualityConfig(), 0.0)
    assert fit.good_rejected == 0 and fit.reject_caught == fit.reject == 40
    assert 2.5 <= fit.thresholds.min_focus <= 3.0
    assert 30 <= fit.thresholds.too_dark_mean <= 50
    assert set(fit.order) == {"min_focus", "too_dark_mean"}
    # Every other fitted rule is switched off, and judging with the result agrees with the fit.
    assert fit.thresholds.max_illum_dark_fraction == OFF["max"]
    assert fit.thresholds.min_vessel_visibility == OFF["min"]
    assert all(verdicts(samples, fit.thresholds, "reject"))
    assert not any(verdicts(samples, fit.thresholds, "good"))


def test_overlapping_classes_respect_the_false_reject_target() -> None:
    rng = np.random.default_rng(1)
    samples = [photo("good", focus=rng.uniform(1, 10)) for _ in range(200)]
    samples += [photo("reject", focus=rng.uniform(0.2, 4)) for _ in range(50)]
    for target in (0.0, 0.05, 0.2):
        fit = fit_thresholds(samples, QualityConfig(), target, min_gain=0.0)
        assert fit.good_rejected <= target * fit.good
        assert sum(verdicts(samples, fit.thresholds, "good")) == fit.good_rejected
        assert sum(verdicts(samples, fit.thresholds, "reject")) == fit.reject_caught
    loose = fit_thresholds(samples, QualityConfig(), 0.2, min_gain=0.0)
    strict = fit_thresholds(samples, QualityConfig(), 0.0, min_gain=0.0)
    assert loose.reject_caught > strict.reject_caught


def test_a_single_outlier_reject_is_not_chased_with_min_gain() -> None:
    samples = [photo("good", focus=5.0, illum_dark_fraction=0.0) for _ in range(50)]
    samples += [photo("reject", focus=1.0, illum_dark_fraction=0.0) for _ in range(49)]
    samples += [photo("reject", focus=5.0, illum_dark_fraction=0.9)]  # one odd reject
    assert "max_illum_dark_fraction" not in fit_thresholds(samples, QualityConfig(), 0.0, min_gain=0.05).order
    assert "max_illum_dark_fraction" in fit_thresholds(samples, QualityConfig(), 0.0, min_gain=0.0).order


def test_usable_photos_weigh_in_the_budget() -> None:
    samples = [photo("good", focus=8.0) for _ in range(100)]
    samples += [photo("usable", focus=2.0) for _ in range(40)]
    samples += [photo("reject", focus=1.0) for _ in range(20)]
    samples += [photo("reject", focus=2.0) for _ in range(20)]
    # Catching the focus-2 rejects also rejects the 40 usable photos: worth it only if usable is cheap.
    assert fit_thresholds(samples, QualityConfig(), 0.05, usable_weight=0.0).reject_caught == 40
    assert fit_thresholds(samples, QualityConfig(), 0.05, usable_weight=1.0).reject_caught == 20


def test_not_fundus_thresholds_are_loosened_only_where_gradable_photos_need_it() -> None:
    base = QualityConfig()
    ragged = [photo("good", fov_rim_on_circle=0.2) for _ in range(300)] + [photo("good") for _ in range(100)]
    loosened = loosen_not_fundus(ragged, base)
    assert loosened.min_fov_rim_on_circle == pytest.approx(0.2 * 0.9)
    assert loosened.max_pixel_noise == base.max_pixel_noise  # no photo needed it
    # A couple of odd photos among many do not switch a check off.
    odd = [photo("good") for _ in range(998)] + [photo("good", fov_rim_on_circle=0.0) for _ in range(2)]
    assert loosen_not_fundus(odd, base).min_fov_rim_on_circle == base.min_fov_rim_on_circle
    # Reject photos and photos without a field say nothing about what the camera needs.
    assert loosen_not_fundus([photo("reject", fov_rim_on_circle=0.0)], base) == base


def test_calibrate_with_the_combined_score() -> None:
    samples = population()
    fit = calibrate(samples, QualityConfig(), 0.05)
    assert fit.thresholds.score_model  # fitted and kept
    assert fit.good_rejected <= 0.05 * (fit.good + 0.5 * 20)
    assert fit.reject_caught >= 36
    without = calibrate(samples, QualityConfig(), 0.05, score=False)
    assert without.thresholds.score_model == {}


def test_every_fitted_rule_has_an_off_value_and_a_config_key() -> None:
    config = QualityConfig()
    for rule in RULES:
        assert hasattr(config, rule.key), rule
    for rule in QUALITY_RULES:
        assert rule.fails(OFF[rule.bound] - 1 if rule.bound == "min" else OFF[rule.bound] + 1,
                          OFF[rule.bound])  # the OFF value is a real boundary...
        assert not rule.fails(0.5, OFF[rule.bound])  # ...that a metric in range never crosses


@pytest.mark.parametrize("target", [-0.1, 1.5])
def test_target_must_be_a_share(target: float) -> None:
    with pytest.raises(ValueError):
        fit_thresholds(population(), QualityConfig(), target)


def test_both_classes_are_needed() -> None:
    with pytest.raises(ValueError):
        fit_thresholds([photo("good", focus=1.0)], QualityConfig(), 0.05)


def two_cameras(seed: int = 2) -> list[Sample]:
    """Camera A's gradable photos are sharp; camera B's are softer, like many rejects."""
    rng = np.random.default_rng(seed)
    samples = [Sample({**FUNDUS, "focus": rng.uniform(5, 10)}, "good", "a") for _ in range(200)]
    samples += [Sample({**FUNDUS, "focus": rng.uniform(1.0, 4.0)}, "good", "b") for _ in range(100)]
    samples += [Sample({**FUNDUS, "focus": rng.uniform(0.2, 3.0)}, "reject", "a") for _ in range(60)]
    return samples


def test_a_per_source_budget_keeps_a_small_camera_from_paying_for_the_pool() -> None:
    samples = two_cameras()
    pooled = fit_thresholds(samples, QualityConfig(), 0.05, min_gain=0.0)
    per_source = fit_thresholds(samples, QualityConfig(), 0.05, min_gain=0.0, per_group=True)
    b_rejected = sum(verdicts([s for s in samples if s.group == "b"], per_source.thresholds, "good"))
    # Pooled, the whole 5 % of 300 photos may fall on camera B (15 of its 100).
    assert sum(verdicts([s for s in samples if s.group == "b"], pooled.thresholds, "good")) > 5
    assert b_rejected <= 5 and per_source.per_group["b"] == (b_rejected, 100)
    assert per_source.per_group["a"][1] == 200
    assert pooled.per_group == {}
    assert 0 < per_source.reject_caught < pooled.reject_caught


def test_kept_thresholds_are_not_fitted_and_count_in_the_budget() -> None:
    samples = population()
    base = QualityConfig(too_dark_mean=70.0)  # rejects the good photos darker than 70
    fit = calibrate(samples, base, 0.0, score=False, keep=["too_dark_mean"])
    assert fit.thresholds.too_dark_mean == 70.0 and "too_dark_mean" not in fit.order
    dark_good = sum(1 for s in samples if s.quality == "good" and s.metrics["mean_green"] < 70.0)
    # The budget (none) is spent by the kept rule: only a step that rejects no good photo is taken.
    assert dark_good > 0 and fit.good_rejected == dark_good
    assert fit.order == ("min_focus",) and fit.thresholds.min_focus <= 3.0 and fit.reject_caught == 40
    # A kept not-fundus threshold is not loosened for photos that would need it.
    ragged = [photo("good", fov_rim_on_circle=0.2, focus=5.0) for _ in range(50)]
    ragged += [photo("reject", fov_rim_on_circle=0.9, focus=1.0) for _ in range(10)]
    assert calibrate(ragged, QualityConfig(), 0.0, score=False).thresholds.min_fov_rim_on_circle < 0.2
    kept = calibrate(ragged, QualityConfig(), 0.0, score=False, keep=["min_fov_rim_on_circle"])
    assert kept.thresholds.min_fov_rim_on_circle == QualityConfig().min_fov_rim_on_circle


def test_a_backstop_leaves_no_check_off_but_rejects_no_gradable_photo() -> None:
    rng = np.random.default_rng(3)
    samples = [photo("good", focus=rng.uniform(3, 10), illum_dark_fraction=rng.uniform(0, 0.2)) for _ in range(200)]
    samples += [photo("reject", focus=rng.uniform(0.2, 2.5), illum_dark_fraction=rng.uniform(0, 0.2))
                for _ in range(40)]
    without = calibrate(samples, QualityConfig(), 0.0, score=False)
    assert without.thresholds.max_illum_dark_fraction == OFF["max"]  # no reject differs in it: left off
    fit = calibrate(samples, QualityConfig(), 0.0, score=False, backstop=0.0)
    darkest = max(s.metrics["illum_dark_fraction"] for s in samples if s.quality == "good")
    assert fit.thresholds.max_illum_dark_fraction == pytest.approx(darkest * 1.1)
    assert fit.thresholds.min_focus == without.thresholds.min_focus  # fitted tighter than the backstop
    assert fit.good_rejected == 0 and fit.reject_caught == without.reject_caught == 40
    assert not any(verdicts(samples, fit.thresholds, "good"))


def test_the_combined_score_keeps_each_photo_in_its_source() -> None:
    samples = two_cameras()
    fit = calibrate(samples, QualityConfig(), 0.05, per_group=True, min_gain=0.0)
    assert fit.thresholds.score_model
    assert set(fit.per_group) == {"a", "b"}
    assert all(rejected <= 0.05 * n for rejected, n in fit.per_group.values())


def test_rules_not_fitted_to_labels_keep_the_starting_value() -> None:
    """The field's place in the frame is geometry, not a grader's judgement: never fitted, even
    where the rejects happen to sit further off-centre."""
    samples = population()
    samples += [photo("reject", focus=6.0, mean_green=100.0, fov_centre_offset=0.15) for _ in range(20)]
    base = QualityConfig(max_field_centre_offset=0.3)
    fit = calibrate(samples, base, 0.05, score=False, backstop=0.0)
    assert fit.thresholds.max_field_centre_offset == 0.3 and "max_field_centre_offset" not in fit.order
    assert not next(r for r in QUALITY_RULES if r.key == "max_field_centre_offset").fitted

"""Site validation maths: the threshold for a target sensitivity and its interval, the score shift, the report."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from appliance.evaluation.dataset import LabelledImage
from appliance.evaluation.dr import EvaluationRun, ImageResult
from appliance.evaluation.metrics import choose_threshold
from appliance.evaluation.site import (
    SiteDataError,
    quantile_distance,
    score_shift,
    site_report,
    site_threshold,
    threshold_for_sensitivity,
)
from appliance.inference.manifest import ModelManifest, ValidationScores, load_manifest
from appliance.operating_point import report_digest
from tests.unit.evaluation.site_fakes import validation_section, write_site_manifest


@pytest.mark.parametrize("seed", range(40))
def test_the_fast_threshold_is_the_one_choose_threshold_picks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos, neg = rng.random(int(rng.integers(1, 60))), rng.random(int(rng.integers(1, 60)))
    if seed % 3 == 0:  # ties
        pos, neg = np.round(pos, 2), np.round(neg, 2)
    target = float(rng.choice([0.1, 0.5, 0.75, 0.87, 0.9, 1.0]))
    labels = np.r_[np.ones(pos.size, bool), np.zeros(neg.size, bool)]
    expected = choose_threshold(labels, np.r_[pos, neg], target).threshold
    assert threshold_for_sensitivity(pos, target) == expected


def test_threshold_reaches_the_target_and_no_higher_one_does() -> None:
    pos = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])
    # 87 % of 10 referable photos needs 9 of them referred: the 9th highest score, 0.15
    assert threshold_for_sensitivity(pos, 0.87) == 0.15
    assert threshold_for_sensitivity(pos, 0.9) == 0.15  # exactly 9/10
    assert threshold_for_sensitivity(pos, 0.91) == 0.1
    assert threshold_for_sensitivity(np.array([0.123456]), 0.5) == 0.1234  # rounded down, keeps the photo
    with pytest.raises(ValueError):
        threshold_for_sensitivity(np.array([]), 0.87)


def test_site_threshold_interval_brackets_the_point_and_narrows_with_more_photos() -> None:
    rng = np.random.default_rng(0)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = rng.beta(5, 2, n), rng.beta(2, 5, 4 * n)
        return np.r_[np.ones(n, bool), np.zeros(4 * n, bool)], np.r_[pos, neg]

    small = site_threshold(*sample(30), 0.87, replicates=400, seed=1)
    large = site_threshold(*sample(600), 0.87, replicates=400, seed=1)
    for chosen in (small, large):
        assert chosen.low <= chosen.threshold <= chosen.high
        assert chosen.sensitivity >= 0.87
        assert chosen.specificity_low <= chosen.specificity <= chosen.specificity_high
    assert large.high - large.low < small.high - small.low
    # near the 13th percentile of Beta(5, 2), 0.520 (numpy, 2 million draws)
    assert abs(large.threshold - 0.520) < 0.03
    again = site_threshold(*sample(30), 0.87, replicates=0, seed=1)
    assert math.isnan(again.low) and math.isnan(again.high)


def test_quantile_distance_is_the_mean_gap_between_quantiles() -> None:
    assert quantile_distance([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]) == 0.0
    assert quantile_distance([0.2, 0.3, 0.4], [0.1, 0.2, 0.3]) == pytest.approx(0.1)
    assert quantile_distance([0.0, 0.5], [0.2, 0.3]) == pytest.approx(0.2)


def test_shift_is_flagged_when_the_site_scores_move_and_not_when_they_match() -> None:
    rng = np.random.default_rng(3)
    levels = (0.1, 0.25, 0.5, 0.75, 0.9)
    validation = tuple(float(q) for q in np.quantile(rng.beta(2, 12, 5000), levels))
    same = score_shift(rng.beta(2, 12, 400), levels, validation, replicates=500, seed=0)
    assert not same.differs and same.distance < 0.02
    moved = score_shift(rng.beta(3, 10, 400), levels, validation, replicates=500, seed=0)  # median ~0.21 vs ~0.13
    assert moved.differs and moved.median_difference > 0.05
    few = score_shift(rng.beta(3, 10, 9), levels, validation, replicates=500, seed=0)
    assert not few.judged and not few.differs
    assert moved.site_median_low <= moved.site_median <= moved.site_median_high
    assert moved.distance_low <= moved.distance <= moved.distance_high and moved.distance > same.distance


def _run(scores: list[tuple[float, bool, int, bool | None]]) -> EvaluationRun:
    """(score, referable, grade, gate_passed) per photo."""
    results = [ImageResult(LabelledImage(path=Path(f"p{k}.jpg"), file=f"p{k}.jpg",
                                         dr_grade=grade, referable=referable, quality=None, source="s"),
                           score=score, gate_passed=passed)
               for k, (score, referable, grade, passed) in enumerate(scores)]
    return EvaluationRun(results=results, seconds=1.0, runner="onnxruntime-cpu")


def _manifest(tmp_path: Path, validation: bool) -> ModelManifest:
    section = validation_section([0.05, 0.08, 0.1, 0.15, 0.2], [0.3, 0.4, 0.5, 0.6, 0.7]) if validation else None
    return load_manifest(write_site_manifest(tmp_path / "model", threshold=0.3, validation=section))


def test_report_counts_graded_photos_per_grade_and_seals_itself(tmp_path: Path) -> None:
    photos = [(0.1, False, 0, True), (0.35, False, 1, True), (0.2, False, 0, True), (0.6, True, 2, True),
              (0.25, True, 3, True), (0.9, True, 4, True), (0.8, True, 2, False), (0.1, False, 0, False)]
    report = site_report(_run(photos), _manifest(tmp_path, validation=True), dataset={"folder": "f"},
                         replicates=200, seed=0)
    assert report["n_graded"] == 6 and report["imageability"]["n_passed"] == 6
    assert report["imageability"]["share"] == pytest.approx(0.75)
    assert report["imageability"]["low"] < 0.75 < report["imageability"]["high"]
    locked = report["locked_threshold"]
    assert locked["threshold"] == 0.3
    assert (locked["n_referable"], locked["n_not_referable"]) == (3, 3)
    assert locked["sensitivity"]["value"] == pytest.approx(2 / 3)
    assert locked["specificity"]["value"] == pytest.approx(2 / 3)
    grades = {row["grade"]: row for row in report["per_grade"]}
    assert grades[0]["n"] == 2 and grades[0]["share_referred"] == 0.0
    assert grades[1]["n"] == 1 and grades[1]["share_referred"] == 1.0
    assert grades[2]["n"] == 1 and grades[4]["share_referred"] == 1.0
    site = report["site_operating_point"]
    assert site["target_sensitivity"] == 0.75 and site["target_from"] == "manifest"
    # 75 % of 3 referable photos needs all 3: the lowest referable score
    assert site["threshold"] == 0.25 and site["sensitivity"] == 1.0
    assert (site["n_photos"], site["n_referable"], site["n_not_referable"]) == (6, 3, 3)
    assert report["shift"]["available"] is True
    assert report["distribution"]["validation_not_referable"] == [0.05, 0.08, 0.1, 0.15, 0.2]
    assert report["report_sha256"] == report_digest(report)


def test_without_validation_scores_the_comparison_is_unavailable(tmp_path: Path) -> None:
    photos = [(0.1, False, 0, True), (0.6, True, 2, True), (0.2, False, 1, True), (0.7, True, 3, True)]
    report = site_report(_run(photos), _manifest(tmp_path, validation=False), dataset={"folder": "f"},
                         replicates=50, seed=0)
    assert report["shift"] == {"available": False, "differs": None, "message": report["shift"]["message"]}
    assert "unavailable" in report["shift"]["message"] and "[validation]" in report["shift"]["message"]
    assert report["distribution"]["validation_not_referable"] is None
    assert report["site_operating_point"]["target_from"] == "default"
    assert report["site_operating_point"]["target_sensitivity"] == 0.87


@pytest.mark.parametrize(("photos", "code"), [
    ([(0.1, False, 0, True), (0.2, False, 1, True)], "site_no_referable"),
    ([(0.1, False, 0, True), (0.9, True, 3, False)], "site_no_referable"),  # the referable photo failed the gate
    ([(0.6, True, 2, True)], "site_no_not_referable"),
])
def test_a_site_without_both_classes_is_refused(tmp_path: Path,
                                                photos: list[tuple[float, bool, int, bool]], code: str) -> None:
    with pytest.raises(SiteDataError) as raised:
        site_report(_run(photos), _manifest(tmp_path, validation=False), dataset={"folder": "f"},
                    replicates=10, seed=0)
    assert raised.value.reason_code == code and "needs both" in raised.value.message


def test_validation_scores_type_is_what_the_manifest_reads(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, validation=True)
    assert isinstance(manifest.validation, ValidationScores) and manifest.validation.target_sensitivity == 0.75

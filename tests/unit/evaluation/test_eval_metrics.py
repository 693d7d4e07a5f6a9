"""Screening metrics against hand-computed cases: AUC with ties, sens/spec at a threshold, bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from appliance.evaluation.metrics import (
    Confusion,
    at_threshold,
    binary_metrics,
    choose_threshold,
    confusion,
    roc_auc,
)


def test_auc_hand_case() -> None:
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 0.35 beats one, 0.8 beats both -> 3/4.
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_auc_counts_a_tie_as_half() -> None:
    # Pairs (pos, neg): (0.5, 0.5) tie = 1/2, (0.5, 0.2) = 1, (0.9, 0.5) = 1, (0.9, 0.2) = 1 -> 3.5 / 4.
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.2, 0.9])) == pytest.approx(0.875)
    assert roc_auc(np.array([0, 1, 0, 1]), np.full(4, 0.3)) == pytest.approx(0.5)


def test_auc_perfect_and_inverse() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    assert roc_auc(labels, scores) == 1.0
    assert roc_auc(labels, -scores) == 0.0


def test_auc_with_one_class_is_nan() -> None:
    assert math.isnan(roc_auc(np.ones(4), np.arange(4.0)))
    assert math.isnan(roc_auc(np.zeros(4), np.arange(4.0)))
    assert math.isnan(roc_auc(np.zeros(0), np.zeros(0)))


def test_auc_matches_the_pairwise_definition_on_coarse_scores() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(300) < 0.25
    scores = np.round(rng.random(300) + 0.3 * labels, 1)  # one decimal: many ties
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[labels] for n in scores[~labels]]
    assert roc_auc(labels, scores) == pytest.approx(float(np.mean(pairs)), abs=1e-12)
    assert roc_auc(labels, -scores) == pytest.approx(1.0 - float(np.mean(pairs)), abs=1e-12)


def test_confusion_refers_at_or_above_the_threshold() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.2, 0.5, 0.49, 0.1, 0.0])
    counts = confusion(labels, scores, 0.5)
    assert counts == Confusion(tp=2, fp=1, tn=3, fn=1)
    assert counts.sensitivity == pytest.approx(2 / 3)
    assert counts.specificity == pytest.approx(3 / 4)
    op = at_threshold(labels, scores, 0.5)
    assert (op.threshold, op.sensitivity, op.specificity) == (0.5, pytest.approx(2 / 3), pytest.approx(0.75))


def test_sensitivity_without_positives_is_nan() -> None:
    counts = confusion(np.zeros(3), np.array([0.1, 0.6, 0.7]), 0.5)
    assert math.isnan(counts.sensitivity)
    assert counts.specificity == pytest.approx(1 / 3)
    assert math.isnan(confusion(np.ones(2), np.array([0.1, 0.6]), 0.5).specificity)


def test_threshold_keeps_sensitivity_and_maximises_specificity() -> None:
    labels = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9])
    op = choose_threshold(labels, scores, min_sensitivity=0.8)
    assert op.threshold == pytest.approx(0.6)  # 4/5 positives at >= 0.6, 5/5 negatives below
    assert (op.sensitivity, op.specificity) == (0.8, 1.0)
    full = choose_threshold(labels, scores, min_sensitivity=1.0)
    assert full.threshold == pytest.approx(0.45) and full.specificity == pytest.approx(0.8)
    assert at_threshold(labels, scores, 0.45).sensitivity == 1.0
    with pytest.raises(ValueError, match="positive"):
        choose_threshold(np.zeros(3), np.arange(3.0), 0.8)


def _noisy(n: int = 400, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.2
    scores = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * labels)))
    return labels, scores


def test_bootstrap_intervals_contain_the_point_estimates() -> None:
    labels, scores = _noisy()
    m = binary_metrics(labels, scores, 0.5, replicates=500, seed=0)
    assert (m.n, m.n_referable, m.n_not_referable) == (400, int(labels.sum()), 400 - int(labels.sum()))
    assert m.auc.value == pytest.approx(roc_auc(labels, scores))
    assert m.counts == confusion(labels, scores, 0.5)
    for e in (m.auc, m.sensitivity, m.specificity):
        assert e.low < e.value < e.high
        assert e.high - e.low < 0.3  # informative with 400 photos, not [0, 1]


def test_bootstrap_is_deterministic_with_a_seed() -> None:
    labels, scores = _noisy()
    a = binary_metrics(labels, scores, 0.5, replicates=200, seed=7)
    b = binary_metrics(labels, scores, 0.5, replicates=200, seed=7)
    c = binary_metrics(labels, scores, 0.5, replicates=200, seed=8)
    assert a == b
    assert (a.auc.low, a.auc.high) != (c.auc.low, c.auc.high)


def test_bootstrap_is_stratified_so_one_positive_still_gives_an_auc_interval() -> None:
    # A plain bootstrap would draw replicates without the lone positive (AUC undefined); stratified never does.
    labels = np.array([1, 0, 0, 0, 0, 0])
    scores = np.array([0.6, 0.1, 0.2, 0.3, 0.7, 0.4])
    m = binary_metrics(labels, scores, 0.5, replicates=300, seed=0)
    assert m.auc.value == pytest.approx(0.8)
    assert 0.0 <= m.auc.low <= 0.8 <= m.auc.high <= 1.0
    assert (m.sensitivity.low, m.sensitivity.value, m.sensitivity.high) == (1.0, 1.0, 1.0)


def test_one_class_gives_nan_auc_and_sensitivity_but_a_specificity() -> None:
    m = binary_metrics(np.zeros(5), np.array([0.1, 0.2, 0.6, 0.3, 0.4]), 0.5, replicates=100, seed=0)
    assert math.isnan(m.auc.value) and math.isnan(m.auc.low) and math.isnan(m.auc.high)
    assert math.isnan(m.sensitivity.value) and math.isnan(m.sensitivity.low)
    assert m.specificity.value == pytest.approx(0.8)
    assert m.specificity.low <= 0.8 <= m.specificity.high


def test_no_replicates_and_no_images_give_nan_intervals() -> None:
    labels, scores = _noisy(50)
    m = binary_metrics(labels, scores, 0.5, replicates=0)
    assert not math.isnan(m.auc.value) and math.isnan(m.auc.low) and math.isnan(m.auc.high)
    empty = binary_metrics(np.zeros(0), np.zeros(0), 0.5)
    assert empty.n == 0 and math.isnan(empty.auc.value) and math.isnan(empty.specificity.value)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        binary_metrics(np.zeros(3), np.zeros(4), 0.5)
    with pytest.raises(ValueError, match="replicates"):
        binary_metrics(np.zeros(3), np.zeros(3), 0.5, replicates=-1)
    with pytest.raises(ValueError, match="level"):
        binary_metrics(np.zeros(3), np.zeros(3), 0.5, level=1.0)

"""Parity arithmetic on hand-made scores: AUCs, decision agreement, score differences, the choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibration.parity import best, compare, summary_line, table

LABELS = np.array([1, 1, 1, 0, 0, 0, 0, 0], np.float32)
FP32 = np.array([0.90, 0.70, 0.40, 0.60, 0.30, 0.20, 0.10, 0.05])


def test_identical_scores_agree_perfectly() -> None:
    p = compare(LABELS, FP32, FP32.copy(), threshold=0.5)
    assert p.agreement == 1.0 and p.flips == 0 and p.max_abs_diff == 0.0 and p.auc_diff == 0.0
    assert p.meets_targets


def test_hand_made_differences_are_measured_exactly() -> None:
    int8 = FP32 + np.array([0.0, 0.0, 0.15, -0.12, 0.0, 0.0, 0.0, 0.01])  # 0.40 -> 0.55, 0.60 -> 0.48
    p = compare(LABELS, FP32, int8, threshold=0.5)
    assert p.flips == 2 and p.agreement == pytest.approx(6 / 8)
    assert p.max_abs_diff == pytest.approx(0.15)
    assert p.mean_diff == pytest.approx((0.15 - 0.12 + 0.01) / 8)
    assert p.mean_abs_diff == pytest.approx((0.15 + 0.12 + 0.01) / 8)
    # FP32: positives 0.9, 0.7, 0.4 vs negatives 0.6, 0.3, ...: 0.4 < 0.6 is the one wrong pair of 15.
    assert p.fp32_auc == pytest.approx(14 / 15)
    assert p.int8_auc == pytest.approx(1.0)
    assert p.auc_diff == pytest.approx(1 / 15)
    assert (p.fp32_sensitivity, p.int8_sensitivity) == (pytest.approx(2 / 3), 1.0)
    assert (p.fp32_specificity, p.int8_specificity) == (pytest.approx(4 / 5), 1.0)
    assert not p.auc_ok and not p.agreement_ok and not p.meets_targets


def test_one_flip_in_a_hundred_meets_the_agreement_target_two_do_not() -> None:
    labels = np.r_[np.ones(50), np.zeros(50)]
    fp32 = np.linspace(0.01, 0.99, 100)
    one, two = fp32.copy(), fp32.copy()
    near = int(np.argmin(np.abs(fp32 - 0.5)))
    one[near] = 1 - one[near]
    two[[near, near + 1]] = 1 - two[[near, near + 1]]
    assert compare(labels, fp32, one, 0.5).agreement_ok
    assert not compare(labels, fp32, two, 0.5).agreement_ok


def test_a_single_class_gives_an_undefined_auc_that_never_meets_the_target() -> None:
    p = compare(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    assert math.isnan(p.auc_diff) and not p.auc_ok and math.isnan(p.fp32_sensitivity)


def test_mismatched_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="equal"):
        compare(LABELS, FP32, FP32[:-1], 0.5)


def test_best_prefers_meeting_targets_then_agreement_then_auc() -> None:
    good = compare(LABELS, FP32, FP32 + 0.001, 0.5)
    closer = compare(LABELS, FP32, FP32 + 0.0001, 0.5)
    flipped = compare(LABELS, FP32, FP32 + np.array([0, 0, 0.15, 0, 0, 0, 0, 0]), 0.5)
    assert best([flipped, good]) == 1
    assert best([good, closer]) == 1  # same agreement and AUC: smaller largest difference
    with pytest.raises(ValueError):
        best([])


def test_table_and_summary_state_the_figures_and_the_verdict() -> None:
    p = compare(LABELS, FP32, FP32 + np.array([0, 0, 0.15, 0, 0, 0, 0, 0]), 0.5)
    lines = table([("minmax, head float", p)])
    assert lines[0].startswith("| variant |") and "| minmax, head float | 8 |" in lines[2]
    assert "87.5 %" in lines[2] and "agreement missed" in lines[2]
    assert "MISSED" in summary_line(p) and "0.1500" in summary_line(p)


def test_among_variants_meeting_the_targets_the_cheapest_is_shipped() -> None:
    exact = compare(LABELS, FP32, FP32.copy(), 0.5)
    close = compare(LABELS, FP32, FP32 + 0.001, 0.5)
    flipped = compare(LABELS, FP32, FP32 + np.array([0, 0, 0.15, 0, 0, 0, 0, 0]), 0.5)
    assert best([exact, close], costs=[17, 0]) == 1  # both meet the targets: fewer float layers wins
    assert best([flipped, exact], costs=[0, 17]) == 1  # a variant missing the targets is never preferred
    with pytest.raises(ValueError, match="one cost per result"):
        best([exact], costs=[1, 2])

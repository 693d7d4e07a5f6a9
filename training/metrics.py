"""Rank-based ROC AUC and operating-threshold choice, in numpy (small and auditable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.floating] | npt.NDArray[np.integer] | npt.NDArray[np.bool_]


def roc_auc(labels: Array, scores: Array) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counting 1/2.

    Computed from average ranks (Mann-Whitney U). Returns NaN when either class is absent.
    """
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), np.float64)
    # Average rank over each run of tied scores.
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0  # mean of 1-based ranks a+1 .. b
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass(frozen=True)
class Operating:
    """A threshold (refer when score >= threshold) and its sensitivity/specificity on some split."""

    threshold: float
    sensitivity: float
    specificity: float


def at_threshold(labels: Array, scores: Array, threshold: float) -> Operating:
    """Sensitivity and specificity when `score >= threshold` means refer. NaN for an absent class."""
    y = np.asarray(labels).astype(bool).ravel()
    refer = np.asarray(scores, np.float64).ravel() >= threshold
    sens = float(refer[y].mean()) if y.any() else float("nan")
    spec = float((~refer[~y]).mean()) if (~y).any() else float("nan")
    return Operating(threshold, sens, spec)


def choose_threshold(labels: Array, scores: Array, min_sensitivity: float, decimals: int = 4) -> Operating:
    """Highest-specificity threshold whose sensitivity is at least `min_sensitivity`.

    Candidates are the observed scores, rounded DOWN to `decimals` so the written value keeps the
    sensitivity. Raises ValueError when there are no positives.
    """
    y = np.asarray(labels).astype(bool).ravel()
    if not y.any():
        raise ValueError("cannot choose a threshold without positive examples")
    scale = 10.0**decimals
    # The tiny epsilon keeps floor() from turning 0.7 into 0.6999 through binary rounding.
    candidates = np.unique(np.floor(np.asarray(scores, np.float64).ravel() * scale + 1e-9) / scale)
    best = Operating(0.0, 1.0, 0.0)
    for t in candidates:
        op = at_threshold(y, scores, float(round(t, decimals)))
        if op.sensitivity >= min_sensitivity and op.specificity >= best.specificity:
            best = op  # ascending candidates: ties in specificity go to the higher threshold
    return best


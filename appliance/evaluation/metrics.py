"""Screening metrics in plain numpy: ROC AUC, sensitivity and specificity at a threshold, the
confusion counts, operating-threshold choice and stratified bootstrap 95 % intervals.

Conventions: `labels` are truthy for referable DR; `scores` are the model's probabilities; an
image is referred when `score >= threshold`. A metric whose class is absent (AUC with one class,
sensitivity without positives) is NaN, never an exception, so a small per-source slice still
reports. Pure: no I/O; the only randomness is the bootstrap's, from an explicit seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.floating] | npt.NDArray[np.integer] | npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

#: Coverage of the bootstrap intervals.
CONFIDENCE_LEVEL = 0.95


def _labels(labels: Array) -> Bools:
    return np.asarray(labels).astype(bool).ravel()


def _scores(scores: Array) -> Floats:
    return np.asarray(scores, np.float64).ravel()


def roc_auc(labels: Array, scores: Array) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counting 1/2.

    Computed from average ranks (Mann-Whitney U). Returns NaN when either class is absent.
    """
    y, s = _labels(labels), _scores(scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    # Average 1-based rank over each run of tied scores: run [a, b) has ranks a+1 .. b.
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s), np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass(frozen=True)
class Confusion:
    """Counts at one threshold: tp/fn among referable images, tn/fp among the others."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def sensitivity(self) -> float:
        """tp / (tp + fn); NaN without referable images."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def specificity(self) -> float:
        """tn / (tn + fp); NaN without non-referable images."""
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else float("nan")


def confusion(labels: Array, scores: Array, threshold: float) -> Confusion:
    """Confusion counts when `score >= threshold` means refer."""
    y, refer = _labels(labels), _scores(scores) >= threshold
    return Confusion(
        tp=int((refer & y).sum()), fp=int((refer & ~y).sum()),
        tn=int((~refer & ~y).sum()), fn=int((~refer & y).sum()),
    )


@dataclass(frozen=True)
class Operating:
    """A threshold (refer when score >= threshold) and its sensitivity/specificity on some split."""

    threshold: float
    sensitivity: float
    specificity: float


def at_threshold(labels: Array, scores: Array, threshold: float) -> Operating:
    """Sensitivity and specificity when `score >= threshold` means refer. NaN for an absent class."""
    counts = confusion(labels, scores, threshold)
    return Operating(threshold, counts.sensitivity, counts.specificity)


def choose_threshold(labels: Array, scores: Array, min_sensitivity: float, decimals: int = 4) -> Operating:
    """Highest-specificity threshold whose sensitivity is at least `min_sensitivity`.

    Candidates are the observed scores, rounded DOWN to `decimals` so the written value keeps the
    sensitivity; among equally specific thresholds the highest wins.

    Raises:
        ValueError: there are no positives.
    """
    y = _labels(labels)
    if not y.any():
        raise ValueError("cannot choose a threshold without positive examples")
    scale = 10.0**decimals
    # The tiny epsilon keeps floor() from turning 0.7 into 0.6999 through binary rounding.
    candidates = np.unique(np.floor(_scores(scores) * scale + 1e-9) / scale)
    best = Operating(0.0, 1.0, 0.0)
    for t in candidates:
        op = at_threshold(y, scores, float(round(t, decimals)))
        if op.sensitivity >= min_sensitivity and op.specificity >= best.specificity:
            best = op  # ascending candidates: ties in specificity go to the higher threshold
    return best


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap interval [low, high]; all NaN where undefined."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class BinaryMetrics:
    """Referable-DR metrics of one set of scored images at one threshold."""

    n: int
    n_referable: int
    threshold: float
    auc: Estimate
    sensitivity: Estimate
    specificity: Estimate
    counts: Confusion

    @property
    def n_not_referable(self) -> int:
        return self.n - self.n_referable


def percentile_interval(samples: Floats, level: float) -> tuple[float, float]:
    """The central `level` interval of bootstrap samples (non-finite ones ignored; NaN, NaN if none)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def binary_metrics(
    labels: Array, scores: Array, threshold: float, *, replicates: int = 1000, seed: int = 0,
    level: float = CONFIDENCE_LEVEL,
) -> BinaryMetrics:
    """AUC, sensitivity and specificity at `threshold`, with stratified percentile bootstrap intervals.

    Each replicate resamples the referable and the non-referable images separately, with
    replacement and at their own counts (so every replicate keeps both classes and the case mix);
    AUC, sensitivity and specificity are computed on the same replicates. The result depends only
    on the inputs, `replicates` and `seed`.

    Args:
        replicates: bootstrap replicates; 0 gives NaN intervals.
        level: interval coverage in (0, 1).

    Raises:
        ValueError: labels and scores differ in length, replicates < 0, or level not in (0, 1).
    """
    y, s = _labels(labels), _scores(scores)
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if replicates < 0 or not 0.0 < level < 1.0:
        raise ValueError("replicates must be >= 0 and level in (0, 1)")
    pos, neg = s[y], s[~y]
    counts = confusion(y, s, threshold)
    auc = roc_auc(y, s)
    nan = float("nan")
    boot_auc, boot_sens, boot_spec = (np.full(replicates, nan) for _ in range(3))
    if replicates and (pos.size or neg.size):
        rng = np.random.default_rng(seed)
        pos_idx = rng.integers(0, pos.size, (replicates, pos.size)) if pos.size else None
        neg_idx = rng.integers(0, neg.size, (replicates, neg.size)) if neg.size else None
        if pos_idx is not None:
            boot_sens = (pos[pos_idx] >= threshold).mean(axis=1)
        if neg_idx is not None:
            boot_spec = (neg[neg_idx] < threshold).mean(axis=1)
        if pos_idx is not None and neg_idx is not None:
            both_y = np.r_[np.ones(pos.size, bool), np.zeros(neg.size, bool)]
            boot_auc = np.array([roc_auc(both_y, np.r_[pos[p], neg[q]]) for p, q in zip(pos_idx, neg_idx, strict=True)])
    return BinaryMetrics(
        n=int(y.size),
        n_referable=int(y.sum()),
        threshold=float(threshold),
        auc=Estimate(auc, *percentile_interval(boot_auc, level)),
        sensitivity=Estimate(counts.sensitivity, *percentile_interval(boot_sens, level)),
        specificity=Estimate(counts.specificity, *percentile_interval(boot_spec, level)),
        counts=counts,
    )

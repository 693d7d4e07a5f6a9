"""Post-hoc score calibration in numpy: temperature scaling of logits, NLL, ECE, bootstrap AUC interval.

Temperature scaling divides every logit by one T > 0 fitted on the validation split by minimising
the binary negative log-likelihood; it never changes the ranking (AUC) and only moves the threshold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.metrics import roc_auc

Floats = npt.NDArray[np.float64]


def sigmoid(z: Floats) -> Floats:
    """Logistic function, elementwise, overflow-safe."""
    return np.asarray(np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))),
                               np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z)))), np.float64)


def nll(labels: Floats, logits: Floats) -> float:
    """Mean binary negative log-likelihood (nats per image) of 0/1 `labels` under `logits`."""
    y, z = np.asarray(labels, np.float64), np.asarray(logits, np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))  # = -y log p - (1-y) log(1-p)


def ece(labels: Floats, probs: Floats, bins: int = 10) -> float:
    """Expected calibration error: sum over equal-width probability bins of share x |mean p - rate|."""
    y, p = np.asarray(labels, np.float64), np.asarray(probs, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(total)


def fit_temperature(labels: Floats, logits: Floats, low: float = 0.05, high: float = 20.0) -> float:
    """The T in [low, high] minimising nll(labels, logits / T) (golden-section search on log T).

    The NLL of logits/T is unimodal in log T for a fixed set of logits in practice; the search is
    bounded, so a degenerate input (one class) returns an end of the range instead of diverging.
    """
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(80):
        if nll(labels, logits / np.exp(c)) < nll(labels, logits / np.exp(d)):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    return float(np.exp((a + b) / 2.0))


def fit_platt(labels: Floats, logits: Floats, iterations: int = 50) -> tuple[float, float]:
    """(a, b) minimising nll(labels, a * logits + b): 1-D logistic regression by Newton's method.

    Unlike a temperature alone, the bias removes an offset such as the one a BCE `pos_weight` puts on
    every score. A tiny ridge keeps the step defined when one class is absent or the logits are constant.
    """
    y, z = np.asarray(labels, np.float64), np.asarray(logits, np.float64)
    design = np.stack([z, np.ones_like(z)], 1)
    w = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = sigmoid(design @ w)
        grad = design.T @ (p - y) + 1e-6 * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        before, shrink = nll(y, design @ w), 1.0
        while shrink > 1e-6 and nll(y, design @ (w - shrink * step)) > before:
            shrink /= 2.0  # backtracking keeps every step downhill (separable or extreme logits)
        w = w - shrink * step
        if np.abs(shrink * step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def bootstrap_auc(labels: Floats, scores: Floats, rounds: int = 1000,
                  seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the AUC over `rounds` image-level resamples (stratified by class)."""
    y, s = np.asarray(labels).astype(bool), np.asarray(scores, np.float64)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(rounds):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        aucs.append(roc_auc(y[idx], s[idx]))
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)

"""How far a site's model scores lie from the scores the model gave its validation photos. Pure numpy.

The validation photos were about half referable; a clinic screens a population with far fewer. So a
site's scores are compared not with the validation photos as they were mixed, but with the closest mix
of the two validation distributions (referable and not): the share of referable-like scores is fitted,
and what no share explains is the shift. The distance is Kolmogorov–Smirnov's (the largest gap between
the site's empirical CDF and the fitted mixture's CDF, 0..1); each class's CDF is the manifest's
quantiles, linearly interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from appliance.inference.manifest import ValidationScores

#: Shares of referable-like scores tried when fitting the mixture (steps of 0.005).
_SHARES = np.linspace(0.0, 1.0, 201)


@dataclass(frozen=True)
class ScoreShift:
    """`distance`: the KS distance (0..1) from the site's scores to the closest mixture of the validation
    scores; `referable_share`: that mixture's share of referable-like scores (0..1)."""

    distance: float
    referable_share: float


def class_cdf(levels: Sequence[float], quantiles: Sequence[float], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """The CDF of one class at `scores`, from its quantiles at `levels` (0 below the first, 1 above the last)."""
    return np.interp(scores, np.asarray(quantiles, dtype=np.float64), np.asarray(levels, dtype=np.float64),
                     left=0.0, right=1.0)


def score_shift(scores: Sequence[float], validation: ValidationScores) -> ScoreShift:
    """The shift of `scores` (probabilities 0..1 of gradable photos) from the validation mixture that fits
    them best.

    Raises:
        ValueError: no scores.
    """
    x = np.sort(np.asarray(scores, dtype=np.float64))
    n = x.size
    if n == 0:
        raise ValueError("no scores to compare")
    referable = class_cdf(validation.quantile_levels, validation.referable_quantiles, x)
    not_referable = class_cdf(validation.quantile_levels, validation.not_referable_quantiles, x)
    mixture = _SHARES[:, None] * referable + (1.0 - _SHARES[:, None]) * not_referable  # shares × scores
    above = np.arange(1, n + 1) / n - mixture  # the ECDF just at each score...
    below = mixture - np.arange(n) / n  # ...and just before it: the mixture is continuous
    distance = np.maximum(above, below).max(axis=1)
    best = int(np.argmin(distance))
    return ScoreShift(distance=float(distance[best]), referable_share=float(_SHARES[best]))

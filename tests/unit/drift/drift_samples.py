"""Scores drawn from the shipped model's validation distributions (its manifest's quantiles), for drift tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from appliance.inference.manifest import ValidationScores, load_manifest

MANIFEST = Path(__file__).resolve().parents[3] / "models" / "dr-reference.toml"


def validation() -> ValidationScores:
    scores = load_manifest(MANIFEST, verify=False).validation
    assert scores is not None
    return scores


def draw(n: int, referable_share: float, seed: int = 0) -> NDArray[np.float64]:
    """`n` scores of a population with `referable_share` referable photos, as the model scored validation."""
    v = validation()
    rng = np.random.default_rng(seed)
    u, referable = rng.random(n), rng.random(n) < referable_share
    return np.where(referable, np.interp(u, v.quantile_levels, v.referable_quantiles),
                    np.interp(u, v.quantile_levels, v.not_referable_quantiles))


def shifted(scores: NDArray[np.float64], logit_shift: float = 0.0, logit_scale: float = 1.0) -> NDArray[np.float64]:
    """The scores with their logits scaled then shifted (a camera whose photos the model reads otherwise)."""
    p = np.clip(scores, 1e-6, 1 - 1e-6)
    return 1 / (1 + np.exp(-(np.log(p / (1 - p)) * logit_scale + logit_shift)))

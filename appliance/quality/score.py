"""The combined quality score: graders' judgement from all the quality metrics at once. Pure.

Single thresholds miss photos that are a little bad in several ways at once; graders do not. A
profile may therefore carry a logistic model over the quality metrics (fitted by
`appliance quality-calibrate`), giving `reject_probability`, the probability that graders would
reject the photo. Its rule names the reason that contributes most to the probability, so the
operator still reads one specific retake sentence.

The model is stored in the profile's [quality.score_model] table: for each metric of
SCORE_FEATURES, [centre, scale, weight] on the (log-)metric, and "intercept" = [bias].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

#: Metric -> (reason when it is low, reason when it is high, measured on a log scale).
SCORE_FEATURES: dict[str, tuple[str, str, bool]] = {
    "focus": ("blurred", "blurred", True),
    "vessel_visibility": ("blurred", "blurred", False),
    "vessel_visibility_centre": ("blurred", "blurred", False),
    "detail_ratio": ("blurred", "blurred", True),
    "pixel_noise": ("blurred", "blurred", True),
    "illum_dark_fraction": ("uneven_illumination", "uneven_illumination", False),
    "illum_bright_fraction": ("uneven_illumination", "uneven_illumination", False),
    "illum_quadrant_ratio": ("uneven_illumination", "uneven_illumination", False),
    "illum_centre_ratio": ("uneven_illumination", "uneven_illumination", False),
    "illum_rim_max": ("uneven_illumination", "uneven_illumination", False),
    "disc_prominence": ("uneven_illumination", "uneven_illumination", False),
    "illum_rim_min": ("eyelid_artefact", "eyelid_artefact", False),
    "mean_green": ("too_dark", "overexposed", False),
    "black_fraction": ("too_dark", "too_dark", False),
    "saturated_fraction": ("overexposed", "overexposed", False),
    "cool_fraction": ("hazy", "hazy", False),
    "neutral_fraction": ("hazy", "hazy", False),
    "saturation": ("hazy", "hazy", False),
}
INTERCEPT = "intercept"
#: Floor before taking a log (the log-scale metrics are >= 0).
LOG_FLOOR = 1e-3

ScoreModel = Mapping[str, Sequence[float]]


def check_model(model: ScoreModel) -> None:
    """Raise ValueError unless `model` is empty or maps known metrics to [centre, scale > 0, weight]
    and "intercept" to [bias], all finite."""
    for name, values in model.items():
        size = 1 if name == INTERCEPT else 3
        if name != INTERCEPT and name not in SCORE_FEATURES:
            raise ValueError(f"score_model: unknown metric '{name}'")
        if not isinstance(values, Sequence) or len(values) != size or not all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f"score_model: '{name}' must be {size} finite number(s), got {values!r}")
        if name != INTERCEPT and values[1] <= 0:
            raise ValueError(f"score_model: the scale of '{name}' must be > 0")
    if model and INTERCEPT not in model:
        raise ValueError("score_model: no intercept")


def contributions(metrics: Mapping[str, float], model: ScoreModel) -> dict[str, float]:
    """Each metric's term in the log-odds of rejection (a missing metric contributes 0)."""
    terms = {}
    for name, (centre, scale, weight) in ((n, v) for n, v in model.items() if n != INTERCEPT):
        if name in metrics and math.isfinite(metrics[name]):
            terms[name] = weight * (_transform(name, metrics[name]) - centre) / scale
    return terms


def reject_probability(metrics: Mapping[str, float], model: ScoreModel) -> float:
    """The model's probability (0..1) that graders would reject the photo."""
    log_odds = float(model[INTERCEPT][0]) + sum(contributions(metrics, model).values())
    return 1.0 / (1.0 + math.exp(-min(max(log_odds, -50.0), 50.0)))


def main_reason(metrics: Mapping[str, float], model: ScoreModel) -> str:
    """The reason code of the metric pushing the probability up the most ("blurred" if none does)."""
    terms = contributions(metrics, model)
    if not terms or max(terms.values()) <= 0:
        return "blurred"
    name = max(terms, key=lambda n: terms[n])
    low, high, _ = SCORE_FEATURES[name]
    return high if _transform(name, metrics[name]) > model[name][0] else low


def fit_model(rows: Sequence[Mapping[str, float]], rejected: Sequence[bool], weights: Sequence[float],
              l2: float = 1.0, iterations: int = 50) -> dict[str, list[float]]:
    """Fit a logistic model of `rejected` on the metrics of SCORE_FEATURES (L2-penalised Newton
    steps on standardised features; a metric missing from a row is taken at its mean).

    Raises:
        ValueError: no rows, or only one class.
    """
    y = np.asarray(rejected, dtype=np.float64)
    if y.size == 0 or y.min() == y.max():
        raise ValueError("the score model needs both rejected and gradable photos")
    names = [n for n in SCORE_FEATURES if any(n in r for r in rows)]
    raw = np.array([[_transform(n, r[n]) if n in r and math.isfinite(r[n]) else np.nan for n in names]
                    for r in rows], dtype=np.float64)
    centre = np.nanmean(raw, axis=0)
    scale = np.nanstd(raw, axis=0)
    scale[~(scale > 1e-9)] = 1.0
    z = np.nan_to_num((raw - centre) / scale)
    x = np.column_stack([z, np.ones(len(z))])
    w = np.asarray(weights, dtype=np.float64)
    beta = np.zeros(x.shape[1])
    penalty = l2 * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -50, 50)))
        gradient = x.T @ (w * (p - y)) + penalty @ beta
        hessian: npt.NDArray[np.float64] = (x * (w * p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    model = {n: [float(centre[i]), float(scale[i]), float(beta[i])] for i, n in enumerate(names)}
    model[INTERCEPT] = [float(beta[-1])]
    return model


def _transform(name: str, value: float) -> float:
    return math.log(max(value, LOG_FLOOR)) if SCORE_FEATURES[name][2] else float(value)

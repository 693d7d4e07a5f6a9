"""Site validation: how the locked model does on one clinic's own labelled photos, and the threshold
that would give the model's target sensitivity there. Pure: no I/O; the only randomness is the
bootstrap's, from an explicit seed.

Which photos count: the appliance grades only photos the quality gate passed, so sensitivity,
specificity, the per-grade table, the score distributions and the site threshold use the labelled
photos that passed the gate and were scored ("graded photos"); imageability uses every photo the gate
judged. The site threshold is chosen on the same photos it is then measured on, so its own sensitivity
and specificity are optimistic; its bootstrap interval says how much it would move with other photos
of the same site.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.domain import NOT_VALIDATED_NOTICE, utc_now
from appliance.errors import ApplianceError
from appliance.evaluation.dr import EvaluationRun, ImageResult
from appliance.evaluation.metrics import (
    CONFIDENCE_LEVEL,
    Floats,
    binary_metrics,
    choose_threshold,
    confusion,
    percentile_interval,
)
from appliance.evaluation.report import metrics_dict
from appliance.inference.manifest import ModelManifest, ValidationScores
from appliance.operating_point import REPORT_KIND, seal

#: The target when the manifest has no [validation] section (the shipped threshold's own target, 0.87).
DEFAULT_TARGET_SENSITIVITY = 0.87
#: Score quantiles reported when the manifest has none to compare with.
DEFAULT_QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
#: Decimals of a chosen threshold (as `choose_threshold` writes it).
THRESHOLD_DECIMALS = 4
GRADES = (0, 1, 2, 3, 4)
#: Fewer photos of a class than this and its shift is not judged (a bootstrap of a handful says little).
MIN_SHIFT_PHOTOS = 10


class SiteDataError(ApplianceError):
    """The site's labelled photos cannot give a site validation (bad input: exit status 2)."""

    reason_code = "site_data_invalid"
    http_status = 400


def _number(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 6)




def threshold_for_sensitivity(referable_scores: Floats, target: float, decimals: int = THRESHOLD_DECIMALS) -> float:
    """The threshold `choose_threshold` picks, from the referable photos' scores alone, in O(n log n).

    The highest-specificity threshold with sensitivity >= target is the highest candidate at or under
    the k-th highest referable score, k the fewest referable photos that reach the target; rounded down
    to `decimals` (candidates are rounded down, so that one is a candidate too). Used for the
    bootstrap, where calling `choose_threshold` per replicate would take O(n²) each. Equal to
    `choose_threshold` whenever there is at least one non-referable photo.

    Raises:
        ValueError: no referable scores, or target not in [0, 1].
    """
    if referable_scores.size == 0:
        raise ValueError("cannot choose a threshold without referable photos")
    if not 0.0 <= target <= 1.0:
        raise ValueError("target sensitivity must be in [0, 1]")
    n = referable_scores.size
    k = max(1, math.ceil(target * n))
    while k > 1 and (k - 1) / n >= target:  # ceil() of a product that rounded up
        k -= 1
    while k < n and k / n < target:
        k += 1
    kth = float(np.sort(referable_scores)[::-1][k - 1])
    scale = 10.0**decimals
    return float(round(math.floor(kth * scale + 1e-9) / scale, decimals))


@dataclass(frozen=True)
class SiteThreshold:
    """The threshold reaching `target` sensitivity on the site, its bootstrap interval, and what it gives there."""

    target: float
    threshold: float
    low: float
    high: float
    sensitivity: float
    specificity: float
    specificity_low: float
    specificity_high: float


def site_threshold(labels: np.ndarray, scores: np.ndarray, target: float, *, replicates: int, seed: int,
                   level: float = CONFIDENCE_LEVEL) -> SiteThreshold:
    """The highest-specificity threshold with sensitivity >= `target` on these photos (`choose_threshold`),
    with percentile bootstrap intervals (referable and non-referable photos resampled apart) of the
    threshold and of the specificity it gives, re-choosing the threshold in every replicate.

    Raises:
        ValueError: no referable photos.
    """
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, np.float64).ravel()
    chosen = choose_threshold(y, s, target, decimals=THRESHOLD_DECIMALS)
    pos, neg = s[y], s[~y]
    thresholds = np.full(replicates, np.nan)
    specificities = np.full(replicates, np.nan)
    rng = np.random.default_rng(seed)
    for b in range(replicates):
        t = threshold_for_sensitivity(pos[rng.integers(0, pos.size, pos.size)], target)
        thresholds[b] = t
        if neg.size:
            specificities[b] = float((neg[rng.integers(0, neg.size, neg.size)] < t).mean())
    low, high = percentile_interval(thresholds, level)
    spec_low, spec_high = percentile_interval(specificities, level)
    return SiteThreshold(target, chosen.threshold, low, high, chosen.sensitivity, chosen.specificity,
                         spec_low, spec_high)


def quantiles(scores: np.ndarray, levels: Sequence[float]) -> tuple[float, ...]:
    """Scores at `levels` (linear interpolation); NaN for no scores."""
    if len(scores) == 0:
        return tuple(float("nan") for _ in levels)
    return tuple(float(q) for q in np.quantile(np.asarray(scores, np.float64), list(levels)))


def quantile_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Mean absolute difference of two distributions' quantiles at the same levels: on evenly spread
    levels, close to the 1-Wasserstein (earth mover's) distance between them, in score units."""
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@dataclass(frozen=True)
class Shift:
    """How a site's scores of one class differ from the model's validation scores of that class.

    `differs` when the validation median lies outside the bootstrap interval of the site's median,
    judged only with at least MIN_SHIFT_PHOTOS site photos.
    """

    n_site: int
    site_median: float
    site_median_low: float
    site_median_high: float
    validation_median: float
    median_difference: float
    distance: float
    distance_low: float
    distance_high: float

    @property
    def judged(self) -> bool:
        return self.n_site >= MIN_SHIFT_PHOTOS

    @property
    def differs(self) -> bool:
        return self.judged and not self.site_median_low <= self.validation_median <= self.site_median_high


def score_shift(site_scores: np.ndarray, levels: Sequence[float], validation_quantiles: Sequence[float], *,
                replicates: int, seed: int, level: float = CONFIDENCE_LEVEL) -> Shift:
    """Compare the site's scores of one class with the validation quantiles at `levels`.

    Raises:
        ValueError: no site scores.
    """
    s = np.asarray(site_scores, np.float64).ravel()
    if s.size == 0:
        raise ValueError("no site scores to compare")
    val_median = float(np.interp(0.5, levels, validation_quantiles))
    rng = np.random.default_rng(seed)
    samples = s[rng.integers(0, s.size, (replicates, s.size))] if replicates else np.empty((0, s.size))
    medians = np.median(samples, axis=1) if replicates else np.empty(0)
    distances = (np.abs(np.quantile(samples, list(levels), axis=1).T - np.asarray(validation_quantiles)).mean(axis=1)
                 if replicates else np.empty(0))
    low, high = percentile_interval(medians, level)
    dist_low, dist_high = percentile_interval(distances, level)
    median = float(np.median(s))
    return Shift(int(s.size), median, low, high, val_median, median - val_median,
                 quantile_distance(quantiles(s, levels), validation_quantiles), dist_low, dist_high)


def _shift_dict(name: str, shift: Shift) -> dict[str, Any]:
    return {
        "n_site": shift.n_site, "site_median": _number(shift.site_median),
        "site_median_low": _number(shift.site_median_low), "site_median_high": _number(shift.site_median_high),
        "validation_median": _number(shift.validation_median), "median_difference": _number(shift.median_difference),
        "quantile_distance": _number(shift.distance), "quantile_distance_low": _number(shift.distance_low),
        "quantile_distance_high": _number(shift.distance_high), "judged": shift.judged, "differs": shift.differs,
        "message": _shift_sentence(name, shift),
    }


def _shift_sentence(name: str, shift: Shift) -> str:
    if not shift.judged:
        return (f"Too few {name} photos ({shift.n_site}, fewer than {MIN_SHIFT_PHOTOS}) to judge a shift: median "
                f"{shift.site_median:.3f} against {shift.validation_median:.3f} on validation.")
    if not shift.differs:
        return (f"The {name} photos' scores match the model's validation photos: median {shift.site_median:.3f} "
                f"(95 % interval {shift.site_median_low:.3f}–{shift.site_median_high:.3f}) against "
                f"{shift.validation_median:.3f}; mean quantile distance {shift.distance:.3f}.")
    direction = "higher" if shift.median_difference > 0 else "lower"
    return (f"SHIFT: the {name} photos score {direction} here than on the model's validation photos: median "
            f"{shift.site_median:.3f} (95 % interval {shift.site_median_low:.3f}–{shift.site_median_high:.3f}) "
            f"against {shift.validation_median:.3f}, a difference of {shift.median_difference:+.3f}; mean "
            f"quantile distance {shift.distance:.3f} ({shift.distance_low:.3f}–{shift.distance_high:.3f}). "
            "The distributions differ: the locked threshold does not behave here as it did on validation.")


def _graded(results: Sequence[ImageResult]) -> list[ImageResult]:
    """Labelled photos the gate passed and the model scored: what the appliance would have graded."""
    return [r for r in results if r.gate_passed and r.score is not None and r.item.referable is not None]


def _imageability(results: Sequence[ImageResult]) -> dict[str, Any]:
    """Share the gate passed of the photos it judged, with a Wilson 95 % interval."""
    judged = [r for r in results if r.gate_passed is not None]
    n, passed = len(judged), sum(1 for r in judged if r.gate_passed)
    if not n:
        return {"n_judged": 0, "n_passed": 0, "share": None, "low": None, "high": None}
    z, p = 1.959964, passed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"n_judged": n, "n_passed": passed, "share": _number(p), "low": _number(max(0.0, centre - half)),
            "high": _number(min(1.0, centre + half)), "interval": "Wilson"}


def _per_grade(graded: Sequence[ImageResult], locked: float, site: float) -> list[dict[str, Any]]:
    rows = []
    for grade in GRADES:
        scores = np.array([r.score for r in graded if r.item.dr_grade == grade], np.float64)
        n = int(scores.size)
        rows.append({"grade": grade, "referable": grade >= 2, "n": n,
                     "n_referred": int((scores >= locked).sum()),
                     "share_referred": _number(float((scores >= locked).mean())) if n else None,
                     "share_referred_at_site_threshold": _number(float((scores >= site).mean())) if n else None})
    return rows


def _distribution(labels: np.ndarray, scores: np.ndarray, validation: ValidationScores | None,
                  replicates: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The score quantiles of the site's two classes against the validation ones, and the shift."""
    levels = validation.quantile_levels if validation else DEFAULT_QUANTILE_LEVELS
    site_not, site_ref = scores[~labels], scores[labels]
    distribution: dict[str, Any] = {
        "levels": list(levels),
        "site_not_referable": [_number(q) for q in quantiles(site_not, levels)],
        "site_referable": [_number(q) for q in quantiles(site_ref, levels)],
        "validation_not_referable": None if validation is None else list(validation.not_referable_quantiles),
        "validation_referable": None if validation is None else list(validation.referable_quantiles),
        "validation_data": None if validation is None else validation.data,
    }
    if validation is None:
        return distribution, {
            "available": False, "differs": None,
            "message": "Comparison with the model's validation scores unavailable: the model's manifest has no "
                       "[validation] section (score quantiles of the photos its threshold was locked on).",
        }
    not_ref = score_shift(site_not, levels, validation.not_referable_quantiles, replicates=replicates, seed=seed)
    ref = score_shift(site_ref, levels, validation.referable_quantiles, replicates=replicates, seed=seed + 1)
    shift: dict[str, Any] = {
        "available": True, "differs": not_ref.differs or ref.differs,
        "not_referable": _shift_dict("non-referable", not_ref), "referable": _shift_dict("referable", ref),
        "validation": {"data": validation.data, "n_referable": validation.n_referable,
                       "n_not_referable": validation.n_not_referable, "sensitivity": validation.sensitivity,
                       "specificity": validation.specificity},
    }
    shift["message"] = " ".join(s["message"] for s in (shift["not_referable"], shift["referable"]))
    return distribution, shift


def _estimate(value: float, low: float, high: float) -> dict[str, float | None]:
    return {"value": _number(value), "low": _number(low), "high": _number(high)}


def site_report(run: EvaluationRun, manifest: ModelManifest, *, dataset: Mapping[str, Any], replicates: int,
                seed: int, target_sensitivity: float | None = None) -> dict[str, Any]:
    """The site-validation report as a JSON-ready dict, sealed with its sha256 (appliance.operating_point).

    Args:
        dataset: what was read (folder, rows, skipped photos); copied into the report.
        target_sensitivity: the site threshold's target; default the manifest's [validation]
            target_sensitivity, else DEFAULT_TARGET_SENSITIVITY.

    Raises:
        SiteDataError: no referable or no non-referable labelled photo passed the gate.
        ValueError: replicates < 0, or a target outside [0, 1].
    """
    if replicates < 0:
        raise ValueError("replicates must be >= 0")
    validation = manifest.validation
    target_from = "option" if target_sensitivity is not None else "manifest" if validation else "default"
    if target_sensitivity is None:
        target_sensitivity = validation.target_sensitivity if validation else DEFAULT_TARGET_SENSITIVITY
    if not 0.0 < target_sensitivity <= 1.0:
        raise ValueError("target sensitivity must be in (0, 1]")
    graded = _graded(run.results)
    labels = np.array([bool(r.item.referable) for r in graded], bool)
    scores = np.array([r.score for r in graded], np.float64)
    n_ref, n_not = int(labels.sum()), int((~labels).sum())
    if n_ref == 0 or n_not == 0:
        missing = "referable" if n_ref == 0 else "non-referable"
        raise SiteDataError(
            f"No {missing} photo that the quality gate passed is labelled in {dataset.get('folder', 'the folder')} "
            f"({n_ref} referable, {n_not} non-referable graded photos): a site validation needs both.",
            reason_code="site_no_referable" if n_ref == 0 else "site_no_not_referable")
    locked = manifest.threshold
    chosen = site_threshold(labels, scores, target_sensitivity, replicates=replicates, seed=seed)
    distribution, shift = _distribution(labels, scores, validation, replicates, seed)
    failures = [r for r in run.results if r.failure is not None]
    report: dict[str, Any] = {
        "kind": REPORT_KIND,
        "created_at": utc_now().isoformat(timespec="seconds"),
        "notice": NOT_VALIDATED_NOTICE,
        "model": {**manifest.info(run.runner).__dict__, "threshold": locked,
                  "threshold_chosen_on": manifest.threshold_chosen_on},
        "dataset": dict(dataset),
        "bootstrap": {"replicates": replicates, "seed": seed, "level": CONFIDENCE_LEVEL,
                      "method": "percentile, resampling referable and non-referable photos separately"},
        "n_images": len(run.results),
        "n_graded": len(graded),
        "imageability": _imageability(run.results),
        "locked_threshold": {"threshold": locked,
                             **metrics_dict(binary_metrics(labels, scores, locked, replicates=replicates, seed=seed))},
        "per_grade": _per_grade(graded, locked, chosen.threshold),
        "distribution": distribution,
        "shift": shift,
        "site_operating_point": {
            "target_sensitivity": target_sensitivity, "target_from": target_from,
            "threshold": chosen.threshold, "threshold_low": _number(chosen.low), "threshold_high": _number(chosen.high),
            "sensitivity": _number(chosen.sensitivity),
            "specificity": _estimate(chosen.specificity, chosen.specificity_low, chosen.specificity_high),
            "confusion": confusion(labels, scores, chosen.threshold).__dict__,
            "n_photos": len(graded), "n_referable": n_ref, "n_not_referable": n_not,
            "caveat": "Chosen and measured on the same photos: its sensitivity and specificity are optimistic.",
        },
        "decode_failures": {
            "count": len(failures),
            "examples": [{"file": r.item.file, "reason": r.failure, "message": r.failure_message}
                         for r in failures[:10]],
        },
    }
    return seal(report)

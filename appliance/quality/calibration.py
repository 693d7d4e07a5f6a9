"""Fit the gate's thresholds to graders' labels: the pure core of `appliance quality-calibrate`.

The fit is greedy over the fitted rules of appliance/quality/rules.py. It starts with every fitted
rule switched off (only the profile's not-fundus rules act), then repeatedly tightens the one rule
whose next threshold catches the most not-yet-caught `reject` photos per `good` photo newly
rejected, as long as the share of good photos rejected stays within the target. Each threshold is
placed halfway between the last photo it catches and the next one it lets through, so a photo
just inside the margin is not a coin toss. The result is a set of one-sided thresholds an
operator can read ("mean green under 38 is too dark"), not an opaque score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from appliance.config import QualityConfig
from appliance.quality.rules import ATTRIBUTED, NOT_FUNDUS_RULES, QUALITY_RULES, Rule
from appliance.quality.score import fit_model, reject_probability

#: Threshold values that switch a rule off (every metric of a fitted rule is >= 0 and < 1000).
OFF: dict[str, float] = {"min": 0.0, "max": 1000.0}
#: Weight of a newly rejected good photo against a newly caught reject, when choosing the next
#: step: a step that rejects no good photo is preferred to an equally good one that does.
GOOD_PENALTY = 0.5
#: Weight of a usable photo against a good one in the false-reject budget: usable photos are
#: gradable, but graders found them worse, so rejecting one costs less.
USABLE_WEIGHT = 0.5
#: Least share of the reject photos a step must catch.
MIN_GAIN = 0.02
#: Spare room (a share of the value) left when loosening a not-fundus threshold...
NOT_FUNDUS_MARGIN = 0.1
#: ...and the share of gradable photos allowed to fail it (odd photos must not switch it off).
NOT_FUNDUS_SPARE = 0.005


@dataclass(frozen=True)
class Sample:
    """One labelled photo: its metrics, the graders' label (good / usable / reject), and the
    group (source, camera) whose false-reject budget it counts in when budgets are per group."""

    metrics: Mapping[str, float]
    quality: str
    group: str = ""


@dataclass(frozen=True)
class Fit:
    """The fitted thresholds and what they do on the photos they were fitted to."""

    thresholds: QualityConfig
    good: int
    good_rejected: int
    reject: int
    reject_caught: int
    #: The fitted rules' keys, in the order the greedy fit first tightened them.
    order: tuple[str, ...]
    #: Not-fundus threshold keys loosened for the camera's gradable photos.
    loosened: tuple[str, ...] = ()
    #: With per-group budgets: group -> (gradable photos rejected, gradable photos).
    per_group: dict[str, tuple[int, int]] = field(default_factory=dict)


def calibrate(samples: Sequence[Sample], base: QualityConfig, target_false_reject: float, *,
              usable_weight: float = USABLE_WEIGHT, min_gain: float = MIN_GAIN, score: bool = True,
              per_group: bool = False, keep: Collection[str] = (), backstop: float | None = None) -> Fit:
    """The whole calibration: loosen the not-fundus rules where this camera's gradable photos need
    it, fit the combined score's model (when `score`), then fit every quality threshold (the
    score's among them) with `fit_thresholds`. Thresholds named in `keep` (not-fundus or
    quality) stay at `base`'s values. With `backstop` (a share), every fitted rule the fit left
    off or looser is then set by `backstops`.

    Raises:
        ValueError: no good or no reject photo, or a target outside 0..1.
    """
    thresholds = loosen_not_fundus(samples, base, rules=[rule for rule in NOT_FUNDUS_RULES if rule.key not in keep])
    loosened = tuple(key for key in _keys(NOT_FUNDUS_RULES) if getattr(thresholds, key) != getattr(base, key))
    thresholds = _with(thresholds, {})
    thresholds.score_model = {}
    if score:
        labelled = [s for s in samples if s.quality in ("good", "usable", "reject") and "focus" in s.metrics]
        thresholds.score_model = fit_model(
            [s.metrics for s in labelled], [s.quality == "reject" for s in labelled],
            [usable_weight if s.quality == "usable" else 1.0 for s in labelled])
        samples = [Sample({**s.metrics, "reject_probability": reject_probability(s.metrics, thresholds.score_model)}
                          if "focus" in s.metrics else s.metrics, s.quality, s.group) for s in samples]
    rules = [rule for rule in QUALITY_RULES if rule.key not in keep and rule.fitted]
    fit = fit_thresholds(samples, thresholds, target_false_reject, rules, usable_weight=usable_weight,
                         min_gain=min_gain, per_group=per_group)
    if backstop is not None:
        single = [rule for rule in rules if rule.reason != ATTRIBUTED]  # the score's is fitted or off
        final = backstops(samples, fit.thresholds, backstop, single)
        # The counts of the final thresholds: every rule kept, none fitted.
        counted = fit_thresholds(samples, final, target_false_reject, (), usable_weight=usable_weight,
                                 per_group=per_group)
        fit = dataclasses.replace(counted, order=fit.order)
    return dataclasses.replace(fit, loosened=loosened)


def backstops(samples: Sequence[Sample], thresholds: QualityConfig, spare: float, rules: Sequence[Rule],
              margin: float = NOT_FUNDUS_MARGIN) -> QualityConfig:
    """Tighten each of `rules` that is looser (or off) than where all but `spare` (a share) of
    every group's gradable photos still pass it, with `margin` (a share of the value) to spare:
    no check is left off, yet none rejects what the gradable photos of any source look like
    (a photo blurred or shaded beyond all of them). Per-group budgets of the fit are not
    re-checked: measure the result with quality-eval."""
    changes: dict[str, float] = {}
    gradable = [s for s in samples if s.quality in ("good", "usable")]
    for rule in rules:
        needed = []
        for name in sorted({s.group for s in gradable}):
            values = np.array([_value(s.metrics, rule) for s in gradable if s.group == name], dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            if rule.bound == "min":
                needed.append(float(np.quantile(values, spare, method="lower")) * (1 - margin))
            else:
                needed.append(float(np.quantile(values, 1 - spare, method="higher")) * (1 + margin))
        if not needed:
            continue
        current = rule.threshold(thresholds)
        if rule.bound == "min" and min(needed) > current:
            changes[rule.key] = min(needed)
        elif rule.bound == "max" and max(needed) < current:
            changes[rule.key] = max(needed)
    return _with(thresholds, changes)


def fit_thresholds(samples: Sequence[Sample], base: QualityConfig, target_false_reject: float,
                   rules: Sequence[Rule] = QUALITY_RULES, *, usable_weight: float = USABLE_WEIGHT,
                   min_gain: float = MIN_GAIN, per_group: bool = False) -> Fit:
    """Fit `rules`' thresholds so at most `target_false_reject` (0..1) of the good photos are
    rejected while catching as many reject photos as possible.

    Args:
        samples: labelled photos (good, usable or reject; others are ignored).
        base: the profile to start from: its not-fundus thresholds, and the quality thresholds
            of rules not in `rules`, are kept (photos they reject count in the budget); its other
            values (max_attempts, min_disc_prominence) copied.
        target_false_reject: the largest share of gradable photos the fitted gate may reject,
            including those the not-fundus rules already reject, where a usable photo counts
            `usable_weight` of a good one.
        usable_weight: weight (0..1) of a usable photo against a good one.
        min_gain: a step must catch at least this share (0..1) of the reject photos (and at
            least one): a threshold that catches a single outlier does not generalise.
        per_group: the target holds for each group of samples (Sample.group: a source, a
            camera) on its own, not only over all of them: a camera with few photos in the pool
            is not sacrificed to the others.
    Raises:
        ValueError: no good or no reject photo among the samples, or a target outside 0..1.
    """
    if not 0.0 <= target_false_reject <= 1.0:
        raise ValueError(f"target_false_reject must be within 0..1, got {target_false_reject}")
    good = np.array([s.quality == "good" for s in samples])
    usable = np.array([s.quality == "usable" for s in samples])
    reject = np.array([s.quality == "reject" for s in samples])
    weight = good + usable_weight * usable
    if not good.any() or not reject.any():
        raise ValueError("calibration needs both good and reject photos")
    thresholds = _with(base, {rule.key: OFF[rule.bound] for rule in rules})
    kept = [rule for rule in QUALITY_RULES if rule not in rules]
    caught = np.array([_fails_any(s.metrics, thresholds, (*NOT_FUNDUS_RULES, *kept)) or "fov_found" not in s.metrics
                       or s.metrics["fov_found"] < 0.5 for s in samples])
    names = sorted({s.group for s in samples}) if per_group else [""]
    group = np.array([names.index(s.group) if per_group else 0 for s in samples], dtype=np.int64)
    budgets = target_false_reject * np.bincount(group, weights=weight, minlength=len(names)) + 1e-9
    least = max(1.0, min_gain * float(reject.sum()))
    values = {rule.key: np.array([_value(s.metrics, rule) for s in samples]) for rule in rules}
    order: list[str] = []
    while True:
        best: tuple[float, Rule, float, npt.NDArray[np.bool_]] | None = None
        spent = np.bincount(group[caught], weights=weight[caught], minlength=len(names))
        for rule in rules:
            left = np.asarray(budgets - spent, dtype=np.float64)
            step = _best_step(rule, values[rule.key], caught, weight, reject, left, least, group)
            if step is not None and (best is None or step[0] > best[0]):
                best = (step[0], rule, step[1], step[2])
        if best is None:
            break
        _, rule, threshold, fires = best
        thresholds = _with(thresholds, {rule.key: threshold})
        caught |= fires
        if rule.key not in order:
            order.append(rule.key)
    gradable = good | usable
    return Fit(
        thresholds=thresholds,
        good=int(good.sum()),
        good_rejected=int((caught & good).sum()),
        reject=int(reject.sum()),
        reject_caught=int((caught & reject).sum()),
        order=tuple(order),
        per_group={name: (int((caught & gradable & (group == g)).sum()), int((gradable & (group == g)).sum()))
                   for g, name in enumerate(names)} if per_group else {},
    )


def loosen_not_fundus(samples: Sequence[Sample], base: QualityConfig, margin: float = NOT_FUNDUS_MARGIN,
                      rules: Sequence[Rule] = NOT_FUNDUS_RULES, spare: float = NOT_FUNDUS_SPARE) -> QualityConfig:
    """Loosen the not-fundus thresholds of `base` just enough that all but `spare` (a share) of the
    gradable (good or usable) photos among `samples` whose field of view was found pass them, with
    `margin` (a share of the value) to spare.

    Graders' labels cannot tighten these rules (they say nothing about faces or documents), but
    they show what a camera's real photos need: a rendering with a ragged rim needs a looser
    circle test. `spare` keeps a handful of odd photos from switching a check off. Thresholds the
    photos do not touch stay as they are; check the result against the negative controls of
    appliance.quality.non_fundus.
    """
    changes: dict[str, float] = {}
    gradable = [s.metrics for s in samples if s.quality in ("good", "usable") and s.metrics.get("fov_found", 0) >= 0.5]
    for rule in rules:
        values = np.array([m[rule.metric] for m in gradable if rule.metric in m], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        threshold = float(changes.get(rule.key, rule.threshold(base)))
        if rule.bound == "min":
            needed = float(np.quantile(values, spare, method="lower")) * (1 - margin)
            if needed < threshold:
                changes[rule.key] = needed
        else:
            needed = float(np.quantile(values, 1 - spare, method="higher")) * (1 + margin)
            if needed > threshold:
                changes[rule.key] = needed
    return _with(base, changes)


def _best_step(rule: Rule, values: npt.NDArray[np.float64], caught: npt.NDArray[np.bool_],
               weight: npt.NDArray[np.float64], reject: npt.NDArray[np.bool_], budget: npt.NDArray[np.float64],
               least: float, group: npt.NDArray[np.int64]) -> tuple[float, float, npt.NDArray[np.bool_]] | None:
    """The best threshold for one rule: (score, threshold, which samples it fails) or None.

    `budget` is the weight of gradable photos each group (`group`: each sample's index into it)
    may still lose. Candidate thresholds lie between consecutive distinct values; a "max" rule
    is handled as a "min" rule on the negated values.
    """
    sign = 1.0 if rule.bound == "min" else -1.0
    v = sign * values  # the rule now fails samples with v < threshold
    finite = np.isfinite(v)
    distinct = np.unique(v[finite])
    if distinct.size < 2:
        return None
    cuts = (distinct[:-1] + distinct[1:]) / 2
    order = np.argsort(v[finite], kind="stable")
    sorted_v = v[finite][order]
    new_reject = (reject & ~caught)[finite][order].astype(np.int64)
    new_good = np.where(caught, 0.0, weight)[finite][order]
    below = np.searchsorted(sorted_v, cuts, side="left")  # samples with v < cut
    gained = np.concatenate([[0], np.cumsum(new_reject)])[below]
    cost = np.concatenate([[0], np.cumsum(new_good)])[below]
    allowed = gained >= least
    sorted_group = group[finite][order]
    for g, left in enumerate(budget):
        allowed &= np.concatenate([[0], np.cumsum(np.where(sorted_group == g, new_good, 0.0))])[below] <= max(left, 0.0)
    if not allowed.any():
        return None
    score = np.where(allowed, gained / (cost + GOOD_PENALTY), -np.inf)
    # Among equal scores the loosest threshold: it catches as much with the widest margin.
    i = int(np.flatnonzero(score == score.max())[0])
    threshold = float(sign * cuts[i])
    fires = np.zeros(values.shape, dtype=bool)
    fires[finite] = v[finite] < cuts[i]
    return float(score[i]), threshold, fires


def _keys(rules: Sequence[Rule]) -> list[str]:
    return list(dict.fromkeys(rule.key for rule in rules))


def _with(thresholds: QualityConfig, changes: Mapping[str, float]) -> QualityConfig:
    """A copy of `thresholds` with some values changed."""
    changed = dataclasses.replace(thresholds, score_model=dict(thresholds.score_model))
    for key, value in changes.items():
        setattr(changed, key, value)
    return changed


def _value(metrics: Mapping[str, float], rule: Rule) -> float:
    return float(metrics.get(rule.metric, np.nan))


def _fails_any(metrics: Mapping[str, float], thresholds: QualityConfig, rules: Sequence[Rule]) -> bool:
    return any(rule.metric in metrics and rule.fails(metrics[rule.metric], rule.threshold(thresholds))
               for rule in rules)

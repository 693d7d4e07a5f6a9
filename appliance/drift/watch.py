"""The drift watch: are this site's photos and scores still like those the model was validated on? Pure.

Two checks over a rolling window (the last `[drift]` window_photos gate verdicts and window_scores scores
of gradable photos, none older than window_days):

- **rejects**: the share of photos the quality gate rejected, against the share it rejects of photos as a
  clinic takes them (`reference_reject_share`); "watch" above reference + `max_reject_share_rise`. The share
  of each first reason is reported, to say what to fix.
- **scores**: the current model's scores on gradable photos, against its manifest's validation scores
  (appliance.drift.scores): "watch" when no mix of referable and non-referable photos fits them within
  `max_score_distance`, or when the best fit needs more than `max_referable_share` referable-like photos
  (scores shifted up look like a population far sicker than any screened one).

A watch never stops screening (the box stays ok); it tells the site and support to look at the camera, the
room and the population, and perhaps to validate the site (`appliance validate-site`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from appliance.config import DriftConfig
from appliance.drift.scores import score_shift
from appliance.inference.manifest import ValidationScores


class DriftState(str, Enum):
    OK = "ok"
    WATCH = "watch"
    #: Fewer photos (or scores) in the window than the check needs.
    TOO_FEW = "too_few"
    #: The model's manifest records no validation scores.
    NO_REFERENCE = "no_reference"


@dataclass(frozen=True)
class GateVerdict:
    """One photo's gate verdict: passed, or the first reason it was rejected for."""

    passed: bool
    reason: str | None = None


@dataclass(frozen=True)
class RejectDrift:
    state: DriftState
    photos: int
    rejected: int
    #: rejected / photos (None with no photo).
    share: float | None
    reference: float
    #: The share above which the check says "watch".
    bound: float
    #: Share of the window's photos rejected for each first reason, largest first.
    by_reason: dict[str, float]
    message: str


@dataclass(frozen=True)
class ScoreDrift:
    state: DriftState
    scores: int
    distance: float | None
    bound: float
    referable_share: float | None
    max_referable_share: float
    #: What the validation scores were measured on ("" without any).
    reference: str
    message: str


@dataclass(frozen=True)
class DriftReport:
    """`state`: "watch" when either check is; else "too_few" while a check waits for photos; else "ok"."""

    state: DriftState
    message: str
    rejects: RejectDrift
    scores: ScoreDrift
    window_days: int

    def as_dict(self) -> dict[str, Any]:
        """For /healthz and the status page (counts and shares only: no patient data)."""
        data = asdict(self)
        data["state"] = self.state.value
        data["rejects"]["state"] = self.rejects.state.value
        data["scores"]["state"] = self.scores.state.value
        return data


def assess_drift(verdicts: Sequence[GateVerdict], scores: Sequence[float], validation: ValidationScores | None,
                 config: DriftConfig) -> DriftReport:
    """Both checks over a window already cut to size (newest first or not: order does not matter)."""
    rejects = assess_rejects(verdicts, config)
    shift = assess_scores(scores, validation, config)
    states = {rejects.state, shift.state}
    if DriftState.WATCH in states:
        state = DriftState.WATCH
        message = " ".join(check.message for check in (rejects, shift) if check.state is DriftState.WATCH)
    elif DriftState.TOO_FEW in states:
        state = DriftState.TOO_FEW
        message = "Not enough photos yet to compare this site with the model's validation data."
    else:
        state = DriftState.OK
        message = "The photos and the model's scores are like those the model was validated on."
    return DriftReport(state=state, message=message, rejects=rejects, scores=shift, window_days=config.window_days)


def assess_rejects(verdicts: Sequence[GateVerdict], config: DriftConfig) -> RejectDrift:
    photos = len(verdicts)
    rejected = sum(1 for v in verdicts if not v.passed)
    reference, bound = config.reference_reject_share, config.reference_reject_share + config.max_reject_share_rise
    reasons = Counter(v.reason or "unknown" for v in verdicts if not v.passed)
    by_reason = {reason: count / photos for reason, count in reasons.most_common()}
    share = rejected / photos if photos else None
    if share is None or photos < config.min_photos:
        return RejectDrift(DriftState.TOO_FEW, photos, rejected, share, reference, bound, by_reason,
                           f"Too few photos to compare the gate's rejects yet ({photos} of the "
                           f"{config.min_photos} needed).")
    said = f"The quality gate rejected {_pct(share)} of the last {photos} photos"
    if share <= bound:
        return RejectDrift(DriftState.OK, photos, rejected, share, reference, bound, by_reason,
                           f"{said} (about {_pct(reference)} expected).")
    top = next(iter(by_reason))
    return RejectDrift(DriftState.WATCH, photos, rejected, share, reference, bound, by_reason,
                       f"{said}, more than the {_pct(bound)} allowed (about {_pct(reference)} expected); most for "
                       f"'{top.replace('_', ' ')}' ({_pct(by_reason[top])} of photos). Check the camera (lens, "
                       "flash, focus) and the room's light; a new camera may need its own quality profile.")


def assess_scores(scores: Sequence[float], validation: ValidationScores | None, config: DriftConfig) -> ScoreDrift:
    n = len(scores)
    bound, max_share = config.max_score_distance, config.max_referable_share
    if validation is None:
        return ScoreDrift(DriftState.NO_REFERENCE, n, None, bound, None, max_share, "",
                          "The model's manifest records no validation scores to compare this site's scores with.")
    if n < config.min_scores:
        return ScoreDrift(DriftState.TOO_FEW, n, None, bound, None, max_share, validation.data,
                          f"Too few gradable photos scored by this model to compare yet ({n} of the "
                          f"{config.min_scores} needed).")
    shift = score_shift(scores, validation)
    said = f"The model's scores on the last {n} gradable photos"
    found = []
    if shift.distance > bound:
        found.append(f"differ from its validation data (distance {shift.distance:.2f}, more than {bound:.2f})")
    if shift.referable_share > max_share:
        found.append(f"look as if {_pct(shift.referable_share)} of photos were referable, more than the "
                     f"{_pct(max_share)} a screened population has")
    if found:
        return ScoreDrift(DriftState.WATCH, n, shift.distance, bound, shift.referable_share, max_share,
                          validation.data,
                          f"{said} {' and '.join(found)}: the camera or the people screened differ from what the "
                          f"model was validated on, so its results may be less reliable here. {_SUPPORT}")
    return ScoreDrift(DriftState.OK, n, shift.distance, bound, shift.referable_share, max_share, validation.data,
                      f"{said} match its validation data (distance {shift.distance:.2f}, at most {bound:.2f}; "
                      f"about {_pct(shift.referable_share)} referable-like).")


_SUPPORT = "Call support to review the site (appliance validate-site)."


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %"

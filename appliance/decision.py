"""The exam-level decision for one person, from per-image quality and scores. Pure.

Rules (CLINICAL.md):
- an eye's score is the maximum over its gradable images;
- REFER if either eye's score is at or over the threshold, even when the other eye is ungradable
  (the person goes to the eye doctor anyway);
- NO_REFER only when both eyes have a gradable image and neither is over the threshold;
- otherwise UNGRADABLE.
"""

from __future__ import annotations

from collections.abc import Iterable

from appliance.domain import Eye, ImageFinding, OperatingPoint, Outcome, Result


def eye_scores(findings: Iterable[ImageFinding]) -> dict[Eye, float | None]:
    """Max score over each eye's gradable images; None for an eye with no gradable image."""
    scores: dict[Eye, float | None] = {Eye.RIGHT: None, Eye.LEFT: None}
    for finding in findings:
        if not finding.gradable or finding.score is None:
            continue
        best = scores[finding.eye]
        scores[finding.eye] = finding.score if best is None else max(best, finding.score)
    return scores


def decide(findings: Iterable[ImageFinding], threshold: float | OperatingPoint) -> Result:
    """Decide REFER / NO_REFER / UNGRADABLE for one exam.

    Args:
        findings: one per image of the exam (either eye, any order).
        threshold: the operating point (the model's locked threshold, or a site's adopted one) on the
            referable-DR probability; a bare number is the model's locked threshold.
    Returns:
        The Result, with one reason per eye in plain words and the operating point it was decided at.
    """
    point = threshold if isinstance(threshold, OperatingPoint) else OperatingPoint.locked(threshold)
    threshold = point.threshold
    scores = eye_scores(findings)
    referable = [eye for eye, s in scores.items() if s is not None and s >= threshold]
    ungradable = [eye for eye, s in scores.items() if s is None]
    reasons = tuple(_reason(eye, scores[eye], threshold) for eye in (Eye.RIGHT, Eye.LEFT))
    if referable:
        outcome = Outcome.REFER
    elif ungradable:
        outcome = Outcome.UNGRADABLE
    else:
        outcome = Outcome.NO_REFER
    return Result(outcome=outcome, reasons=reasons, eye_scores=scores, threshold=threshold,
                  operating_point=point)


def _reason(eye: Eye, score: float | None, threshold: float) -> str:
    if score is None:
        return f"{eye.value} eye: no gradable image"
    verdict = "over" if score >= threshold else "under"
    return f"{eye.value} eye: score {score:.3f} {verdict} threshold {threshold:.3f}"

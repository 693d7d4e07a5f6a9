"""What the operator reads: one retake sentence per reason, and advice after repeated failure. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from appliance.domain import QualityReport

#: One retake sentence per reason code, in the clinic's words. The order of this mapping is the
#: order in which reasons are reported, what to fix first coming first: aim at the retina, clear
#: the lids, then exposure (a small pupil or a strong flash also shades and veils the view), then
#: alignment with the pupil, then focus (refocusing an image that is dark or shaded cannot help).
REASON_MESSAGES: dict[str, str] = {
    "not_fundus": "Not a fundus photo: centre the camera on the pupil and retake.",
    "field_not_centred": "Field not centred: centre the camera and have the patient look at the fixation light.",
    "eyelid_artefact": "Eyelid or lashes in the way: ask the patient to open wide and retake.",
    "too_dark": "Too dark: the pupil may be small — consider dilation or dim the room.",
    "overexposed": "Overexposed: lower the flash or check the camera settings.",
    "uneven_illumination": "Uneven lighting (shadow or crescent): re-align the camera with the pupil.",
    "hazy": "Hazy view (flare): adjust the camera's distance from the eye and retake.",
    "blurred": "Image is blurred: ask the patient to keep still and refocus.",
}

#: Reasons that a wider pupil fixes: after repeated failures for these, dilate.
DILATION_HELPS = frozenset({"too_dark", "uneven_illumination", "eyelid_artefact"})


def ordered(reasons: Iterable[str]) -> tuple[str, ...]:
    """The known reason codes among `reasons`, in fix-first order, without repeats.

    Raises:
        ValueError: an unknown reason code (every code must have its sentence).
    """
    wanted = set(reasons)
    unknown = wanted - REASON_MESSAGES.keys()
    if unknown:
        raise ValueError(f"reason codes without an operator sentence: {sorted(unknown)}")
    return tuple(code for code in REASON_MESSAGES if code in wanted)


def quality_report(reasons: Iterable[str], metrics: dict[str, float]) -> QualityReport:
    """A QualityReport with the reasons in fix-first order and the first one's sentence."""
    codes = ordered(reasons)
    return QualityReport(
        passed=not codes,
        reason_codes=codes,
        operator_message=REASON_MESSAGES[codes[0]] if codes else "",
        metrics=metrics,
    )


@dataclass(frozen=True)
class RetakeGuidance:
    """Advice for the next photo of one eye.

    `escalate` is True once `failed_attempts` reached the limit: stop retaking, dilate or refer.
    `message` is "" when the latest photo passed.
    """

    message: str
    failed_attempts: int
    escalate: bool


def retake_guidance(reports_for_one_eye: Sequence[QualityReport], max_attempts: int) -> RetakeGuidance:
    """What to tell the operator after the photos of one eye so far (oldest first).

    Until `max_attempts` photos in a row have failed, the latest failure's own sentence. After
    that: dilation when the failures were mostly lighting (a small pupil), otherwise referral —
    a blurred or hazy view that survives retakes suggests media opacity (cataract), which an eye
    care professional should see anyway. Once a photo passes the eye is done.

    Raises:
        ValueError: `max_attempts` < 1.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    failures: list[QualityReport] = []
    for report in reversed(reports_for_one_eye):
        if report.passed:
            break
        failures.append(report)
    if not failures:
        return RetakeGuidance(message="", failed_attempts=0, escalate=False)
    count = len(failures)
    if count < max_attempts:
        return RetakeGuidance(message=failures[0].operator_message, failed_attempts=count, escalate=False)
    first_reasons = Counter(r.reason_codes[0] for r in failures if r.reason_codes)
    lighting = sum(n for code, n in first_reasons.items() if code in DILATION_HELPS)
    if lighting * 2 >= count:
        message = (f"No gradable photo after {count} attempts: dilate the pupil and retake, "
                   "or refer the patient to an eye care professional.")
    else:
        message = (f"No gradable photo after {count} attempts: refer the patient to an eye care "
                   "professional (a cataract or other opacity may block the view).")
    return RetakeGuidance(message=message, failed_attempts=count, escalate=True)

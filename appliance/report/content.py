"""What the one-page exam report says, built once from an exam summary (`appliance.summary.exam_summary`)
so that the PDF and the printable page say the same thing. Pure: no I/O, no rendering."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

TITLE = "Diabetic retinopathy screening report"
EYE_TITLES = {"right": "Right eye", "left": "Left eye"}
FIELD_WORDS = {"macula": "macula-centred", "disc": "disc-centred"}
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class PhotoTile:
    """One photo shown for an eye: a thumbnail of `sha256` and the line under it."""

    photo_id: int
    sha256: str
    caption: str
    passed: bool


@dataclass(frozen=True)
class EyeSection:
    """One eye: its finding in words and the photos in use for it (retaken ones are only in the notes)."""

    eye: str
    title: str
    finding: str
    photos: tuple[PhotoTile, ...]


@dataclass(frozen=True)
class ReportContent:
    """Every line of the report, in reading order. `exam_time` is "YYYY-MM-DD HH:MM UTC"."""

    exam_id: str
    patient_id: str
    birth_date: str
    sex: str
    exam_time: str
    operator: str
    outcome: str
    message: str
    eyes: tuple[EyeSection, ...]
    notes: tuple[str, ...]
    model: str
    model_sha256: str
    operating_point: str
    gate: str
    notice: str
    created_at: datetime


def parse_time(iso: str) -> datetime:
    """An ISO-8601 time from the summary, in UTC (a naive one is taken to be UTC already).

    Raises:
        ValueError: not an ISO-8601 time.
    """
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def exam_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def report_content(summary: Mapping[str, Any]) -> ReportContent:
    """The report's content from a finished exam's summary.

    Raises:
        KeyError: the summary lacks a key every finished exam has (patient, outcome, eyes, images, model).
        ValueError: `created_at` is not an ISO-8601 time.
    """
    patient = summary["patient"]
    created = parse_time(str(summary["created_at"]))
    model = summary["model"]
    return ReportContent(
        exam_id=str(summary.get("exam_id", "")),
        patient_id=str(patient["patient_id"]),
        birth_date=str(patient.get("birth_date") or NOT_RECORDED),
        sex=str(patient.get("sex") or "unknown"),
        exam_time=exam_time(created),
        operator=str(summary.get("operator") or NOT_RECORDED),
        outcome=str(summary["outcome"]),
        message=str(summary["message"]),
        eyes=tuple(eye_section(summary, eye) for eye in EYE_TITLES),
        notes=quality_notes(summary),
        model=f"{model['name']} {model['version']} (runner: {model['runner']})",
        model_sha256=str(model["sha256"]),
        operating_point=str((summary.get("operating_point") or {}).get("description") or NOT_RECORDED),
        gate=gate_words(summary.get("gate")),
        notice=str(summary["notice"]),
        created_at=created,
    )


def report_context(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the print view `report.html` renders: `render_template("report.html", **report_context(summary))`.

    `exam` is the summary itself, `report` its ReportContent (the same lines as the PDF), `notice` the
    not-validated notice.
    """
    content = report_content(summary)
    return {"exam": summary, "report": content, "notice": content.notice}


def eye_section(summary: Mapping[str, Any], eye: str) -> EyeSection:
    finding = summary["eyes"][eye]
    used = set(finding.get("photos_used", ()))
    tiles = tuple(photo_tile(image, image["photo_id"] in used) for image in in_use(summary["images"], eye))
    return EyeSection(eye=eye, title=EYE_TITLES[eye], finding=str(finding["words"]), photos=tiles)


def in_use(images: Sequence[Mapping[str, Any]], eye: str) -> list[Mapping[str, Any]]:
    """The photos of one eye that were not replaced by a retake, in the order taken."""
    return [image for image in images if image["eye"] == eye and not image.get("replaced", False)]


def photo_tile(image: Mapping[str, Any], used: bool) -> PhotoTile:
    quality = image["quality"]
    field = image.get("field") if image.get("field") in FIELD_WORDS else image.get("detected_field")
    label = f"Photo {image['photo_id']}"
    if field in FIELD_WORDS:
        label += f", {FIELD_WORDS[field]}"
    if not quality["passed"]:
        caption = f"{label}: not gradable. {quality['message']}"
    else:
        caption = f"{label}: used for grading" if used else f"{label}: passed the quality check"
    return PhotoTile(photo_id=int(image["photo_id"]), sha256=str(image["sha256"]), caption=caption,
                     passed=bool(quality["passed"]))


def quality_notes(summary: Mapping[str, Any]) -> tuple[str, ...]:
    """Retake advice for each ungradable eye, then each failed photo's reason (retaken ones included),
    then any left/right doubt."""
    notes = [f"{EYE_TITLES[eye]}: {advice['message']}" for eye, advice in summary.get("retake", {}).items()
             if eye in EYE_TITLES and advice.get("message")]
    for image in summary["images"]:
        notes.extend(photo_notes(image))
    return tuple(notes)


def photo_notes(image: Mapping[str, Any]) -> list[str]:
    where = f"Photo {image['photo_id']} ({image['eye']} eye{', retaken' if image.get('replaced') else ''})"
    notes: list[str] = []
    quality = image["quality"]
    if not quality["passed"]:
        also = [code.replace("_", " ") for code in quality.get("reason_codes", ())[1:]]
        extra = f" Also: {', '.join(also)}." if also else ""
        notes.append(f"{where}: {quality['message']}{extra}")
    if image.get("eye_warning"):
        notes.append(f"{where}: {image['eye_warning']}")
    return notes


def gate_words(gate: Mapping[str, Any] | None) -> str:
    if not gate:
        return NOT_RECORDED
    return (f"camera profile {gate['profile']}; after {gate['max_attempts']} failed photos of an eye, "
            "dilate or refer")

"""The one serializer: exams, open exams and worklist lines as plain data, for the CLI's --json, the HTTP
API, the pages and the report. A finished exam reads the same whether it was just made or read back from
the store: the outcome, per-eye findings in words, each photo's quality verdict with its reasons, the
model's provenance, the gate settings and thresholds used and the operating point they came from."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from appliance.domain import (
    NOT_VALIDATED_NOTICE,
    Exam,
    ExamSession,
    ExamState,
    Eye,
    Field,
    OperatingPoint,
    Patient,
    ScheduledOrder,
    SessionPhoto,
    WorklistEntry,
)
from appliance.errors import ExamInputError
from appliance.pipeline import check_complete, eye_warning
from appliance.quality import retake_guidance
from appliance.store.codec import operating_point_dict

#: What the technician reads for each eye, never a raw score.
FINDING_WORDS = {
    "referable": "Referable diabetic retinopathy detected",
    "not_referable": "Referable diabetic retinopathy not detected",
    "ungradable": "Ungradable: no photo good enough to grade",
}


def patient_dict(patient: Patient) -> dict[str, Any]:
    return {"patient_id": patient.patient_id,
            "birth_date": None if patient.birth_date is None else patient.birth_date.isoformat(),
            "sex": patient.sex.value}


def order_dict(order: ScheduledOrder | None) -> dict[str, Any] | None:
    """The worklist order an exam came from (or one offered at the kiosk); None when the id was typed."""
    if order is None:
        return None
    return {"accession_number": order.accession_number, "patient_id": order.patient_id,
            "patient_name": order.patient_name,
            "birth_date": None if order.birth_date is None else order.birth_date.isoformat(),
            "sex": order.sex.value, "requested_procedure": order.requested_procedure,
            "scheduled_start": order.scheduled_start, "study_instance_uid": order.study_instance_uid}


def photo_dict(photo: SessionPhoto) -> dict[str, Any]:
    return {
        "photo_id": photo.photo_id,
        "eye": photo.eye.value,
        "field": photo.field.value,
        "detected_field": photo.detected_field.value,
        "looks_like_eye": None if photo.looks_like is None else photo.looks_like.value,
        "eye_confirmed": photo.eye_confirmed,
        "eye_warning": eye_warning(photo),
        "replaced": photo.replaced,
        "source": photo.source,
        "captured_at": photo.captured_at.isoformat(),
        "sha256": photo.sha256,
        "quality": {
            "passed": photo.quality.passed,
            "reason_codes": list(photo.quality.reason_codes),
            "message": photo.quality.operator_message,
            "metrics": photo.quality.metrics,
        },
    }


def exam_summary(exam: Exam) -> dict[str, Any]:
    result = exam.result
    max_attempts = 3 if exam.gate is None else exam.gate.max_attempts
    return {
        "exam_id": exam.exam_id,
        "state": ExamState.FINISHED.value,
        "patient": patient_dict(exam.patient),
        "patient_id": exam.patient_id,
        "opened_at": (exam.opened_at or exam.created_at).isoformat(),
        "created_at": exam.created_at.isoformat(),
        "operator": exam.operator,
        "outcome": result.outcome.value,
        "message": result.message,
        "eyes": eye_findings(exam),
        "reasons": list(result.reasons),
        "eye_scores": {eye.value: score for eye, score in result.eye_scores.items()},
        "retake": retake_advice(exam, max_attempts),
        "images": [
            {**photo_dict(image.photo), "score": None if image.prediction is None else image.prediction.score}
            for image in exam.images
        ],
        "fields_by_eye": protocol_fields(exam),
        "model": asdict(exam.model),
        "gate": None if exam.gate is None else {"profile": exam.gate.profile, "max_attempts": exam.gate.max_attempts},
        "thresholds": {"referable": result.threshold,
                       "quality": {} if exam.gate is None else dict(exam.gate.thresholds)},
        "operating_point": operating_point_dict(result.operating_point or OperatingPoint.locked(result.threshold)),
        "order": order_dict(exam.order),
        "notice": NOT_VALIDATED_NOTICE,
    }


def eye_findings(exam: Exam) -> dict[str, dict[str, Any]]:
    """Per eye: the finding in words and which photos were used (scored) for it."""
    findings: dict[str, dict[str, Any]] = {}
    for eye in Eye:
        score = exam.result.eye_scores.get(eye)
        finding = "ungradable" if score is None else ("referable" if score >= exam.result.threshold
                                                      else "not_referable")
        findings[eye.value] = {
            "finding": finding,
            "words": FINDING_WORDS[finding],
            "photos_used": [i.photo.photo_id for i in exam.images if i.eye is eye and i.prediction is not None],
        }
    return findings


def retake_advice(exam: Exam, max_attempts: int) -> dict[str, dict[str, Any]]:
    """For each eye with no gradable photo: what to do next (retake sentence, or dilate/refer after
    `max_attempts` failed photos). Eyes that have a gradable photo are absent."""
    advice: dict[str, dict[str, Any]] = {}
    for eye in Eye:
        if any(image.quality.passed for image in exam.images if image.eye is eye):
            continue
        # Every photo taken of the eye, retaken ones included, so that the advice escalates as it did live.
        taken = [p.quality for p in exam.attempts if p.eye is eye] or [i.quality for i in exam.images if i.eye is eye]
        if not taken:
            continue
        guidance = retake_guidance(taken, max_attempts)
        advice[eye.value] = {"message": guidance.message, "failed_attempts": guidance.failed_attempts,
                             "escalate": guidance.escalate}
    return advice


def protocol_fields(exam: Exam) -> dict[str, list[str]]:
    """Which fields (disc-centred, macula-centred) each eye's gradable photos show."""
    fields: dict[str, list[str]] = {eye.value: [] for eye in Eye}
    for image in exam.images:
        field = image.photo.field if image.photo.field is not Field.UNKNOWN else image.photo.detected_field
        if image.quality.passed and field is not Field.UNKNOWN:
            fields[image.eye.value].append(field.value)
    return fields


def session_summary(session: ExamSession, max_attempts: int) -> dict[str, Any]:
    """An exam while photos are taken: every photo with its verdict, per eye the advice for the next photo,
    and whether it can be finished (else the sentence saying why not)."""
    eyes: dict[str, dict[str, Any]] = {}
    for eye in Eye:
        guidance = retake_guidance([p.quality for p in session.attempts(eye)], max_attempts)
        in_use = session.current(eye)
        eyes[eye.value] = {
            "photos_in_use": [p.photo_id for p in in_use],
            "gradable": any(p.quality.passed for p in in_use),
            "advice": guidance.message,
            "failed_attempts": guidance.failed_attempts,
            "escalate": guidance.escalate,
        }
    try:
        check_complete(session.current())
        blocker = ""
    except ExamInputError as exc:
        blocker = exc.message
    return {
        "exam_id": session.exam_id,
        "state": session.state.value,
        "patient": patient_dict(session.patient),
        "patient_id": session.patient_id,
        "operator": session.operator,
        "opened_at": session.opened_at.isoformat(),
        "closed_at": None if session.closed_at is None else session.closed_at.isoformat(),
        "closed_by": session.closed_by,
        "close_reason": session.close_reason,
        "photos": [photo_dict(p) for p in session.photos],
        "eyes": eyes,
        "can_finish": session.state is ExamState.OPEN and not blocker,
        "finish_blocker": blocker,
        "order": order_dict(session.order),
        "notice": NOT_VALIDATED_NOTICE,
    }


def worklist_dict(entry: WorklistEntry) -> dict[str, Any]:
    return {
        "exam_id": entry.exam_id,
        "patient": patient_dict(entry.patient),
        "operator": entry.operator,
        "opened_at": entry.opened_at.isoformat(),
        "closed_at": None if entry.closed_at is None else entry.closed_at.isoformat(),
        "state": entry.state.value,
        "outcome": None if entry.outcome is None else entry.outcome.value,
        "photos": entry.photos,
        # Where the result is on its way to the PACS and the EHR: pending, retrying, parked, sent (None: no result).
        "sync": entry.sync_state,
    }

"""An exam as plain data for the CLI's --json and the HTTP API: the outcome, per-eye scores,
per-image quality verdicts with reasons, the model's provenance, the thresholds used and the operating
point they came from (the model's locked threshold or a site's adopted one, with its description)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from appliance.config import QualityConfig
from appliance.domain import NOT_VALIDATED_NOTICE, Exam, Eye, Field, OperatingPoint
from appliance.quality import retake_guidance
from appliance.quality.field_position import eye_from_metrics, field_from_metrics
from appliance.store import ExamRecord
from appliance.store.codec import operating_point_dict


def exam_summary(exam: Exam, quality_thresholds: QualityConfig) -> dict[str, Any]:
    result = exam.result
    return {
        "exam_id": exam.exam_id,
        "patient_id": exam.patient_id,
        "created_at": exam.created_at.isoformat(),
        "outcome": result.outcome.value,
        "message": result.message,
        "reasons": list(result.reasons),
        "eye_scores": {eye.value: score for eye, score in result.eye_scores.items()},
        "retake": retake_advice(exam, quality_thresholds.max_attempts),
        "images": [
            {
                "eye": image.capture.eye.value,
                "field": image.capture.field.value,
                "detected_field": field_from_metrics(image.quality.metrics).value,
                "looks_like_eye": _eye_value(eye_from_metrics(image.quality.metrics)),
                "source": image.capture.source,
                "sha256": image.sha256,
                "quality": {
                    "passed": image.quality.passed,
                    "reason_codes": list(image.quality.reason_codes),
                    "message": image.quality.operator_message,
                    "metrics": image.quality.metrics,
                },
                "score": None if image.prediction is None else image.prediction.score,
            }
            for image in exam.images
        ],
        "fields_by_eye": protocol_fields(exam),
        "model": asdict(exam.model),
        "thresholds": {"referable": result.threshold, "quality": asdict(quality_thresholds)},
        "operating_point": operating_point_dict(result.operating_point or OperatingPoint.locked(result.threshold)),
        "notice": NOT_VALIDATED_NOTICE,
    }


def retake_advice(exam: Exam, max_attempts: int) -> dict[str, dict[str, Any]]:
    """For each eye with no gradable photo: what to do next (retake sentence, or dilate/refer after
    `max_attempts` failed photos). Eyes that have a gradable photo are absent."""
    advice: dict[str, dict[str, Any]] = {}
    for eye in Eye:
        reports = [image.quality for image in exam.images if image.capture.eye is eye]
        if not reports or any(r.passed for r in reports):
            continue
        guidance = retake_guidance(reports, max_attempts)
        advice[eye.value] = {"message": guidance.message, "failed_attempts": guidance.failed_attempts,
                             "escalate": guidance.escalate}
    return advice


def _eye_value(eye: Eye | None) -> str | None:
    return None if eye is None else eye.value


def protocol_fields(exam: Exam) -> dict[str, list[str]]:
    """Which fields (disc-centred, macula-centred) each eye's gradable photos show."""
    fields: dict[str, list[str]] = {eye.value: [] for eye in Eye}
    for image in exam.images:
        field = image.capture.field
        if field is Field.UNKNOWN:
            field = field_from_metrics(image.quality.metrics)
        if image.quality.passed and field is not Field.UNKNOWN:
            fields[image.capture.eye.value].append(field.value)
    return fields


def record_summary(record: ExamRecord) -> dict[str, Any]:
    """A stored exam as plain data, in the same shape as `exam_summary` where the two overlap."""
    return {
        "exam_id": record.exam_id,
        "patient_id": record.patient_id,
        "created_at": record.created_at.isoformat(),
        "operator": record.operator,
        "outcome": record.outcome.value,
        "message": record.message,
        "reasons": record.result.get("reasons", []),
        "eye_scores": record.result.get("eye_scores", {}),
        "images": [
            {
                "eye": image.eye.value,
                "field": image.field.value,
                "source": image.source,
                "sha256": image.sha256,
                "quality": image.quality,
                "score": image.score,
            }
            for image in record.images
        ],
        "model": asdict(record.model),
        "thresholds": {"referable": record.result.get("threshold")},
        "operating_point": _stored_operating_point(record.result),
        "notice": NOT_VALIDATED_NOTICE,
    }


def _stored_operating_point(result: dict[str, Any]) -> dict[str, Any] | None:
    """The operating point recorded with a stored result; exams saved before operating points existed were
    all decided at the model's locked threshold."""
    recorded = result.get("operating_point")
    if isinstance(recorded, dict):
        return recorded
    threshold = result.get("threshold")
    return None if threshold is None else operating_point_dict(OperatingPoint.locked(float(threshold)))

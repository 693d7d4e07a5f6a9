"""An exam as plain data for the CLI's --json and the HTTP API: the outcome, per-eye scores,
per-image quality verdicts with reasons, the model's provenance and the thresholds used."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from appliance.config import QualityConfig
from appliance.domain import NOT_VALIDATED_NOTICE, Exam
from appliance.store import ExamRecord


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
        "images": [
            {
                "eye": image.capture.eye.value,
                "field": image.capture.field.value,
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
        "model": asdict(exam.model),
        "thresholds": {"referable": result.threshold, "quality": asdict(quality_thresholds)},
        "notice": NOT_VALIDATED_NOTICE,
    }


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
        "notice": NOT_VALIDATED_NOTICE,
    }

"""How domain values become columns: UTC ISO-8601 timestamps and canonical JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from appliance.domain import (
    NOT_VALIDATED_NOTICE,
    Exam,
    Eye,
    GateSettings,
    OperatingPoint,
    OperatingPointSource,
    Outcome,
    QualityReport,
    Result,
)


def to_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds, so stored strings sort in time order.

    A naive datetime is taken to be UTC already (the appliance's clocks run in UTC).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys); NaN and infinities are refused, callers pass finite()."""
    return json.dumps(value, sort_keys=True, allow_nan=False)


def loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def finite(value: float | None) -> float | None:
    """The value, or None when it is missing, NaN or infinite (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def result_dict(exam: Exam) -> dict[str, Any]:
    """Everything needed to show the exam's result again and trace it to its model."""
    result = exam.result
    return {
        "outcome": result.outcome.value,
        "message": result.message,
        "reasons": list(result.reasons),
        "eye_scores": {eye.value: finite(score) for eye, score in result.eye_scores.items()},
        "threshold": result.threshold,
        "operating_point": None if result.operating_point is None else operating_point_dict(result.operating_point),
        "model_name": exam.model.name,
        "model_version": exam.model.version,
        "model_sha256": exam.model.sha256,
        "model_runner": exam.model.runner,
        "not_validated": NOT_VALIDATED_NOTICE,
    }


def operating_point_dict(point: OperatingPoint) -> dict[str, Any]:
    """The operating point a result was decided at, as recorded with it and shown beside it."""
    return {
        "source": point.source.value,
        "threshold": point.threshold,
        "locked_threshold": point.locked_threshold,
        "adopted_at": None if point.adopted_at is None else to_iso(point.adopted_at),
        "n_photos": point.n_photos,
        "n_referable": point.n_referable,
        "note": point.note,
        "description": point.description,
    }


def operating_point_from_dict(data: Mapping[str, Any]) -> OperatingPoint:
    adopted = data.get("adopted_at")
    return OperatingPoint(
        source=OperatingPointSource(data["source"]), threshold=float(data["threshold"]),
        locked_threshold=float(data["locked_threshold"]),
        adopted_at=None if adopted is None else from_iso(str(adopted)),
        n_photos=data.get("n_photos"), n_referable=data.get("n_referable"), note=str(data.get("note", "")),
    )


def result_from_dict(data: Mapping[str, Any]) -> Result:
    """The Result saved by `result_dict`. Results saved before operating points existed were all
    decided at the model's locked threshold."""
    threshold = float(data["threshold"])
    recorded = data.get("operating_point")
    point = (operating_point_from_dict(recorded) if isinstance(recorded, Mapping)
             else OperatingPoint.locked(threshold))
    scores = data.get("eye_scores", {})
    return Result(
        outcome=Outcome(data["outcome"]),
        reasons=tuple(str(r) for r in data.get("reasons", ())),
        eye_scores={eye: None if scores.get(eye.value) is None else float(scores[eye.value]) for eye in Eye},
        threshold=threshold,
        operating_point=point,
    )


def gate_dict(gate: GateSettings) -> dict[str, Any]:
    return {"profile": gate.profile, "max_attempts": gate.max_attempts, "thresholds": dict(gate.thresholds)}


def gate_from_dict(data: Mapping[str, Any]) -> GateSettings:
    return GateSettings(profile=str(data["profile"]), max_attempts=int(data["max_attempts"]),
                        thresholds=dict(data["thresholds"]))


def quality_from_dict(data: Mapping[str, Any]) -> QualityReport:
    metrics = data.get("metrics", {})
    return QualityReport(
        passed=bool(data["passed"]),
        reason_codes=tuple(str(c) for c in data.get("reason_codes", ())),
        operator_message=str(data.get("operator_message", "")),
        metrics={k: float("nan") if v is None else float(v) for k, v in metrics.items()},
    )


def quality_dict(report: QualityReport) -> dict[str, Any]:
    return {
        "passed": report.passed,
        "reason_codes": list(report.reason_codes),
        "operator_message": report.operator_message,
        "metrics": {name: finite(value) for name, value in report.metrics.items()},
    }


def detail_dict(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    return {} if detail is None else dict(detail)

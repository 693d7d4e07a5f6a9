"""What the store gives back: frozen records read from the database, ready to show again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.domain import Eye, Field, ModelInfo, Outcome


@dataclass(frozen=True)
class ImageRecord:
    """One stored image of an exam.

    `quality` holds `passed`, `reason_codes`, `operator_message` and `metrics`; `score` is the
    model's probability of referable DR in [0, 1], None when the image was not gradable.
    """

    position: int
    eye: Eye
    field: Field
    source: str
    device: str
    captured_at: datetime
    sha256: str
    path: Path  # absolute
    byte_size: int
    quality_passed: bool
    quality: dict[str, Any]
    score: float | None


@dataclass(frozen=True)
class ExamRecord:
    """One stored exam. `result` holds outcome, message, reasons, eye_scores, threshold, the model
    fields and the not-validated notice, exactly as saved."""

    exam_id: str
    patient_id: str
    created_at: datetime
    operator: str
    outcome: Outcome
    result: dict[str, Any]
    model: ModelInfo
    images: tuple[ImageRecord, ...]

    @property
    def message(self) -> str:
        return str(self.result["message"])


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    exam_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class OutboxEntry:
    """A message waiting for the sync worker; `kind` is e.g. 'exam_result'."""

    id: int
    exam_id: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None

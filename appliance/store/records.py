"""What the store gives back besides the domain's exams: audit entries and outbox messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


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

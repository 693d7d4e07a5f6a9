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


@dataclass(frozen=True)
class OutboxItem:
    """One finished exam on its way to one destination ('dicom': the PACS, 'fhir': the EHR).

    `attempts` counts claims (a send that crashed counts too). An item is due when it is not sent, not
    parked, `next_attempt_at` has passed and no live lease holds it. `last_error` is the last failure's
    message or, once parked, why: what a person reads, never a credential.
    """

    id: int
    exam_id: str
    kind: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    parked_at: datetime | None
    last_error: str | None
    lease_owner: str | None
    lease_until: datetime | None

    @property
    def state(self) -> str:
        """'sent', 'parked', 'retrying' (failed at least once) or 'pending'."""
        if self.sent_at is not None:
            return "sent"
        if self.parked_at is not None:
            return "parked"
        return "retrying" if self.last_error else "pending"


@dataclass(frozen=True)
class DestinationBacklog:
    """One destination's queue: items not yet sent (of them, failed at least once), parked, sent, the
    oldest unsent item's creation time and the last confirmed send."""

    kind: str
    pending: int
    retrying: int
    parked: int
    sent: int
    oldest_pending_at: datetime | None
    last_sent_at: datetime | None

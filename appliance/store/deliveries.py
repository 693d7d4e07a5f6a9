"""The typed outbox API the sync worker uses (`store.outbox`): claim due items with a lease, then mark each
sent, failed (with its next attempt time) or parked; a person re-queues a parked item (audited).

Each call is one short transaction of its own, so a worker never holds the database while it sends.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from appliance.errors import ExamNotFoundError, SyncStateError
from appliance.store import audit, outbox
from appliance.store.records import DestinationBacklog, OutboxItem

if TYPE_CHECKING:
    from appliance.store.store import ExamStore

SYNC_FAILED = "The appliance could not update its sync queue: storage is full or failing. Call support."


class Outbox:
    """One finished exam's deliveries to the PACS ('dicom') and the EHR ('fhir')."""

    def __init__(self, store: ExamStore) -> None:
        self._store = store

    def claim(self, kind: str, *, now: datetime, lease_s: float, owner: str, limit: int = 10) -> list[OutboxItem]:
        """Lease up to `limit` due items of `kind` to `owner` until now + lease_s (see outbox.claim).
        Raises ValueError (lease_s or limit not positive), StorageError."""
        if lease_s <= 0 or limit < 1:
            raise ValueError(f"lease_s and limit must be positive, got {lease_s} and {limit}")
        return self._store.write(lambda conn: outbox.claim(conn, kind, now=now, lease_s=lease_s, owner=owner,
                                                           limit=limit), failure=SYNC_FAILED)

    def mark_sent(self, item_id: int, owner: str, *, now: datetime, detail: dict[str, object] | None = None) -> bool:
        """The receiver confirmed the item: record it and audit the disclosure ('exam_sent', actor `owner`),
        in one transaction. False when it was already marked sent. Raises StorageError."""
        def work(conn: sqlite3.Connection) -> bool:
            item = outbox.mark_sent(conn, item_id, at=now)
            if item is not None:
                audit.append(conn, at=now, actor=owner, action="exam_sent", exam_id=item.exam_id,
                             detail={"destination": item.kind, "item": item.id, "attempts": item.attempts,
                                     **(detail or {})})
            return item is not None

        return self._store.write(work, failure=SYNC_FAILED)

    def mark_failed(self, item_id: int, owner: str, *, error: str, next_attempt_at: datetime) -> bool:
        """A send failed and may succeed later: release the claim, due again at `next_attempt_at`. False when
        `owner` no longer holds the lease. Raises StorageError."""
        return self._store.write(lambda conn: outbox.mark_failed(conn, item_id, owner=owner, error=error,
                                                                 next_attempt_at=next_attempt_at),
                                 failure=SYNC_FAILED)

    def park(self, item_id: int, owner: str, *, reason: str, now: datetime) -> bool:
        """The receiver refused the item for good: set it aside with `reason` for a person, audited
        ('sync_parked'). False when `owner` no longer holds the lease. Raises StorageError."""
        def work(conn: sqlite3.Connection) -> bool:
            item = outbox.park(conn, item_id, owner=owner, reason=reason, at=now)
            if item is not None:
                audit.append(conn, at=now, actor=owner, action="sync_parked", exam_id=item.exam_id,
                             detail={"destination": item.kind, "item": item.id, "reason": reason})
            return item is not None

        return self._store.write(work, failure=SYNC_FAILED)

    def requeue(self, item_id: int, *, actor: str, now: datetime) -> OutboxItem:
        """Send a parked (or failing) item again now, with a fresh backoff; audited ('sync_requeued').

        Raises:
            SyncStateError: no such item, or it was already sent. StorageError.
        """
        def work(conn: sqlite3.Connection) -> OutboxItem:
            changed = outbox.requeue(conn, item_id, at=now)
            if changed is None:
                raise SyncStateError(f"There is no unsent sync item {item_id}: nothing to re-queue.",
                                     detail=str(item_id))
            before, after = changed
            audit.append(conn, at=now, actor=actor, action="sync_requeued", exam_id=after.exam_id,
                         detail={"destination": after.kind, "item": after.id, "was": before.state,
                                 "attempts_before": before.attempts, "last_error": before.last_error})
            return after

        return self._store.write(work, failure=SYNC_FAILED)

    def item(self, item_id: int) -> OutboxItem:
        """Raises SyncStateError when there is no such item; StorageError."""
        found = self._store.read(lambda conn: outbox.get(conn, item_id))
        if found is None:
            raise SyncStateError(f"There is no sync item {item_id}.", detail=str(item_id))
        return found

    def sync_state(self, exam_id: str) -> list[OutboxItem]:
        """The exam's items, one per destination (none for an exam without a result). Raises StorageError."""
        return self._store.read(lambda conn: outbox.of_exam(conn, exam_id))

    def backlog(self) -> list[DestinationBacklog]:
        """Per destination: unsent, retrying, parked, sent counts, oldest unsent, last success."""
        return self._store.read(outbox.backlog)

    def parked(self, limit: int = 50) -> list[OutboxItem]:
        """Parked items, oldest first, with the reason each was set aside."""
        return self._store.read(lambda conn: outbox.parked(conn, limit))

    def require_exam(self, exam_id: str) -> None:
        """Raises ExamNotFoundError when no finished exam has this id."""
        found = self._store.read(lambda conn: conn.execute("SELECT 1 FROM exams WHERE exam_id = ?",
                                                           (exam_id,)).fetchone())
        if found is None:
            raise ExamNotFoundError("This exam has no result on the appliance.", detail=exam_id)

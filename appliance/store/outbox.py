"""The outbox: one item per destination per finished exam, written in the exam's own transaction, and the
sync worker's claims on them.

A worker claims due items with a lease (`claim`), sends them, then marks each sent, failed (with its next
attempt time) or parked. A worker that dies mid-send never loses an item (its lease ends and the item is
due again) and never doubles one at the receiver (a resend carries the same idempotency keys). Every
function here runs inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from appliance.store.codec import dumps, from_iso, loads, to_iso
from appliance.store.records import DestinationBacklog, OutboxEntry, OutboxItem

#: The destinations of every finished exam: the PACS (DICOM) and the EHR (FHIR).
DICOM = "dicom"
FHIR = "fhir"
DESTINATIONS = (DICOM, FHIR)


def enqueue(
    conn: sqlite3.Connection, *, exam_id: str, kind: str, payload: Mapping[str, Any], at: datetime
) -> None:
    """Queue one item inside the caller's transaction, due at once."""
    stamp = to_iso(at)
    conn.execute(
        "INSERT INTO outbox (exam_id, kind, payload_json, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (exam_id, kind, dumps(dict(payload)), stamp, stamp),
    )


def claim(conn: sqlite3.Connection, kind: str, *, now: datetime, lease_s: float, owner: str,
          limit: int) -> list[OutboxItem]:
    """Lease up to `limit` due items of one destination to `owner`, oldest due first; each claim counts as
    an attempt. Due: not sent, not parked, next attempt time passed, no lease or an expired one."""
    stamp = to_iso(now)
    rows = conn.execute(
        "UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
        " WHERE id IN (SELECT id FROM outbox WHERE kind = ? AND sent_at IS NULL AND parked_at IS NULL"
        "   AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
        "   ORDER BY next_attempt_at, id LIMIT ?)"
        " RETURNING *",
        (owner, to_iso(now + timedelta(seconds=lease_s)), kind, stamp, stamp, limit),
    ).fetchall()
    return sorted((_item(row) for row in rows), key=lambda item: (item.next_attempt_at or now, item.id))


def mark_sent(conn: sqlite3.Connection, item_id: int, *, at: datetime) -> OutboxItem | None:
    """Record that the receiver confirmed the item. A confirmation counts whoever holds the lease (the item
    was delivered); returns the item when this call marked it, None when it was already marked."""
    row = conn.execute(
        "UPDATE outbox SET sent_at = ?, lease_owner = NULL, lease_until = NULL, last_error = NULL"
        " WHERE id = ? AND sent_at IS NULL RETURNING *", (to_iso(at), item_id)).fetchone()
    return None if row is None else _item(row)


def mark_failed(conn: sqlite3.Connection, item_id: int, *, owner: str, error: str,
                next_attempt_at: datetime) -> bool:
    """Release the claim after a failed send, due again at `next_attempt_at`. False (nothing changed) when
    `owner` no longer holds the lease: another worker has the item now."""
    return conn.execute(
        "UPDATE outbox SET last_error = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL"
        " WHERE id = ? AND lease_owner = ? AND sent_at IS NULL",
        (error, to_iso(next_attempt_at), item_id, owner)).rowcount == 1


def park(conn: sqlite3.Connection, item_id: int, *, owner: str, reason: str, at: datetime) -> OutboxItem | None:
    """Set the item aside for a person (the receiver refused it for good); None when `owner` lost the lease."""
    row = conn.execute(
        "UPDATE outbox SET parked_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL"
        " WHERE id = ? AND lease_owner = ? AND sent_at IS NULL RETURNING *",
        (to_iso(at), reason, item_id, owner)).fetchone()
    return None if row is None else _item(row)


def requeue(conn: sqlite3.Connection, item_id: int, *, at: datetime) -> tuple[OutboxItem, OutboxItem] | None:
    """Make a parked or failing item due now with a fresh backoff (attempts back to 0). Returns the item
    before and after, or None when there is no such unsent item."""
    before = conn.execute("SELECT * FROM outbox WHERE id = ? AND sent_at IS NULL", (item_id,)).fetchone()
    if before is None:
        return None
    after = conn.execute(
        "UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = ?, lease_owner = NULL,"
        " lease_until = NULL WHERE id = ? RETURNING *", (to_iso(at), item_id)).fetchone()
    return _item(before), _item(after)


def get(conn: sqlite3.Connection, item_id: int) -> OutboxItem | None:
    row = conn.execute("SELECT * FROM outbox WHERE id = ?", (item_id,)).fetchone()
    return None if row is None else _item(row)


def of_exam(conn: sqlite3.Connection, exam_id: str) -> list[OutboxItem]:
    """The exam's items, one per destination, in destination order."""
    rows = conn.execute("SELECT * FROM outbox WHERE exam_id = ? ORDER BY kind, id", (exam_id,)).fetchall()
    return [_item(row) for row in rows]


def parked(conn: sqlite3.Connection, limit: int) -> list[OutboxItem]:
    rows = conn.execute("SELECT * FROM outbox WHERE parked_at IS NOT NULL AND sent_at IS NULL"
                        " ORDER BY parked_at, id LIMIT ?", (limit,)).fetchall()
    return [_item(row) for row in rows]


def backlog(conn: sqlite3.Connection) -> list[DestinationBacklog]:
    """Each destination's counts (every destination listed, even with no item yet)."""
    rows = {row["kind"]: row for row in conn.execute(
        "SELECT kind,"
        " SUM(sent_at IS NULL AND parked_at IS NULL) AS pending,"
        " SUM(sent_at IS NULL AND parked_at IS NULL AND last_error IS NOT NULL) AS retrying,"
        " SUM(sent_at IS NULL AND parked_at IS NOT NULL) AS parked,"
        " SUM(sent_at IS NOT NULL) AS sent,"
        " MIN(CASE WHEN sent_at IS NULL THEN created_at END) AS oldest,"
        " MAX(sent_at) AS last_sent"
        " FROM outbox GROUP BY kind").fetchall()}
    kinds = list(DESTINATIONS) + sorted(set(rows) - set(DESTINATIONS))
    result = []
    for kind in kinds:
        row = rows.get(kind)
        result.append(DestinationBacklog(
            kind=kind, pending=_int(row, "pending"), retrying=_int(row, "retrying"), parked=_int(row, "parked"),
            sent=_int(row, "sent"), oldest_pending_at=_time(None if row is None else row["oldest"]),
            last_sent_at=_time(None if row is None else row["last_sent"])))
    return result


def summary_state(items: list[OutboxItem]) -> str | None:
    """One word for an exam's delivery: 'parked' if any destination is parked, else 'retrying' if any
    failed, else 'pending' if any is unsent, else 'sent'; None for an exam with no item."""
    if not items:
        return None
    states = {item.state for item in items}
    for state in ("parked", "retrying", "pending"):
        if state in states:
            return state
    return "sent"


#: The SQL twin of `summary_state`, for the worklist's one query (`o` is the exam's outbox rows).
SUMMARY_STATE_SQL = (
    "(SELECT CASE WHEN COUNT(*) = 0 THEN NULL"
    " WHEN SUM(o.sent_at IS NULL AND o.parked_at IS NOT NULL) > 0 THEN 'parked'"
    " WHEN SUM(o.sent_at IS NULL AND o.last_error IS NOT NULL) > 0 THEN 'retrying'"
    " WHEN SUM(o.sent_at IS NULL) > 0 THEN 'pending' ELSE 'sent' END"
    " FROM outbox o WHERE o.exam_id = s.exam_id)"
)


def pending(conn: sqlite3.Connection) -> list[OutboxEntry]:
    """Every item not yet acknowledged by its receiver, oldest first (due or not, parked included)."""
    rows = conn.execute("SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id").fetchall()
    return [
        OutboxEntry(
            id=row["id"], exam_id=row["exam_id"], kind=row["kind"], payload=loads(row["payload_json"]),
            created_at=from_iso(row["created_at"]), attempts=row["attempts"],
            next_attempt_at=_time(row["next_attempt_at"]), sent_at=_time(row["sent_at"]),
            last_error=row["last_error"],
        )
        for row in rows
    ]


def _item(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"], exam_id=row["exam_id"], kind=row["kind"], created_at=from_iso(row["created_at"]),
        attempts=row["attempts"], next_attempt_at=_time(row["next_attempt_at"]), sent_at=_time(row["sent_at"]),
        parked_at=_time(row["parked_at"]), last_error=row["last_error"], lease_owner=row["lease_owner"],
        lease_until=_time(row["lease_until"]),
    )


def _int(row: sqlite3.Row | None, key: str) -> int:
    return 0 if row is None or row[key] is None else int(row[key])


def _time(text: str | None) -> datetime | None:
    return None if text is None else from_iso(text)

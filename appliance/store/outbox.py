"""The outbox: messages for the sync worker, written in the same transaction as their exam."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from appliance.store.codec import dumps, from_iso, loads, to_iso
from appliance.store.records import OutboxEntry

#: The one message save_exam queues per exam; the sync worker turns it into DICOM and FHIR sends.
EXAM_RESULT = "exam_result"


def enqueue(
    conn: sqlite3.Connection, *, exam_id: str, kind: str, payload: Mapping[str, Any], at: datetime
) -> None:
    """Queue one message inside the caller's transaction, due at once."""
    stamp = to_iso(at)
    conn.execute(
        "INSERT INTO outbox (exam_id, kind, payload_json, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (exam_id, kind, dumps(dict(payload)), stamp, stamp),
    )


def pending(conn: sqlite3.Connection) -> list[OutboxEntry]:
    """Every message not yet acknowledged by its receiver, oldest first (due or not)."""
    rows = conn.execute("SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id").fetchall()
    return [
        OutboxEntry(
            id=row["id"], exam_id=row["exam_id"], kind=row["kind"], payload=loads(row["payload_json"]),
            created_at=from_iso(row["created_at"]), attempts=row["attempts"],
            next_attempt_at=_maybe_time(row["next_attempt_at"]), sent_at=_maybe_time(row["sent_at"]),
            last_error=row["last_error"],
        )
        for row in rows
    ]


def _maybe_time(text: str | None) -> datetime | None:
    return None if text is None else from_iso(text)

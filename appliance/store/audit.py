"""The audit log: append-only (triggers abort any UPDATE or DELETE), one row per event."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from appliance.store.codec import detail_dict, dumps, from_iso, loads, to_iso
from appliance.store.records import AuditEntry

#: Actions other parts of the appliance record; any other non-empty action is accepted too.
KNOWN_ACTIONS = frozenset({"exam_created", "result_shown", "model_loaded", "exam_rejected",
                           "operating_point_adopted", "operating_point_reverted"})


def append(
    conn: sqlite3.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    exam_id: str | None,
    detail: Mapping[str, Any] | None,
) -> None:
    """Insert one audit row inside the caller's transaction.

    Raises:
        ValueError: empty actor or action, or a detail that is not JSON-serialisable.
    """
    if not actor or not action:
        raise ValueError("an audit entry needs an actor and an action")
    try:
        detail_json = dumps(detail_dict(detail))
    except (TypeError, ValueError) as err:  # a set, an object, NaN...
        raise ValueError(f"audit detail is not JSON-serialisable: {err}") from err
    conn.execute(
        "INSERT INTO audit (at, actor, action, exam_id, detail_json) VALUES (?, ?, ?, ?, ?)",
        (to_iso(at), actor, action, exam_id, detail_json),
    )


def entries(conn: sqlite3.Connection, exam_id: str | None) -> list[AuditEntry]:
    """Every entry (or those of one exam), oldest first."""
    if exam_id is None:
        rows = conn.execute("SELECT * FROM audit ORDER BY id").fetchall()
    else:
        rows = conn.execute("SELECT * FROM audit WHERE exam_id = ? ORDER BY id", (exam_id,)).fetchall()
    return [
        AuditEntry(
            id=row["id"], at=from_iso(row["at"]), actor=row["actor"], action=row["action"],
            exam_id=row["exam_id"], detail=loads(row["detail_json"]),
        )
        for row in rows
    ]

"""The store as the update sees it: the audit log it writes each step to, the open exams it waits for, and
the schema version of the store.

The update never migrates the store: only the firmware that runs the box may (a new version on trial does,
when it starts). So it opens the SQLite file itself, without `ExamStore.open`, and uses the store's own
row functions (`audit.append`, `sessions.worklist`) on that connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.domain import ExamState, utc_now
from appliance.fleet.slots import UpdateRecord
from appliance.store import audit, sessions
from appliance.store.codec import to_iso
from appliance.store.db import BUSY_TIMEOUT_MS, transaction
from appliance.store.schema import SCHEMA_VERSION
from appliance.store.store import DB_NAME

#: An exam open for longer than this is taken as abandoned: it does not hold an update back.
ABANDONED_AFTER = timedelta(hours=12)
ACTOR = "update"


@contextmanager
def _connection(data_dir: Path) -> Iterator[sqlite3.Connection | None]:
    path = data_dir / DB_NAME
    if not path.is_file():
        yield None
        return
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def store_schema(data_dir: Path) -> int | None:
    """The store's schema version (PRAGMA user_version), or None when there is no store yet."""
    with _connection(data_dir) as conn:
        return None if conn is None else int(conn.execute("PRAGMA user_version").fetchone()[0])


def open_exams(data_dir: Path, *, now: datetime | None = None) -> list[str]:
    """Ids of the exams open now (opened within ABANDONED_AFTER), newest first; [] without a store."""
    since = (now or utc_now()) - ABANDONED_AFTER
    with _connection(data_dir) as conn:
        if conn is None:
            return []
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            entries = sessions.worklist(conn, since=since, patient_id=None, states=(ExamState.OPEN,), limit=100)
            return [entry.exam_id for entry in entries]
        try:  # another firmware's schema: the one column every version with sessions has
            rows = conn.execute("SELECT exam_id FROM exam_sessions WHERE state = 'open' AND opened_at >= ? "
                                "ORDER BY opened_at DESC", (to_iso(since),)).fetchall()
        except sqlite3.OperationalError:  # a store from before exam sessions
            return []
        return [str(row["exam_id"]) for row in rows]


def flush_to_audit(update: UpdateRecord, data_dir: Path) -> bool:
    """Append the update's steps not yet in the audit log (as `update_<step>` entries); mark them.

    Returns whether every step is now in the log (False while there is no store, or it is busy: the steps
    stay in the state file and go in at the next update or recovery).
    """
    pending = [entry for entry in update.history if not entry.get("audited")]
    if not pending:
        return True
    with _connection(data_dir) as conn:
        if conn is None:
            return False
        try:
            with transaction(conn):
                for entry in pending:
                    detail: dict[str, Any] = {"version": update.version, "from_version": update.from_version,
                                              "kind": update.kind, "slot": update.slot, "at": entry["at"],
                                              "message": entry["message"]}
                    audit.append(conn, at=utc_now(), actor=ACTOR, action=f"update_{entry['step']}",
                                 exam_id=None, detail=detail)
        except sqlite3.Error:
            return False
    for entry in pending:
        entry["audited"] = True
    return True


def audited_steps(data_dir: Path) -> list[dict[str, Any]]:
    """The update entries of the audit log, oldest first (for tests and `update status`)."""
    with _connection(data_dir) as conn:
        if conn is None:
            return []
        with suppress(sqlite3.OperationalError):
            return [{"at": e.at.isoformat(), "action": e.action, **e.detail}
                    for e in audit.entries(conn, None) if e.action.startswith("update_")]
    return []

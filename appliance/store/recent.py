"""The newest gate verdicts and model scores, for the drift watch (appliance/drift). Each function runs
inside the caller's read (`ExamStore.read`)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from appliance.store.codec import to_iso


def gate_verdicts(conn: sqlite3.Connection, *, limit: int, since: datetime | None) -> list[tuple[bool, str | None]]:
    """(passed, first reason code) of the newest `limit` photos taken (retakes and photos of cancelled exams
    included: every verdict the gate gave), of exams opened at or after `since` (the box's clock, not the
    camera's) when given; newest first."""
    rows = conn.execute(
        "SELECT p.quality_passed, json_extract(p.quality_json, '$.reason_codes[0]') AS reason"
        " FROM session_photos p JOIN exam_sessions s ON s.exam_id = p.exam_id"
        " WHERE s.opened_at >= ? ORDER BY p.rowid DESC LIMIT ?",
        ("" if since is None else to_iso(since), limit)).fetchall()
    return [(bool(row["quality_passed"]), row["reason"]) for row in rows]


def model_scores(conn: sqlite3.Connection, model_sha256: str, *, limit: int, since: datetime | None) -> list[float]:
    """The newest `limit` scores the model with `model_sha256` gave gradable photos of finished exams
    (finished at or after `since` when given); newest first."""
    rows = conn.execute(
        "SELECT i.score FROM images i JOIN exams e ON e.exam_id = i.exam_id"
        " WHERE i.score IS NOT NULL AND e.model_sha256 = ? AND e.created_at >= ? ORDER BY i.id DESC LIMIT ?",
        (model_sha256, "" if since is None else to_iso(since), limit)).fetchall()
    return [float(row["score"]) for row in rows]

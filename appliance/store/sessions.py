"""Exam sessions and their photos: rows written inside the caller's transaction, read back typed."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from appliance.domain import (
    ExamSession,
    ExamState,
    Eye,
    Field,
    Outcome,
    Patient,
    ScheduledOrder,
    SessionPhoto,
    Sex,
    WorklistEntry,
)
from appliance.store.codec import dumps, from_iso, loads, quality_dict, quality_from_dict, to_iso
from appliance.store.files import StoredFile
from appliance.store.outbox import SUMMARY_STATE_SQL


def insert_session(conn: sqlite3.Connection, session: ExamSession) -> None:
    """The session row. Raises sqlite3.IntegrityError when the exam id is already used."""
    patient = session.patient
    conn.execute(
        "INSERT INTO exam_sessions (exam_id, patient_id, birth_date, sex, operator, opened_at, state)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session.exam_id, patient.patient_id, _date(patient.birth_date), patient.sex.value, session.operator,
         to_iso(session.opened_at), session.state.value),
    )
    if session.order is not None:
        order = session.order
        conn.execute(
            "INSERT INTO exam_orders (exam_id, accession_number, study_instance_uid, requested_procedure,"
            " patient_name, scheduled_start) VALUES (?, ?, ?, ?, ?, ?)",
            (session.exam_id, order.accession_number, order.study_instance_uid, order.requested_procedure,
             order.patient_name, order.scheduled_start),
        )


def fetch_order(conn: sqlite3.Connection, exam_id: str, patient: Patient) -> ScheduledOrder | None:
    """The worklist order the exam was opened from (the patient is the exam's), or None."""
    row = conn.execute("SELECT * FROM exam_orders WHERE exam_id = ?", (exam_id,)).fetchone()
    if row is None:
        return None
    return ScheduledOrder(
        accession_number=row["accession_number"], study_instance_uid=row["study_instance_uid"],
        requested_procedure=row["requested_procedure"], patient_name=row["patient_name"],
        patient_id=patient.patient_id, birth_date=patient.birth_date, sex=patient.sex,
        scheduled_start=row["scheduled_start"],
    )


def insert_photo(conn: sqlite3.Connection, exam_id: str, photo: SessionPhoto, stored: StoredFile) -> None:
    conn.execute(
        "INSERT INTO session_photos (exam_id, photo_id, eye, field, source, device, captured_at, sha256, path,"
        " byte_size, quality_passed, quality_json, detected_field, looks_like, eye_confirmed, replaced)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (exam_id, photo.photo_id, photo.eye.value, photo.field.value, photo.source, photo.device,
         to_iso(photo.captured_at), stored.sha256, stored.relative_path, stored.byte_size,
         int(photo.quality.passed), dumps(quality_dict(photo.quality)), photo.detected_field.value,
         None if photo.looks_like is None else photo.looks_like.value, int(photo.eye_confirmed)),
    )


def mark_replaced(conn: sqlite3.Connection, exam_id: str, photo_id: int) -> None:
    conn.execute("UPDATE session_photos SET replaced = 1 WHERE exam_id = ? AND photo_id = ?", (exam_id, photo_id))


def confirm_eye(conn: sqlite3.Connection, exam_id: str, photo_id: int) -> None:
    conn.execute("UPDATE session_photos SET eye_confirmed = 1 WHERE exam_id = ? AND photo_id = ?",
                 (exam_id, photo_id))


def close(conn: sqlite3.Connection, exam_id: str, state: ExamState, *, at: datetime, actor: str,
          reason: str = "") -> None:
    """Finish or cancel an open session. Raises sqlite3.IntegrityError when it was not open (a race)."""
    cursor = conn.execute(
        "UPDATE exam_sessions SET state = ?, closed_at = ?, closed_by = ?, close_reason = ?"
        " WHERE exam_id = ? AND state = 'open'",
        (state.value, to_iso(at), actor, reason, exam_id),
    )
    if cursor.rowcount != 1:
        raise sqlite3.IntegrityError(f"exam {exam_id} is not open")


def photo_path(conn: sqlite3.Connection, exam_id: str, photo_id: int) -> tuple[str, int]:
    """Where the photo's file is (relative to the data folder) and its size."""
    row = conn.execute("SELECT path, byte_size FROM session_photos WHERE exam_id = ? AND photo_id = ?",
                       (exam_id, photo_id)).fetchone()
    if row is None:
        raise sqlite3.IntegrityError(f"exam {exam_id} has no photo {photo_id}")
    return str(row["path"]), int(row["byte_size"])


def fetch(conn: sqlite3.Connection, exam_id: str) -> ExamSession | None:
    row = conn.execute("SELECT * FROM exam_sessions WHERE exam_id = ?", (exam_id,)).fetchone()
    if row is None:
        return None
    patient = patient_from_row(row)
    return ExamSession(
        exam_id=row["exam_id"], patient=patient, operator=row["operator"],
        opened_at=from_iso(row["opened_at"]), state=ExamState(row["state"]),
        photos=photos(conn, exam_id),
        closed_at=None if row["closed_at"] is None else from_iso(row["closed_at"]),
        closed_by=row["closed_by"], close_reason=row["close_reason"], order=fetch_order(conn, exam_id, patient),
    )


def photos(conn: sqlite3.Connection, exam_id: str) -> tuple[SessionPhoto, ...]:
    """Every photo of the exam, retakes included, in the order taken."""
    rows = conn.execute("SELECT * FROM session_photos WHERE exam_id = ? ORDER BY photo_id", (exam_id,)).fetchall()
    return tuple(_photo(row) for row in rows)


def worklist(conn: sqlite3.Connection, *, since: datetime | None, patient_id: str | None,
             states: tuple[ExamState, ...], limit: int) -> list[WorklistEntry]:
    """Exams newest first, opened at or after `since`, of one patient, in the given states."""
    clauses, values = ["1 = 1"], []
    if since is not None:
        clauses.append("s.opened_at >= ?")
        values.append(to_iso(since))
    if patient_id is not None:
        clauses.append("s.patient_id = ?")
        values.append(patient_id)
    if states:
        clauses.append(f"s.state IN ({', '.join('?' for _ in states)})")
        values.extend(state.value for state in states)
    # bandit B608: the clauses are this function's constants; every value is a bound parameter
    rows = conn.execute(
        "SELECT s.*, e.outcome, (SELECT COUNT(*) FROM session_photos p WHERE p.exam_id = s.exam_id"  # nosec B608
        " AND p.replaced = 0) AS photos, "
        f"{SUMMARY_STATE_SQL} AS sync_state FROM exam_sessions s LEFT JOIN exams e ON e.exam_id = s.exam_id"
        f" WHERE {' AND '.join(clauses)} ORDER BY s.opened_at DESC, s.rowid DESC LIMIT ?",
        (*values, limit),
    ).fetchall()
    return [
        WorklistEntry(
            exam_id=row["exam_id"], patient=patient_from_row(row), operator=row["operator"],
            opened_at=from_iso(row["opened_at"]), state=ExamState(row["state"]), photos=int(row["photos"]),
            outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
            closed_at=None if row["closed_at"] is None else from_iso(row["closed_at"]),
            sync_state=row["sync_state"],
        )
        for row in rows
    ]


def patient_from_row(row: sqlite3.Row) -> Patient:
    birth = row["birth_date"]
    return Patient(patient_id=row["patient_id"], birth_date=None if birth is None else date.fromisoformat(birth),
                   sex=Sex(row["sex"] or Sex.UNKNOWN.value))


def _photo(row: sqlite3.Row) -> SessionPhoto:
    looks_like = row["looks_like"]
    return SessionPhoto(
        photo_id=row["photo_id"], eye=Eye(row["eye"]), sha256=row["sha256"],
        quality=quality_from_dict(loads(row["quality_json"])), source=row["source"], field=Field(row["field"]),
        device=row["device"], captured_at=from_iso(row["captured_at"]),
        detected_field=Field(row["detected_field"]), looks_like=None if looks_like is None else Eye(looks_like),
        eye_confirmed=bool(row["eye_confirmed"]), replaced=bool(row["replaced"]),
    )


def _date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()

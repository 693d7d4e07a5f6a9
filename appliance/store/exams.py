"""Finished exams' rows: writing one result inside the caller's transaction, reading it back as the domain Exam."""

from __future__ import annotations

import sqlite3
from datetime import date

from appliance.domain import (
    Exam,
    Eye,
    Field,
    ModelInfo,
    Patient,
    Prediction,
    ScreenedImage,
    SessionPhoto,
    Sex,
)
from appliance.store.codec import (
    dumps,
    finite,
    from_iso,
    gate_dict,
    gate_from_dict,
    loads,
    quality_dict,
    quality_from_dict,
    result_dict,
    result_from_dict,
    to_iso,
)
from appliance.store.sessions import fetch_order, photo_path, photos


def insert_exam(conn: sqlite3.Connection, exam: Exam) -> None:
    """The exam row. Raises sqlite3.IntegrityError when the exam id is already stored."""
    patient = exam.patient
    conn.execute(
        "INSERT INTO exams (exam_id, patient_id, created_at, operator, outcome, model_name, model_version,"
        " model_sha256, model_runner, result_json, birth_date, sex, opened_at, gate_json)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            exam.exam_id, patient.patient_id, to_iso(exam.created_at), exam.operator,
            exam.result.outcome.value, exam.model.name, exam.model.version, exam.model.sha256,
            exam.model.runner, dumps(result_dict(exam)),
            None if patient.birth_date is None else patient.birth_date.isoformat(), patient.sex.value,
            to_iso(exam.opened_at or exam.created_at), None if exam.gate is None else dumps(gate_dict(exam.gate)),
        ),
    )


def insert_images(conn: sqlite3.Connection, exam: Exam) -> list[str]:
    """One row per photo of the result, pointing at the file its session photo was stored in.
    Returns the photos' sha256 in order."""
    rows = []
    for position, image in enumerate(exam.images):
        photo = image.photo
        path, size = photo_path(conn, exam.exam_id, photo.photo_id)
        score = None if image.prediction is None else finite(image.prediction.score)
        rows.append((
            exam.exam_id, position, photo.eye.value, photo.field.value, photo.source, photo.device,
            to_iso(photo.captured_at), photo.sha256, path, size, int(photo.quality.passed),
            dumps(quality_dict(photo.quality)), score, photo.photo_id, photo.detected_field.value,
            None if photo.looks_like is None else photo.looks_like.value, int(photo.eye_confirmed),
        ))
    conn.executemany(
        "INSERT INTO images (exam_id, position, eye, field, source, device, captured_at, sha256, path, byte_size,"
        " quality_passed, quality_json, score, photo_id, detected_field, looks_like, eye_confirmed)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return [image.sha256 for image in exam.images]


def fetch_exam(conn: sqlite3.Connection, exam_id: str) -> Exam | None:
    row = conn.execute("SELECT * FROM exams WHERE exam_id = ?", (exam_id,)).fetchone()
    return None if row is None else _exam(conn, row)


def fetch_recent(conn: sqlite3.Connection, limit: int) -> list[Exam]:
    """The `limit` newest finished exams, newest first (ties broken by insertion order)."""
    rows = conn.execute("SELECT * FROM exams ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()
    return [_exam(conn, row) for row in rows]


def _exam(conn: sqlite3.Connection, row: sqlite3.Row) -> Exam:
    model = ModelInfo(name=row["model_name"], version=row["model_version"], sha256=row["model_sha256"],
                      runner=row["model_runner"])
    images = conn.execute("SELECT * FROM images WHERE exam_id = ? ORDER BY position", (row["exam_id"],)).fetchall()
    birth = row["birth_date"]
    gate = row["gate_json"]
    patient = Patient(patient_id=row["patient_id"], birth_date=None if birth is None else date.fromisoformat(birth),
                      sex=Sex(row["sex"]))
    return Exam(
        exam_id=row["exam_id"],
        patient=patient,
        images=tuple(_image(image, model) for image in images),
        result=result_from_dict(loads(row["result_json"])),
        model=model,
        gate=None if gate is None else gate_from_dict(loads(gate)),
        created_at=from_iso(row["created_at"]),
        opened_at=None if row["opened_at"] is None else from_iso(row["opened_at"]),
        operator=row["operator"],
        attempts=photos(conn, row["exam_id"]),
        order=fetch_order(conn, row["exam_id"], patient),
    )


def _image(row: sqlite3.Row, model: ModelInfo) -> ScreenedImage:
    looks_like = row["looks_like"]
    photo = SessionPhoto(
        photo_id=row["photo_id"] if row["photo_id"] is not None else row["position"] + 1,
        eye=Eye(row["eye"]), sha256=row["sha256"], quality=quality_from_dict(loads(row["quality_json"])),
        source=row["source"], field=Field(row["field"]), device=row["device"],
        captured_at=from_iso(row["captured_at"]), detected_field=Field(row["detected_field"]),
        looks_like=None if looks_like is None else Eye(looks_like), eye_confirmed=bool(row["eye_confirmed"]),
    )
    score = row["score"]
    return ScreenedImage(photo=photo, prediction=None if score is None else Prediction(score=score, model=model))


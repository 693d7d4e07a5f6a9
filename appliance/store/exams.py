"""Exam and image rows: writing one exam inside the caller's transaction, reading exams back."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from appliance.domain import Exam, Eye, Field, ModelInfo, Outcome
from appliance.store.codec import dumps, finite, from_iso, loads, quality_dict, result_dict, to_iso
from appliance.store.files import StoredFile
from appliance.store.records import ExamRecord, ImageRecord


def insert_exam(conn: sqlite3.Connection, exam: Exam) -> None:
    """The exam row. Raises sqlite3.IntegrityError when the exam id is already stored."""
    conn.execute(
        "INSERT INTO exams (exam_id, patient_id, created_at, operator, outcome, model_name,"
        " model_version, model_sha256, model_runner, result_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            exam.exam_id, exam.patient_id, to_iso(exam.created_at), exam.operator,
            exam.result.outcome.value, exam.model.name, exam.model.version, exam.model.sha256,
            exam.model.runner, dumps(result_dict(exam)),
        ),
    )


def insert_images(conn: sqlite3.Connection, exam: Exam, files: Sequence[StoredFile]) -> None:
    """One row per image, `files[i]` being where `exam.images[i]` was written."""
    rows = []
    for position, (image, stored) in enumerate(zip(exam.images, files, strict=True)):
        capture = image.capture
        score = None if image.prediction is None else finite(image.prediction.score)
        rows.append((
            exam.exam_id, position, capture.eye.value, capture.field.value, capture.source,
            capture.device, to_iso(capture.captured_at), stored.sha256, stored.relative_path,
            stored.byte_size, int(image.quality.passed), dumps(quality_dict(image.quality)), score,
        ))
    conn.executemany(
        "INSERT INTO images (exam_id, position, eye, field, source, device, captured_at, sha256, path,"
        " byte_size, quality_passed, quality_json, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def fetch_exam(conn: sqlite3.Connection, data_dir: Path, exam_id: str) -> ExamRecord | None:
    row = conn.execute("SELECT * FROM exams WHERE exam_id = ?", (exam_id,)).fetchone()
    return None if row is None else _exam_record(conn, data_dir, row)


def fetch_recent(conn: sqlite3.Connection, data_dir: Path, limit: int) -> list[ExamRecord]:
    """The `limit` newest exams, newest first (ties broken by insertion order)."""
    rows = conn.execute(
        "SELECT * FROM exams ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
    ).fetchall()
    return [_exam_record(conn, data_dir, row) for row in rows]


def _exam_record(conn: sqlite3.Connection, data_dir: Path, row: sqlite3.Row) -> ExamRecord:
    images = conn.execute(
        "SELECT * FROM images WHERE exam_id = ? ORDER BY position", (row["exam_id"],)
    ).fetchall()
    return ExamRecord(
        exam_id=row["exam_id"],
        patient_id=row["patient_id"],
        created_at=from_iso(row["created_at"]),
        operator=row["operator"],
        outcome=Outcome(row["outcome"]),
        result=loads(row["result_json"]),
        model=ModelInfo(
            name=row["model_name"], version=row["model_version"],
            sha256=row["model_sha256"], runner=row["model_runner"],
        ),
        images=tuple(_image_record(data_dir, image) for image in images),
    )


def _image_record(data_dir: Path, row: sqlite3.Row) -> ImageRecord:
    return ImageRecord(
        position=row["position"],
        eye=Eye(row["eye"]),
        field=Field(row["field"]),
        source=row["source"],
        device=row["device"],
        captured_at=from_iso(row["captured_at"]),
        sha256=row["sha256"],
        path=(data_dir / row["path"]).absolute(),
        byte_size=row["byte_size"],
        quality_passed=bool(row["quality_passed"]),
        quality=loads(row["quality_json"]),
        score=row["score"],
    )

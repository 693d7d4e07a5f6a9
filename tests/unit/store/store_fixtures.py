"""Builders for the store tests: real JPEG bytes (cv2.imencode) and exams made of them."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from appliance.domain import (
    Exam,
    ExamSession,
    Eye,
    Field,
    ModelInfo,
    Outcome,
    Patient,
    Prediction,
    QualityReport,
    Result,
    ScreenedImage,
    SessionPhoto,
)
from appliance.store import ExamStore

MODEL = ModelInfo(name="dr-ref", version="0.1.0", sha256="ab" * 32, runner="onnxruntime-cpu")
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)


#: The bytes of every photo these builders made, by sha256: `save_exam` stores them as the session's photos.
PHOTO_BYTES: dict[str, bytes] = {}


def jpeg(seed: int, size: int = 32) -> bytes:
    """A small real JPEG of random colour noise; different seeds give different bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    data = encoded.tobytes()
    PHOTO_BYTES[hashlib.sha256(data).hexdigest()] = data
    return data


def save_exam(store: ExamStore, exam: Exam, *, actor: str) -> None:
    """Store a built exam the way the pipeline does: open its session, add its photos, finish it."""
    opened = exam.opened_at or exam.created_at
    store.open_session(ExamSession(exam_id=exam.exam_id, patient=exam.patient, operator=exam.operator or actor,
                                   opened_at=opened), actor=actor)
    for image in exam.images:
        store.add_photo(exam.exam_id, image.photo, PHOTO_BYTES[image.sha256], replaces=None, actor=actor)
    store.finish_exam(exam, actor=actor)


def screened(eye: Eye, data: bytes, score: float | None, photo_id: int = 1) -> ScreenedImage:
    if score is None:
        quality = QualityReport(
            passed=False, reason_codes=("blurred",), operator_message="Retake: the image is blurred.",
            metrics={"focus": 3.5},
        )
        prediction = None
    else:
        quality = QualityReport(passed=True, metrics={"focus": 120.0, "brightness": 0.4})
        prediction = Prediction(score=score, model=MODEL)
    photo = SessionPhoto(photo_id=photo_id, eye=eye, sha256=hashlib.sha256(data).hexdigest(), quality=quality,
                         source="file", field=Field.MACULA, device="test-cam", captured_at=T0)
    return ScreenedImage(photo=photo, prediction=prediction)


def build_exam(exam_id: str, *, seed: int = 0, minutes: int = 0, left_score: float | None = 0.8) -> Exam:
    """An exam with one image per eye; `seed` picks the images, `minutes` shifts created_at."""
    right = screened(Eye.RIGHT, jpeg(seed * 2), 0.1, photo_id=1)
    left = screened(Eye.LEFT, jpeg(seed * 2 + 1), left_score, photo_id=2)
    outcome = Outcome.REFER if left_score is not None and left_score >= 0.5 else Outcome.UNGRADABLE
    result = Result(
        outcome=outcome,
        reasons=("right eye: score 0.100 under threshold 0.500", "left eye: see score"),
        eye_scores={Eye.RIGHT: 0.1, Eye.LEFT: left_score},
        threshold=0.5,
    )
    return Exam(exam_id=exam_id, patient=Patient("P-001"), images=(right, left), result=result,
                model=MODEL, created_at=T0 + timedelta(minutes=minutes), operator="tech-1")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())

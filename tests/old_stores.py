"""Exam stores as earlier firmware left them, made from the schema's own migrations (append-only, so these are
the statements that firmware ran): one finished exam `old-1` of patient P-old with its two photos, its
single pending 'exam_result' outbox row and its audit row, at schema version 2 or 3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np

from appliance.store.files import ImageFiles
from appliance.store.schema import MIGRATIONS

EXAM_ID = "old-1"
CREATED = "2024-05-01T09:30:00.000000+00:00"
RESULT_JSON = ('{"eye_scores": {"left": 0.2, "right": 0.1}, "message": "m", "model_name": "dr-ref",'
               ' "model_runner": "onnxruntime-cpu", "model_sha256": "' + "ab" * 32 + '", "model_version": "0.1.0",'
               ' "not_validated": "n", "outcome": "NO_REFER", "reasons": ["right fine", "left fine"],'
               ' "threshold": 0.5}')
QUALITY_JSON = '{"metrics": {"focus": 120.0}, "operator_message": "", "passed": true, "reason_codes": []}'


def noise_jpeg(seed: int) -> bytes:
    """A small real JPEG of random colour noise; different seeds give different bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    return encoded.tobytes()


def make_old_store(data_dir: Path, *, version: int, photos: tuple[bytes, bytes] | None = None) -> None:
    """The store in `data_dir` at schema `version` (2 or 3) holding exam `old-1` with `photos` (right, left;
    by default two noise JPEGs)."""
    photos = photos or (noise_jpeg(901), noise_jpeg(902))
    files = ImageFiles(data_dir)
    stored = [files.write(photo) for photo in photos]
    raw = sqlite3.connect(data_dir / "exams.sqlite3")
    for step in (1, 2):
        for statement in MIGRATIONS[step]:
            raw.execute(statement)
    raw.execute("INSERT INTO exams (exam_id, patient_id, created_at, operator, outcome, model_name, model_version,"
                " model_sha256, model_runner, result_json) VALUES (?, 'P-old', ?, 'tech-9', 'NO_REFER',"
                " 'dr-ref', '0.1.0', ?, 'onnxruntime-cpu', ?)", (EXAM_ID, CREATED, "ab" * 32, RESULT_JSON))
    for position, (eye, file, score) in enumerate(zip(("right", "left"), stored, (0.1, 0.2), strict=True)):
        raw.execute("INSERT INTO images (exam_id, position, eye, field, source, device, captured_at, sha256, path,"
                    " byte_size, quality_passed, quality_json, score) VALUES (?, ?, ?, 'macula', 'file', 'cam',"
                    " ?, ?, ?, ?, 1, ?, ?)",
                    (EXAM_ID, position, eye, CREATED, file.sha256, file.relative_path, file.byte_size, QUALITY_JSON,
                     score))
    raw.execute("INSERT INTO outbox (exam_id, kind, payload_json, created_at, next_attempt_at) VALUES"
                " (?, 'exam_result', '{}', ?, ?)", (EXAM_ID, CREATED, CREATED))
    raw.execute("INSERT INTO audit (at, actor, action, exam_id, detail_json) VALUES (?, 'tech-9', 'exam_created',"
                " ?, '{}')", (CREATED, EXAM_ID))
    for step in range(3, version + 1):
        for statement in MIGRATIONS[step]:
            raw.execute(statement)
    raw.execute(f"PRAGMA user_version = {version}")
    raw.commit()
    raw.close()

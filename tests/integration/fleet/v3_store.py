"""An exam store as firmware with store schema 3 left it (before sync's outbox items per destination): the
schema's own migrations 1-3 (append-only, so these are the statements that firmware ran), one finished exam
with its two photos and the single pending 'exam_result' outbox row of that version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np

from appliance.store.files import ImageFiles
from appliance.store.schema import MIGRATIONS

EXAM_ID = "old-1"


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    return encoded.tobytes()


def make_v3_store(data_dir: Path) -> None:
    files = ImageFiles(data_dir)
    stored = [files.write(_jpeg(901)), files.write(_jpeg(902))]
    created = "2024-05-01T09:30:00.000000+00:00"
    raw = sqlite3.connect(data_dir / "exams.sqlite3")
    for version in (1, 2):
        for statement in MIGRATIONS[version]:
            raw.execute(statement)
    result = ('{"eye_scores": {"left": 0.2, "right": 0.1}, "message": "m", "model_name": "dr-ref",'
              ' "model_runner": "onnxruntime-cpu", "model_sha256": "' + "ab" * 32 + '", "model_version": "0.1.0",'
              ' "not_validated": "n", "outcome": "NO_REFER", "reasons": ["right fine", "left fine"],'
              ' "threshold": 0.5}')
    raw.execute("INSERT INTO exams (exam_id, patient_id, created_at, operator, outcome, model_name, model_version,"
                " model_sha256, model_runner, result_json) VALUES (?, 'P-old', ?, 'tech-9', 'NO_REFER',"
                " 'dr-ref', '0.1.0', ?, 'onnxruntime-cpu', ?)", (EXAM_ID, created, "ab" * 32, result))
    quality = '{"metrics": {"focus": 120.0}, "operator_message": "", "passed": true, "reason_codes": []}'
    for position, (eye, file, score) in enumerate(zip(("right", "left"), stored, (0.1, 0.2), strict=True)):
        raw.execute("INSERT INTO images (exam_id, position, eye, field, source, device, captured_at, sha256, path,"
                    " byte_size, quality_passed, quality_json, score) VALUES (?, ?, ?, 'macula', 'file', 'cam',"
                    " ?, ?, ?, ?, 1, ?, ?)",
                    (EXAM_ID, position, eye, created, file.sha256, file.relative_path, file.byte_size, quality, score))
    raw.execute("INSERT INTO outbox (exam_id, kind, payload_json, created_at, next_attempt_at) VALUES"
                " (?, 'exam_result', '{}', ?, ?)", (EXAM_ID, created, created))
    for statement in MIGRATIONS[3]:
        raw.execute(statement)
    raw.execute("PRAGMA user_version = 3")
    raw.commit()
    raw.close()

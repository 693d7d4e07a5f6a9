"""A finished exam in a real store, made the way the pipeline makes it (two ungradable photos, no model)."""

from __future__ import annotations

import hashlib

from appliance.domain import (
    Exam,
    ExamSession,
    Eye,
    ModelInfo,
    Outcome,
    Patient,
    QualityReport,
    Result,
    ScreenedImage,
    SessionPhoto,
    utc_now,
)
from appliance.store import ExamStore

MODEL = ModelInfo(name="m", version="1", sha256="cd" * 32, runner="onnxruntime-cpu")


def finish(store: ExamStore, n: int) -> str:
    exam_id = f"{n:032x}"
    store.open_session(ExamSession(exam_id=exam_id, patient=Patient(f"P{n}"), operator="t", opened_at=utc_now()),
                       actor="t")
    images = []
    for photo_id, eye in enumerate(Eye, start=1):
        data = f"photo {n} {eye.value}".encode()
        photo = SessionPhoto(photo_id=photo_id, eye=eye, sha256=hashlib.sha256(data).hexdigest(),
                             quality=QualityReport(passed=False))
        store.add_photo(exam_id, photo, data, replaces=None, actor="t")
        images.append(ScreenedImage(photo=photo, prediction=None))
    store.finish_exam(Exam(exam_id=exam_id, patient=Patient(f"P{n}"), images=tuple(images), model=MODEL,
                           result=Result(Outcome.UNGRADABLE, (), {Eye.RIGHT: None, Eye.LEFT: None}, 0.5)),
                      actor="t")
    return exam_id

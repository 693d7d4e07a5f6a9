"""Finished exams built from real domain objects and the shipped sample photos, as summaries."""

from __future__ import annotations

import hashlib
from typing import Any

from appliance.decision import decide
from appliance.domain import (
    Exam,
    Eye,
    Field,
    Patient,
    Prediction,
    ScreenedImage,
    SessionPhoto,
)
from appliance.quality.guidance import quality_report
from appliance.summary import exam_summary
from tests.sample_exams import CREATED, GATE, MODEL, PATIENT, sample


class ExamBuilder:
    """Photos added one by one (bytes kept by sha256), then `summary()` decides and serializes the exam."""

    def __init__(self, patient: Patient = PATIENT) -> None:
        self.patient = patient
        self.images: list[ScreenedImage] = []
        self.photos: dict[str, bytes] = {}

    def add(self, eye: Eye, kind: str, *, score: float | None = None, reasons: tuple[str, ...] = (),
            field: Field = Field.MACULA, index: int = 1) -> ExamBuilder:
        data = sample(kind, eye, index)
        sha = hashlib.sha256(data).hexdigest()
        self.photos[sha] = data
        photo = SessionPhoto(photo_id=len(self.images) + 1, eye=eye, sha256=sha, quality=quality_report(reasons, {}),
                             source="test", field=field, captured_at=CREATED, detected_field=field)
        prediction = None if score is None else Prediction(score=score, model=MODEL)
        self.images.append(ScreenedImage(photo=photo, prediction=prediction))
        return self

    def summary(self, operator: str = "nurse.amina") -> dict[str, Any]:
        findings = [i.finding for i in self.images]
        exam = Exam(exam_id="exam-20250314-0001", patient=self.patient, images=tuple(self.images),
                    result=decide(findings, 0.42), model=MODEL, gate=GATE, created_at=CREATED,
                    opened_at=CREATED, operator=operator)
        return exam_summary(exam)


def refer_two_photos() -> ExamBuilder:
    return ExamBuilder().add(Eye.RIGHT, "referable", score=0.81).add(Eye.LEFT, "healthy", score=0.12)


def no_refer_four_photos() -> ExamBuilder:
    return (ExamBuilder()
            .add(Eye.RIGHT, "healthy", score=0.10, field=Field.MACULA)
            .add(Eye.RIGHT, "healthy", score=0.14, field=Field.DISC, index=2)
            .add(Eye.LEFT, "healthy", score=0.08, field=Field.MACULA)
            .add(Eye.LEFT, "healthy", score=0.20, field=Field.DISC, index=2))


def ungradable_with_failed_photos() -> ExamBuilder:
    return (ExamBuilder()
            .add(Eye.RIGHT, "blurred", reasons=("blurred",))
            .add(Eye.RIGHT, "dark", reasons=("too_dark", "uneven_illumination"), field=Field.DISC)
            .add(Eye.LEFT, "healthy", score=0.15)
            .add(Eye.LEFT, "offcentre", reasons=("field_not_centred",), field=Field.DISC))

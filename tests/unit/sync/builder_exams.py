"""Finished exams for the DICOM and FHIR builder tests: real domain objects, decided by appliance.decision,
with the shipped IDRiD sample photos (JPEG as the camera gave them) or a PNG made from one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

import cv2
import numpy as np

from appliance.decision import decide
from appliance.domain import (
    Exam,
    Eye,
    Field,
    Patient,
    Prediction,
    ScreenedImage,
    SessionPhoto,
    Sex,
)
from appliance.quality.guidance import quality_report
from appliance.report.pdf import exam_report_pdf
from appliance.summary import exam_summary
from appliance.sync.identity import DeviceIdentity, StudyUids
from tests.sample_exams import CREATED, GATE, MODEL, PATIENT, sample

OPENED = CREATED - timedelta(minutes=4)
DEVICE = DeviceIdentity(software_version="0.1.0-test", device_serial="SN-0001", institution_name="Clinic Nord")


def decoded_rgb(data: bytes) -> np.ndarray:
    """The photo's pixels as OpenCV decodes them (EXIF orientation applied), in RGB order."""
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert pixels is not None
    return np.ascontiguousarray(pixels[:, :, ::-1])


def reencoded(data: bytes, ext: str, *params: int) -> bytes:
    """The photo decoded and encoded again with OpenCV (".png", or ".jpg" with encoder parameters)."""
    ok, encoded = cv2.imencode(ext, decoded_rgb(data)[:, :, ::-1], list(params))
    assert ok
    return encoded.tobytes()


@dataclass
class BuiltExam:
    """An exam with its photos' bytes (by sha256) and its UIDs as the store would keep them."""

    exam: Exam
    photos: dict[str, bytes]
    uids: StudyUids
    _pdf: bytes | None = field(default=None, repr=False)

    @property
    def pdf(self) -> bytes:
        if self._pdf is None:
            self._pdf = exam_report_pdf(exam_summary(self.exam), self.photos)
        return self._pdf


class ExamBuilder:
    """Photos added one by one, then `build()` decides at the threshold and makes the UIDs."""

    def __init__(self, patient: Patient = PATIENT, exam_id: str = "3f2a9c0e5b7d4e1fa8c6b2d0e4f6a8b1") -> None:
        self.patient, self.exam_id = patient, exam_id
        self.images: list[ScreenedImage] = []
        self.photos: dict[str, bytes] = {}

    def add(self, eye: Eye, data: bytes, *, score: float | None = None, reasons: tuple[str, ...] = (),
            field: Field = Field.MACULA) -> ExamBuilder:
        sha = hashlib.sha256(data).hexdigest()
        self.photos[sha] = data
        photo = SessionPhoto(photo_id=len(self.images) + 1, eye=eye, sha256=sha, quality=quality_report(reasons, {}),
                             source="test", field=field, device="simulated",
                             captured_at=OPENED + timedelta(seconds=30 * (len(self.images) + 1)))
        prediction = None if score is None else Prediction(score=score, model=MODEL)
        self.images.append(ScreenedImage(photo=photo, prediction=prediction))
        return self

    def build(self, threshold: float = 0.42) -> BuiltExam:
        findings = [i.finding for i in self.images]
        exam = Exam(exam_id=self.exam_id, patient=self.patient, images=tuple(self.images),
                    result=decide(findings, threshold), model=MODEL, gate=GATE, created_at=CREATED,
                    opened_at=OPENED, operator="nurse.amina")
        return BuiltExam(exam, dict(self.photos), StudyUids.new(i.photo.photo_id for i in self.images))


def refer_exam() -> BuiltExam:
    return (ExamBuilder().add(Eye.RIGHT, sample("referable", Eye.RIGHT), score=0.81)
            .add(Eye.LEFT, sample("healthy", Eye.LEFT), score=0.12).build())


def no_refer_exam() -> BuiltExam:
    return (ExamBuilder(Patient("P-7", None, Sex.UNKNOWN), exam_id="a0b1c2d3e4f5061728394a5b6c7d8e9f")
            .add(Eye.RIGHT, sample("healthy", Eye.RIGHT), score=0.10)
            .add(Eye.RIGHT, sample("healthy", Eye.RIGHT, 2), score=0.14, field=Field.DISC)
            .add(Eye.LEFT, sample("healthy", Eye.LEFT), score=0.08)
            .add(Eye.LEFT, sample("healthy", Eye.LEFT, 2), score=0.20, field=Field.DISC).build())


def ungradable_exam() -> BuiltExam:
    return (ExamBuilder(Patient("P-0099", date(1950, 1, 31), Sex.MALE), exam_id="ffeeddccbbaa99887766554433221100")
            .add(Eye.RIGHT, sample("blurred", Eye.RIGHT), reasons=("blurred",))
            .add(Eye.RIGHT, sample("dark", Eye.RIGHT), reasons=("too_dark", "uneven_illumination"),
                 field=Field.UNKNOWN)
            .add(Eye.LEFT, sample("healthy", Eye.LEFT), score=0.15).build())


def png_exam() -> BuiltExam:
    """Both eyes photographed by a camera that gives lossless PNG."""
    return (ExamBuilder(exam_id="0123456789abcdef0123456789abcdef")
            .add(Eye.RIGHT, reencoded(sample("healthy", Eye.RIGHT), ".png"), score=0.2)
            .add(Eye.LEFT, reencoded(sample("referable", Eye.LEFT), ".png"), score=0.7).build())

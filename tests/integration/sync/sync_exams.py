"""Finished exams for the sync tests, stored the way the pipeline stores them, and the DICOM / FHIR builders
the worker uses: the real ones (appliance.sync.dicom, appliance.sync.fhir) once they exist, else small
stand-ins with the same signatures."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

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
    ScheduledOrder,
    ScreenedImage,
    SessionPhoto,
    Sex,
    utc_now,
)
from appliance.store import ExamStore
from appliance.sync.identity import DeviceIdentity, StudyUids

MODEL = ModelInfo(name="dr-ref", version="0.3.0", sha256="ab" * 32, runner="onnxruntime-cpu")
OP_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
REAL_BUILDERS = (importlib.util.find_spec("appliance.sync.dicom") is not None
                 and importlib.util.find_spec("appliance.sync.fhir") is not None)


def fundus_jpeg(seed: int, size: int = 96) -> bytes:
    """A small real JPEG: a bright disc on black, like a fundus photo, different per seed."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size, 3), np.uint8)
    cv2.circle(image, (size // 2, size // 2), size // 2 - 4, (40, 80, 170), -1)
    image = cv2.add(image, rng.integers(0, 40, image.shape, dtype=np.uint8))
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def store_exam(store: ExamStore, n: int, *, order: ScheduledOrder | None = None,
               photos: tuple[bytes, bytes] | None = None) -> Exam:
    """Open, fill and finish exam number `n` (patient P-<n>): one gradable photo per eye."""
    exam_id = f"{n:032x}"
    right, left = photos or (fundus_jpeg(2 * n), fundus_jpeg(2 * n + 1))
    now = utc_now()
    patient = Patient(f"P-{n:04d}", birth_date=date(1960, 1, 1 + n % 28), sex=Sex.FEMALE if n % 2 else Sex.MALE)
    store.open_session(ExamSession(exam_id=exam_id, patient=patient, operator="tech-1", opened_at=now, order=order),
                       actor="tech-1")
    images = []
    for photo_id, (eye, data, score) in enumerate(((Eye.RIGHT, right, 0.2), (Eye.LEFT, left, 0.7)), start=1):
        photo = SessionPhoto(photo_id=photo_id, eye=eye, sha256=hashlib.sha256(data).hexdigest(),
                             quality=QualityReport(passed=True, metrics={"focus": 1.0}), source="test",
                             field=Field.MACULA, device="test-cam", captured_at=now)
        store.add_photo(exam_id, photo, data, replaces=None, actor="tech-1")
        images.append(ScreenedImage(photo=photo, prediction=Prediction(score=score, model=MODEL)))
    result = Result(outcome=Outcome.REFER, reasons=("left eye: score 0.700 over threshold 0.500",),
                    eye_scores={Eye.RIGHT: 0.2, Eye.LEFT: 0.7}, threshold=0.5)
    exam = Exam(exam_id=exam_id, patient=patient, images=tuple(images), result=result, model=MODEL,
                created_at=now, opened_at=now, operator="tech-1", order=order)
    store.finish_exam(exam, actor="tech-1")
    return exam


def _base(sop_class: str, sop_instance: str, syntax: str, exam: Exam, uids: StudyUids, series: str,
          modality: str, accession_number: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop_instance
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_instance
    ds.PatientID, ds.PatientName = exam.patient_id, exam.patient_id
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = uids.study, series, modality
    ds.AccessionNumber = accession_number
    ds.StudyDate = exam.created_at.strftime("%Y%m%d")
    return ds


def standin_study(exam: Exam, photos: Mapping[str, bytes], pdf: bytes | None, uids: StudyUids,
                  device: DeviceIdentity, *, accession_number: str = "", patient_name: str = "") -> list[Dataset]:
    """OP photos (JPEG kept as is) and the Encapsulated PDF: enough for Orthanc to count and file them."""
    out = []
    for image in exam.images:
        ds = _base(OP_8BIT, uids.photos[image.photo.photo_id], JPEGBaseline8Bit, exam, uids, uids.op_series, "OP",
                   accession_number)
        data = photos[image.sha256]
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        ds.Rows, ds.Columns = decoded.shape[:2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.ImageLaterality = "R" if image.eye is Eye.RIGHT else "L"
        ds.PixelData = encapsulate([data])
        ds["PixelData"].VR = "OB"
        out.append(ds)
    if pdf is not None:
        ds = _base(ENCAPSULATED_PDF, uids.pdf_instance, ExplicitVRLittleEndian, exam, uids, uids.pdf_series, "DOC",
                   accession_number)
        ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
        ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
        out.append(ds)
    return out


def standin_part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def standin_bundle(exam: Exam, device: DeviceIdentity, *, identifier_system: str, accession_number: str = "",
                   pdf: bytes | None = None) -> dict[str, Any]:
    patient_ref = f"urn:uuid:{exam.exam_id[:8]}-0000-4000-8000-{exam.exam_id[-12:]}"
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": patient_ref,
         "resource": {"resourceType": "Patient", "identifier": [{"system": identifier_system + "/patient",
                                                                 "value": exam.patient_id}]},
         "request": {"method": "POST", "url": "Patient",
                     "ifNoneExist": f"identifier={identifier_system}/patient|{exam.patient_id}"}},
        {"resource": {"resourceType": "DiagnosticReport", "status": "final",
                      "identifier": [{"system": identifier_system, "value": exam.exam_id}],
                      "code": {"text": "Diabetic retinopathy screening"}, "subject": {"reference": patient_ref},
                      "conclusion": exam.result.message},
         "request": {"method": "POST", "url": "DiagnosticReport",
                     "ifNoneExist": f"identifier={identifier_system}|{exam.exam_id}"}},
    ]}


def builders() -> tuple[Callable[..., list[Dataset]], Callable[[Dataset], bytes], Callable[..., dict[str, Any]]]:
    """The real builders when they are in the tree, else the stand-ins."""
    if REAL_BUILDERS:
        from appliance.sync.dicom import study_datasets, to_part10
        from appliance.sync.fhir import report_bundle

        return study_datasets, to_part10, report_bundle
    return standin_study, standin_part10, standin_bundle

"""Finished exams reach a real Orthanc (DICOMweb STOW-RS, DIMSE C-STORE) and the FHIR receiver, each once."""

from __future__ import annotations

import io
from collections.abc import Callable

import pydicom
import pytest
import requests
from fhir_receiver import FhirReceiver
from orthanc_server import PASSWORD, USER, Orthanc
from sync_exams import REAL_BUILDERS, builders, store_exam
from sync_harness import sync_config

from appliance.domain import ScheduledOrder
from appliance.store import ExamStore
from appliance.sync.targets import device_identity
from appliance.sync.worker import SyncWorker

ORDER = ScheduledOrder(accession_number="ACC-0042", study_instance_uid="1.2.826.0.1.3680043.10.543.42",
                       requested_procedure="Diabetic retinopathy screening", patient_name="DOE^JANE",
                       patient_id="P-0001")


def objects_per_exam(store: ExamStore, exam_id: str) -> int:
    """How many DICOM objects the builders make for this exam (photos, SR, PDF)."""
    study, _, _ = builders()
    exam = store.get_exam(exam_id)
    photos = {i.sha256: store.image_bytes(i.sha256) for i in exam.images}
    return len(study(exam, photos, store.report_pdf(exam_id) or b"%PDF-1.4", store.study_uids(exam_id),
                     device_identity(sync_config(None, None)), accession_number=""))


def test_exams_arrive_in_orthanc_and_at_the_ehr_once_each(
        store: ExamStore, orthanc: Orthanc, fhir: FhirReceiver, make_worker: Callable[..., SyncWorker]) -> None:
    exams = [store_exam(store, 1, order=ORDER), store_exam(store, 2), store_exam(store, 3)]
    worker = make_worker(store, sync_config(orthanc, fhir))

    report = worker.drain()

    assert (report.sent, report.failed, report.parked) == (6, 0, 0)
    per_exam = objects_per_exam(store, exams[0].exam_id)
    stats = orthanc.statistics()
    assert (stats["CountStudies"], stats["CountInstances"]) == (3, 3 * per_exam)
    assert fhir.count("DiagnosticReport") == 3 and fhir.count("Patient") == 3
    assert set(fhir.reports_by_identifier().values()) == {1}
    assert {line.sync_state for line in store.worklist()} == {"sent"}
    assert all(b.pending == 0 and b.sent == 3 and b.last_sent_at for b in store.outbox.backlog())

    # The order's study UID and accession number are the study's in the PACS.
    found = orthanc_study(orthanc, ORDER.study_instance_uid)
    assert found["MainDicomTags"]["AccessionNumber"] == "ACC-0042"
    # Each photo is filed with its eye; the PDF report is there, byte for byte.
    tags = [orthanc.get(f"/instances/{i}/simplified-tags") for i in orthanc.get("/instances")]
    lateralities = sorted(t.get("ImageLaterality") for t in tags if t.get("Modality") == "OP")
    assert lateralities == ["L", "L", "L", "R", "R", "R"]
    pdfs = [t for t in tags if t.get("MIMETypeOfEncapsulatedDocument") == "application/pdf"]
    assert len(pdfs) == 3


def orthanc_study(orthanc: Orthanc, study_uid: str) -> dict[str, object]:
    for study_id in orthanc.get("/studies"):
        study = orthanc.get(f"/studies/{study_id}")
        if study["MainDicomTags"]["StudyInstanceUID"] == study_uid:
            return dict(study)
    raise AssertionError(f"study {study_uid} not in Orthanc")


def test_a_resend_after_a_crash_stores_nothing_twice(
        store: ExamStore, orthanc: Orthanc, fhir: FhirReceiver, make_worker: Callable[..., SyncWorker]) -> None:
    exam = store_exam(store, 7)
    make_worker(store, sync_config(orthanc, fhir)).drain()
    before = orthanc.statistics()["CountInstances"]
    # As if the worker died after the receivers stored the exam but before it recorded that: send it all again.
    store.write(lambda conn: conn.execute("UPDATE outbox SET sent_at = NULL"))
    report = make_worker(store, sync_config(orthanc, fhir)).drain()
    assert report.sent == 2
    assert orthanc.statistics()["CountInstances"] == before
    assert fhir.count("DiagnosticReport") == 1 and fhir.posts == 2
    [(key, copies)] = fhir.reports_by_identifier().items()
    assert key.endswith(f"|{exam.exam_id}") and copies == 1


def test_dimse_c_store_delivers_the_same_study(
        store: ExamStore, orthanc: Orthanc, make_worker: Callable[..., SyncWorker]) -> None:
    exam = store_exam(store, 9)
    config = sync_config(None, None, dimse_host="127.0.0.1", dimse_port=orthanc.dicom_port, dimse_ae_title="ORTHANC")
    report = make_worker(store, config).drain()
    assert (report.sent, report.parked, report.failed) == (1, 0, 0)
    assert orthanc.statistics()["CountInstances"] == objects_per_exam(store, exam.exam_id)
    assert orthanc_study(orthanc, store.study_uids(exam.exam_id).study)


@pytest.mark.skipif(not REAL_BUILDERS, reason="the DICOM builders (appliance.sync.dicom) are not in the tree yet")
def test_orthanc_holds_the_sr_and_the_pdf_of_the_exam(
        store: ExamStore, orthanc: Orthanc, fhir: FhirReceiver, make_worker: Callable[..., SyncWorker]) -> None:
    exam = store_exam(store, 11)
    make_worker(store, sync_config(orthanc, fhir)).drain()
    uids = store.study_uids(exam.exam_id)
    sr = pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{find(orthanc, uids.sr_instance)}/file")))
    assert sr.Modality == "SR" and sr.StudyInstanceUID == uids.study
    codes, texts = set(), set()
    sr.walk(lambda _ds, elem: codes.add(str(elem.value)) if elem.keyword == "CodeValue" else
            texts.add(str(elem.value)) if elem.keyword in ("TextValue", "UID") else None)
    assert "REFER" in codes  # the outcome (the exam's left eye is over the threshold)
    assert {"REFERABLE", "NOT-REFERABLE"} <= codes  # a finding per eye
    assert any(exam.model.sha256 in t for t in texts)  # traceable to the model
    pdf = pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{find(orthanc, uids.pdf_instance)}/file")))
    assert bytes(pdf.EncapsulatedDocument).rstrip(b"\0") == (store.report_pdf(exam.exam_id) or b"").rstrip(b"\0")


def find(orthanc: Orthanc, sop_instance_uid: str) -> str:
    found = requests.post(orthanc.url + "/tools/lookup", data=sop_instance_uid, auth=(USER, PASSWORD), timeout=30)
    found.raise_for_status()
    [hit] = [h for h in found.json() if h["Type"] == "Instance"]
    return str(hit["ID"])

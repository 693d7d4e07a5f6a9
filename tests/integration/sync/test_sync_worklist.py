"""Orders in: Orthanc's own worklist plugin serves worklist files the test writes; the box asks it (C-FIND,
modality OP, today, this station's AE title), the kiosk offers today's patients, and an exam opened from an
order carries its accession number and study into what reaches the PACS and the EHR."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from auth_fakes import quick_hasher
from flask.testing import FlaskClient
from orthanc_server import Orthanc
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sync_harness import sync_config

from appliance.auth import Accounts, Role
from appliance.config import SyncConfig, load_config
from appliance.domain import Sex
from appliance.errors import WorklistUnavailableError
from appliance.kiosk.app import create_app
from appliance.kiosk.context import KioskServices
from appliance.runtime import open_appliance
from appliance.services.orders import ScheduledOrders
from appliance.sync.worker import SyncWorker
from appliance.sync.worklist import query_worklist

MWL_FIND = "1.2.840.10008.5.1.4.31"
ORIGIN = {"Origin": "http://localhost"}


def write_order(folder: Path, accession: str, patient_id: str, *, name: str = "DOE^JANE", day: date | None = None,
                station: str = "DRSCREEN", modality: str = "OP", study_uid: str = "") -> str:
    """One worklist file as a RIS would drop it for Orthanc's worklist plugin; returns its study UID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MWL_FIND, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = name, patient_id, "19580314", "F"
    ds.AccessionNumber = accession
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.RequestedProcedureDescription, ds.RequestedProcedureID = "Diabetic retinopathy screening", f"RP-{accession}"
    step = Dataset()
    step.Modality, step.ScheduledStationAETitle = modality, station
    step.ScheduledProcedureStepStartDate = (day or date.today()).strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = "093000"
    step.ScheduledProcedureStepDescription, step.ScheduledProcedureStepID = "Fundus photographs", f"SPS-{accession}"
    ds.ScheduledProcedureStepSequence = [step]
    ds.save_as(folder / f"{accession}.wl", enforce_file_format=True)
    return str(ds.StudyInstanceUID)


@pytest.fixture
def worklist(orthanc: Orthanc) -> Iterator[Path]:
    for old in orthanc.worklists.glob("*.wl"):
        old.unlink()
    yield orthanc.worklists
    for old in orthanc.worklists.glob("*.wl"):
        old.unlink()


def worklist_config(orthanc: Orthanc, **overrides: object) -> SyncConfig:
    values: dict[str, object] = {"worklist_host": "127.0.0.1", "worklist_port": orthanc.dicom_port,
                                 "worklist_ae_title": "ORTHANC", **overrides}
    return sync_config(None, None, **values)


def test_todays_op_orders_for_this_station_come_back_as_scheduled_orders(orthanc: Orthanc, worklist: Path) -> None:
    today = date.today()  # once: the suite may run across midnight
    study = write_order(worklist, "ACC-1", "P-100", name="DOE^JANE", day=today)
    write_order(worklist, "ACC-2", "P-200", name="ROE^RICHARD", day=today)
    write_order(worklist, "ACC-3", "P-300", day=today + timedelta(days=1))         # tomorrow
    write_order(worklist, "ACC-4", "P-400", station="OTHERBOX", day=today)          # another station
    write_order(worklist, "ACC-5", "P-500", modality="CT", day=today)               # not photography

    orders = query_worklist(worklist_config(orthanc), today)

    assert [o.accession_number for o in orders] == ["ACC-1", "ACC-2"]
    first = orders[0]
    assert (first.patient_id, first.patient_name, first.birth_date, first.sex) == (
        "P-100", "DOE^JANE", date(1958, 3, 14), Sex.FEMALE)
    assert first.study_instance_uid == study
    assert first.requested_procedure == "Diabetic retinopathy screening"
    assert first.scheduled_start == f"{today.isoformat()} 09:30"


def test_an_unreachable_or_unconfigured_worklist_says_so(orthanc: Orthanc) -> None:
    with pytest.raises(WorklistUnavailableError, match="No worklist is configured"):
        query_worklist(SyncConfig(), date.today())
    dead = worklist_config(orthanc, worklist_port=1, timeout_s=2)
    with pytest.raises(WorklistUnavailableError, match="cannot be reached"):
        query_worklist(dead, date.today())


@dataclass
class KioskWithOrders:
    client: FlaskClient
    csrf: str
    services: KioskServices


@pytest.fixture
def kiosk(tmp_path: Path, orthanc: Orthanc) -> Iterator[KioskWithOrders]:
    config = load_config(env={"APPLIANCE_DATA_DIR": str(tmp_path / "data"), "APPLIANCE_MODEL_RUNNER": "onnxruntime",
                              "APPLIANCE_MODEL_INTRA_OP_THREADS": "1"})
    with open_appliance(config, actor="kiosk") as box:
        accounts = Accounts(box.store, config.auth, hasher=quick_hasher())
        accounts.add_user("tess", "Tess", Role.TECHNICIAN, "4821", actor="setup")
        services = KioskServices(screening=box.screening, exams=box.exams, status=box.status, admin=box.admin,
                                 accounts=accounts, max_attempts=config.quality.max_attempts)
        app = create_app(services, config.auth, allowed_hosts=["localhost"], max_upload_bytes=4 * 1024 * 1024)
        client = app.test_client()
        pre = client.get("/api/session").get_json()["csrf_token"]
        answer = client.post("/api/session", json={"user_id": "tess", "pin": "4821"},
                             headers={**ORIGIN, "X-CSRF-Token": pre})
        yield KioskWithOrders(client=client, csrf=answer.get_json()["csrf_token"], services=services)


def test_the_kiosk_offers_todays_orders_and_an_exam_from_one_reaches_the_pacs_under_it(
        kiosk: KioskWithOrders, orthanc: Orthanc, worklist: Path, make_worker: Callable[..., SyncWorker]) -> None:
    client, headers = kiosk.client, {**ORIGIN, "X-CSRF-Token": kiosk.csrf}
    assert client.get("/api/worklist/orders").get_json() == {
        "available": False, "configured": False, "reason": "No worklist is configured: type the patient's id."}
    kiosk.services.orders = ScheduledOrders(worklist_config(orthanc, worklist_port=1, timeout_s=2))
    offline = client.get("/api/worklist/orders").get_json()
    assert offline["available"] is False and offline["configured"] is True and "cannot be reached" in offline["reason"]

    study = write_order(worklist, "ACC-77", "P-777", name="DOE^JANE")
    kiosk.services.orders = ScheduledOrders(worklist_config(orthanc))
    answer = client.get("/api/worklist/orders").get_json()
    assert answer["available"] is True
    [offered] = answer["orders"]
    assert {k: offered[k] for k in ("accession_number", "patient_id", "patient_name", "birth_date", "sex")} == {
        "accession_number": "ACC-77", "patient_id": "P-777", "patient_name": "DOE^JANE", "birth_date": "1958-03-14",
        "sex": "female"}

    mismatch = client.post("/api/exams", json={"patient_id": "P-1", "accession_number": "ACC-77"}, headers=headers)
    assert mismatch.status_code == 400 and mismatch.get_json()["error"] == "order_patient_mismatch"
    unknown = client.post("/api/exams", json={"accession_number": "ACC-404"}, headers=headers)
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "order_not_found"

    opened = client.post("/api/exams", json={"accession_number": "ACC-77"}, headers=headers)
    assert opened.status_code == 201, opened.get_json()
    exam = opened.get_json()
    assert exam["patient"] == {"patient_id": "P-777", "birth_date": "1958-03-14", "sex": "female"}
    assert exam["order"]["accession_number"] == "ACC-77"
    for eye in ("right", "left"):
        took = client.post(f"/api/exams/{exam['exam_id']}/photos", json={"eye": eye, "kind": "healthy"},
                           headers=headers)
        assert took.status_code == 201, took.get_json()
    finished = client.post(f"/api/exams/{exam['exam_id']}/finish", headers=headers)
    assert finished.status_code == 200, finished.get_json()
    assert finished.get_json()["order"]["accession_number"] == "ACC-77"  # the result is the order's too

    store = kiosk.services.exams.store
    assert store.study_uids(exam["exam_id"]).study == study
    [line] = client.get("/api/worklist").get_json()["exams"]
    assert line["sync"] == "pending"
    make_worker(store, sync_config(orthanc, None)).drain()
    assert client.get("/api/worklist").get_json()["exams"][0]["sync"] == "pending"  # the EHR is still to come
    [dicom] = [i for i in store.outbox.sync_state(exam["exam_id"]) if i.kind == "dicom"]
    assert dicom.state == "sent"
    [study_id] = orthanc.get("/studies")
    tags = orthanc.get(f"/studies/{study_id}")["MainDicomTags"]
    assert (tags["StudyInstanceUID"], tags["AccessionNumber"]) == (study, "ACC-77")
    health = client.get("/healthz").get_json()["sync"]
    assert [(d["kind"], d["sent"], d["pending"]) for d in health["destinations"]] == [("dicom", 1, 0), ("fhir", 0, 1)]

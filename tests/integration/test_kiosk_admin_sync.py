"""The clinic-facing side of sync through Flask's test client, on a real box (tests/integration/kiosk_app.py):
the admin's list of parked items and "Send again" (`GET /api/admin/sync`, `POST /api/admin/sync/<id>/requeue`:
admin only, CSRF-checked, audited with the administrator's id), the worklist's sync state per exam, the
status page's sync section (never a credential), and `configured` in `GET /api/worklist/orders`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from flask.testing import FlaskClient

from appliance.config import SyncConfig
from appliance.domain import ScheduledOrder, Sex, utc_now
from appliance.errors import WorklistUnavailableError
from appliance.kiosk.status import when_words
from appliance.services.orders import ScheduledOrders
from appliance.store.records import OutboxItem
from tests.integration.kiosk_app import ADMIN, ORIGIN, TECH, Kiosk, changing, running_kiosk, signed_in

WORKER = "test-worker"
REFUSED = "The EHR refused the report (HTTP 422): Patient.identifier system is not known here."


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    with running_kiosk(tmp_path_factory.mktemp("kiosk-sync") / "var") as made:
        yield made


pytestmark = pytest.mark.usefixtures("no_error_logs")  # tests/integration/conftest.py


def finished_exam(kiosk: Kiosk, patient_id: str) -> str:
    """A whole exam through the API (demo photos, the real model); its id. Its outbox items are queued."""
    client, csrf = signed_in(kiosk, TECH)
    opened = client.post("/api/exams", json={"patient_id": patient_id}, headers=changing(csrf))
    assert opened.status_code == 201, opened.get_json()
    exam_id = str(opened.get_json()["exam_id"])
    for eye in ("right", "left"):
        took = client.post(f"/api/exams/{exam_id}/photos", json={"eye": eye, "kind": "healthy"},
                           headers=changing(csrf))
        assert took.status_code == 201, took.get_json()
    done = client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf))
    assert done.status_code == 200, done.get_json()
    return exam_id


def claimed(kiosk: Kiosk, kind: str, exam_id: str) -> OutboxItem:
    """The exam's item for `kind`, leased by a stand-in worker as the real one does."""
    items = kiosk.box.store.outbox.claim(kind, now=utc_now(), lease_s=60, owner=WORKER, limit=100)
    [mine] = [i for i in items if i.exam_id == exam_id]
    for other in items:
        if other is not mine:
            kiosk.box.store.outbox.mark_failed(other.id, WORKER, error="not now", next_attempt_at=utc_now())
    return mine


@pytest.fixture(scope="module")
def parked_exam(kiosk: Kiosk) -> tuple[str, int, int]:
    """A finished exam the PACS confirmed and the EHR refused for good: (exam id, dicom item, fhir item)."""
    exam_id = finished_exam(kiosk, "P-SYNC-1")
    dicom = claimed(kiosk, "dicom", exam_id)
    assert kiosk.box.store.outbox.mark_sent(dicom.id, WORKER, now=utc_now())
    fhir = claimed(kiosk, "fhir", exam_id)
    assert kiosk.box.store.outbox.park(fhir.id, WORKER, reason=REFUSED, now=utc_now())
    return exam_id, dicom.id, fhir.id


def sync_of(client: FlaskClient, exam_id: str) -> Any:
    [entry] = [e for e in client.get("/api/worklist").get_json()["exams"] if e["exam_id"] == exam_id]
    return entry["sync"]


def test_only_an_administrator_may_list_or_requeue(kiosk: Kiosk, parked_exam: tuple[str, int, int]) -> None:
    _, _, fhir = parked_exam
    anonymous = kiosk.app.test_client()
    assert anonymous.get("/api/admin/sync").status_code == 401
    assert anonymous.post(f"/api/admin/sync/{fhir}/requeue", headers=ORIGIN, json={}).status_code == 401
    tech, csrf = signed_in(kiosk, TECH)
    for answer in (tech.get("/api/admin/sync"),
                   tech.post(f"/api/admin/sync/{fhir}/requeue", headers=changing(csrf), json={})):
        assert answer.status_code == 403
        assert answer.get_json()["error"] == "access_denied"
    admin, _ = signed_in(kiosk, ADMIN)
    no_token = admin.post(f"/api/admin/sync/{fhir}/requeue", headers=ORIGIN, json={})
    assert no_token.status_code == 403 and no_token.get_json()["error"] == "csrf_failed"
    assert kiosk.box.store.outbox.item(fhir).state == "parked"  # nothing of the above changed it
    assert "sync_requeued" not in [e.action for e in kiosk.box.store.audit_entries()]


def test_the_admin_lists_parked_items_and_sends_one_again(kiosk: Kiosk, parked_exam: tuple[str, int, int]) -> None:
    exam_id, dicom, fhir = parked_exam
    tech, _ = signed_in(kiosk, TECH)
    assert sync_of(tech, exam_id) == "parked"
    admin, csrf = signed_in(kiosk, ADMIN)

    listed = admin.get("/api/admin/sync")
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["configured"] is False
    assert [(d["kind"], d["sent"], d["parked"]) for d in body["destinations"]] == [("dicom", 1, 0), ("fhir", 0, 1)]
    [item] = [p for p in body["parked"] if p["item"] == fhir]
    assert (item["kind"], item["exam_id"], item["reason"]) == ("fhir", exam_id, REFUSED)
    assert item["parked_at"]

    again = admin.post(f"/api/admin/sync/{fhir}/requeue", headers=changing(csrf), json={})
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == {"item": fhir, "kind": "fhir", "exam_id": exam_id, "state": "retrying",
                                "attempts": 0}
    assert fhir not in [p["item"] for p in admin.get("/api/admin/sync").get_json()["parked"]]
    assert sync_of(tech, exam_id) == "retrying"  # due now: the worker sends it at its next pass
    [audited] = [e for e in kiosk.box.store.audit_entries(exam_id) if e.action == "sync_requeued"]
    assert audited.actor == ADMIN[0]
    assert audited.detail["item"] == fhir and audited.detail["was"] == "parked"
    assert audited.detail["last_error"] == REFUSED

    # An item already sent, one that does not exist, a number beyond SQLite's, not a number.
    for item_id, status in ((dicom, 409), (10**6, 409), (10**30, 409)):
        refused = admin.post(f"/api/admin/sync/{item_id}/requeue", headers=changing(csrf), json={})
        assert refused.status_code == status, (item_id, refused.get_json())
        assert refused.get_json()["error"] == "sync_item_invalid"
        assert "nothing to re-queue" in refused.get_json()["message"]
    assert admin.post("/api/admin/sync/abc/requeue", headers=changing(csrf), json={}).status_code == 404
    assert [e.action for e in kiosk.box.store.audit_entries()].count("sync_requeued") == 1


def test_the_status_page_shows_the_sync_section_without_credentials(kiosk: Kiosk) -> None:
    exam_id = finished_exam(kiosk, "P-SYNC-2")
    fhir = claimed(kiosk, "fhir", exam_id)
    kiosk.box.store.outbox.park(fhir.id, WORKER, reason=REFUSED, now=utc_now())
    status = kiosk.box.status
    before = status.sync_config
    status.sync_config = SyncConfig(dicomweb_url="https://drscreen:pacs-secret@pacs.example/dicom-web",
                                    fhir_url="https://ehr.example/fhir", username="drscreen",
                                    password="hunter2-secret")
    try:
        tech, _ = signed_in(kiosk, TECH)
        page = tech.get("/status")
    finally:
        status.sync_config = before
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Results sent to the clinic" in html
    assert "to https://pacs.example/dicom-web" in html and "to https://ehr.example/fhir" in html
    assert "secret" not in html
    assert f'id="parked-{fhir.id}"' in html
    assert "Patient.identifier system is not known here." in html
    [refused] = [b.parked for b in kiosk.box.store.outbox.backlog() if b.kind == "fhir"]
    assert f"✗ Not OK: {refused} refused" in html
    assert "last success" in html
    assert "no worklist is configured" in html
    assert "not clinically validated" in html  # the notice, from the route
    assert "P-SYNC" not in html  # exam ids, never patient ids


def test_the_orders_answer_says_whether_a_worklist_is_configured(kiosk: Kiosk) -> None:
    tech, _ = signed_in(kiosk, TECH)
    services = kiosk.app.extensions["kiosk"]
    assert tech.get("/api/worklist/orders").get_json() == {
        "available": False, "configured": False, "reason": "No worklist is configured: type the patient's id."}
    config = dataclasses.replace(SyncConfig(), worklist_host="127.0.0.1")
    order = ScheduledOrder(accession_number="ACC-9", patient_name="DOE^JANE", patient_id="P-9",
                           birth_date=date(1958, 3, 14), sex=Sex.FEMALE)

    def offline(config: SyncConfig, day: date) -> list[ScheduledOrder]:
        raise WorklistUnavailableError("The clinic's worklist cannot be reached now: type the patient's id.")

    try:
        services.orders = ScheduledOrders(config, query=offline)
        assert tech.get("/api/worklist/orders").get_json() == {
            "available": False, "configured": True,
            "reason": "The clinic's worklist cannot be reached now: type the patient's id."}
        services.orders = ScheduledOrders(config, query=lambda config, day: [order])
        answer = tech.get("/api/worklist/orders").get_json()
    finally:
        services.orders = None
    assert (answer["available"], answer["configured"]) == (True, True)
    assert [o["accession_number"] for o in answer["orders"]] == ["ACC-9"]


def test_stored_times_read_in_the_boxs_local_time() -> None:
    now = datetime(2025, 3, 3, 12, 0, tzinfo=timezone.utc).astimezone()
    assert when_words(None) == "never" and when_words("") == "never"
    assert when_words(now.astimezone(timezone.utc).isoformat(), now=now) == f"today {now:%H:%M}"
    earlier = now - timedelta(days=40)
    assert when_words(earlier.isoformat(), now=now) == f"{earlier.day} {earlier:%b %Y} {earlier:%H:%M}"
    assert when_words("not a time") == "not a time"

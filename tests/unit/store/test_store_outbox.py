"""The typed outbox: claims with a lease, sent / failed / parked, re-queue (audited), backlog and per-exam
state; the exam's DICOM UIDs made once; the worklist order kept with the exam; purge only after confirmation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from store_fixtures import T0, build_exam, save_exam

from appliance.domain import ExamSession, Patient, ScheduledOrder, Sex, utc_now
from appliance.errors import ExamNotFoundError, StorageError, SyncStateError
from appliance.store import ExamStore

LEASE = 60.0


def soon(**delta: float) -> datetime:
    """A moment after the items just stored became due (they are due when stored, in real time)."""
    return utc_now() + timedelta(seconds=1) + timedelta(**delta)


def test_a_claim_leases_due_items_once_until_the_lease_ends(store: ExamStore) -> None:
    save_exam(store, build_exam("e1"), actor="tech-1")
    save_exam(store, build_exam("e2", seed=1, minutes=1), actor="tech-1")
    now = soon(days=1)
    first = store.outbox.claim("dicom", now=now, lease_s=LEASE, owner="w1", limit=1)
    assert [(i.exam_id, i.kind, i.attempts, i.lease_owner) for i in first] == [("e1", "dicom", 1, "w1")]
    second = store.outbox.claim("dicom", now=now, lease_s=LEASE, owner="w2", limit=10)
    assert [i.exam_id for i in second] == ["e2"]  # e1 is leased to w1
    assert store.outbox.claim("dicom", now=now + timedelta(seconds=LEASE - 1), lease_s=LEASE, owner="w2") == []
    # w1 died mid-send: once its lease ends the item is due again, never lost.
    again = store.outbox.claim("dicom", now=now + timedelta(seconds=LEASE + 1), lease_s=LEASE, owner="w3")
    assert [(i.exam_id, i.attempts, i.lease_owner) for i in again] == [("e1", 2, "w3"), ("e2", 2, "w3")]
    assert [i.exam_id for i in store.outbox.claim("fhir", now=now, lease_s=LEASE, owner="w1")] == ["e1", "e2"]


def test_sent_is_recorded_once_and_audited_and_never_claimed_again(store: ExamStore) -> None:
    save_exam(store, build_exam("e1"), actor="tech-1")
    now = soon(hours=1)
    [item] = store.outbox.claim("dicom", now=now, lease_s=LEASE, owner="w1")
    assert store.outbox.mark_sent(item.id, "w1", now=now) is True
    assert store.outbox.mark_sent(item.id, "w2", now=now) is False  # a late second confirmation changes nothing
    assert store.outbox.claim("dicom", now=now + timedelta(days=9), lease_s=LEASE, owner="w1") == []
    sent = [e for e in store.audit_entries("e1") if e.action == "exam_sent"]
    assert [(e.actor, e.detail["destination"]) for e in sent] == [("w1", "dicom")]
    assert {i.kind: i.state for i in store.outbox.sync_state("e1")} == {"dicom": "sent", "fhir": "pending"}
    assert [line.sync_state for line in store.worklist()] == ["pending"]


def test_a_failure_waits_for_its_next_attempt_and_a_lost_lease_changes_nothing(store: ExamStore) -> None:
    save_exam(store, build_exam("e1"), actor="tech-1")
    now = soon(hours=1)
    [item] = store.outbox.claim("fhir", now=now, lease_s=LEASE, owner="w1")
    assert store.outbox.mark_failed(item.id, "w2", error="x", next_attempt_at=now) is False  # not w2's
    later = now + timedelta(minutes=5)
    assert store.outbox.mark_failed(item.id, "w1", error="HTTP 503 from the EHR", next_attempt_at=later) is True
    assert store.outbox.claim("fhir", now=later - timedelta(seconds=1), lease_s=LEASE, owner="w1") == []
    [again] = store.outbox.claim("fhir", now=later, lease_s=LEASE, owner="w1")
    assert (again.attempts, again.last_error, again.state) == (2, "HTTP 503 from the EHR", "retrying")
    assert [line.sync_state for line in store.worklist()] == ["retrying"]


def test_parked_items_wait_for_a_person_and_a_requeue_is_audited(store: ExamStore) -> None:
    save_exam(store, build_exam("e1"), actor="tech-1")
    now = soon(hours=1)
    [item] = store.outbox.claim("dicom", now=now, lease_s=LEASE, owner="w1")
    assert store.outbox.park(item.id, "w1", reason="The PACS refused the credentials.", now=now) is True
    assert store.outbox.claim("dicom", now=now + timedelta(days=30), lease_s=LEASE, owner="w1") == []
    [parked] = store.outbox.parked()
    assert (parked.exam_id, parked.state, parked.last_error) == ("e1", "parked", "The PACS refused the credentials.")
    assert [line.sync_state for line in store.worklist()] == ["parked"]
    backlog = {b.kind: b for b in store.outbox.backlog()}
    assert (backlog["dicom"].pending, backlog["dicom"].parked, backlog["fhir"].pending) == (0, 1, 1)

    requeued = store.outbox.requeue(item.id, actor="admin-1", now=now + timedelta(minutes=1))
    assert (requeued.parked_at, requeued.attempts) == (None, 0)
    [claimed] = store.outbox.claim("dicom", now=now + timedelta(minutes=1), lease_s=LEASE, owner="w1")
    assert claimed.id == item.id
    audit = {e.action: e for e in store.audit_entries("e1")}
    assert audit["sync_parked"].detail["reason"] == "The PACS refused the credentials."
    assert (audit["sync_requeued"].actor, audit["sync_requeued"].detail["was"]) == ("admin-1", "parked")
    store.outbox.mark_sent(claimed.id, "w1", now=now)
    with pytest.raises(SyncStateError):
        store.outbox.requeue(item.id, actor="admin-1", now=now)  # already sent
    with pytest.raises(SyncStateError):
        store.outbox.requeue(999, actor="admin-1", now=now)


def test_backlog_counts_every_destination_and_the_last_success(store: ExamStore) -> None:
    assert [(b.kind, b.pending, b.sent, b.last_sent_at) for b in store.outbox.backlog()] == [
        ("dicom", 0, 0, None), ("fhir", 0, 0, None)]
    for n in range(3):
        save_exam(store, build_exam(f"e{n}", seed=n, minutes=n), actor="tech-1")
    now = soon(hours=2)
    [item] = store.outbox.claim("fhir", now=now, lease_s=LEASE, owner="w1", limit=1)
    store.outbox.mark_sent(item.id, "w1", now=now)
    backlog = {b.kind: b for b in store.outbox.backlog()}
    assert (backlog["dicom"].pending, backlog["fhir"].pending, backlog["fhir"].sent) == (3, 2, 1)
    assert backlog["fhir"].last_sent_at == now and backlog["dicom"].oldest_pending_at is not None


def test_an_exams_dicom_uids_are_made_once_with_its_result(store: ExamStore) -> None:
    exam = build_exam("e1")
    save_exam(store, exam, actor="tech-1")
    uids = store.study_uids("e1")
    assert sorted(uids.photos) == [1, 2] and uids.study.startswith("2.25.")
    assert len({uids.study, uids.op_series, uids.sr_series, uids.pdf_series, uids.sr_instance, uids.pdf_instance,
                *uids.photos.values()}) == 8
    assert store.study_uids("e1") == uids
    with pytest.raises(ExamNotFoundError):
        store.study_uids("nope")


def test_an_exam_opened_from_an_order_keeps_it_and_its_study_uid(store: ExamStore) -> None:
    order = ScheduledOrder(accession_number="ACC-7", study_instance_uid="1.2.826.0.1.3680043.10.1.7",
                           requested_procedure="Diabetic retinopathy screening", patient_name="DOE^JANE",
                           patient_id="P-001", scheduled_start="2024-05-01 09:00")
    exam = build_exam("e1")
    store.open_session(ExamSession(exam_id="e1", patient=exam.patient, operator="tech-1", opened_at=T0, order=order),
                       actor="tech-1")
    from store_fixtures import PHOTO_BYTES

    for image in exam.images:
        store.add_photo("e1", image.photo, PHOTO_BYTES[image.sha256], replaces=None, actor="tech-1")
    store.finish_exam(exam, actor="tech-1")
    expected = ScheduledOrder(**{**order.__dict__, "birth_date": None, "sex": Sex.UNKNOWN})
    assert store.get_session("e1").order == expected and store.get_exam("e1").order == expected
    assert store.study_uids("e1").study == order.study_instance_uid
    assert store.get_session("e1").patient == Patient("P-001")


def test_photos_are_purged_only_after_the_archive_confirmed_them(store: ExamStore) -> None:
    save_exam(store, build_exam("sent"), actor="tech-1")
    save_exam(store, build_exam("unsent", seed=1, minutes=1), actor="tech-1")
    sent_at = soon(days=1)
    for item in store.outbox.claim("dicom", now=sent_at, lease_s=LEASE, owner="w1"):
        if item.exam_id == "sent":
            store.outbox.mark_sent(item.id, "w1", now=sent_at)
    assert store.purge_photos(confirmed_before=sent_at, actor="sync").exams == 0  # retention not passed yet
    report = store.purge_photos(confirmed_before=sent_at + timedelta(seconds=1), actor="sync")
    assert (report.exams, report.files) == (1, 2) and report.bytes > 0
    with pytest.raises(StorageError) as caught:
        store.image_bytes(store.get_exam("sent").images[0].sha256)
    assert caught.value.reason_code == "photo_purged"
    for image in store.get_exam("unsent").images:  # never confirmed: kept whatever the retention
        assert store.image_bytes(image.sha256)
    assert store.purge_photos(confirmed_before=sent_at + timedelta(days=999), actor="sync").exams == 0
    assert [e.detail["files"] for e in store.audit_entries("sent") if e.action == "photos_purged"] == [2]

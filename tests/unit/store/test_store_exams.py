"""Saving and reading exams back: round trip, listing, worklist, outbox and audit rows, not found."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from store_fixtures import MODEL, PHOTO_BYTES, T0, build_exam, jpeg, save_exam, screened

from appliance.domain import (
    NOT_VALIDATED_NOTICE,
    ExamSession,
    ExamState,
    Eye,
    Field,
    OperatingPoint,
    Outcome,
    Patient,
    Sex,
)
from appliance.errors import ExamNotFoundError, ExamStateError, StorageError
from appliance.store import ExamStore


def stored_file(store: ExamStore, sha256: str) -> Path:
    """Where a JPEG with this hash lives: `images/<sha[:2]>/<sha256>.jpg` under the data folder."""
    return store.data_dir / "images" / sha256[:2] / f"{sha256}.jpg"


def test_save_then_get_round_trips_everything_needed_to_show_the_exam(store: ExamStore) -> None:
    exam = build_exam("exam-1", left_score=None)
    save_exam(store, exam, actor="tech-1")

    record = store.get_exam("exam-1")

    assert (record.exam_id, record.patient_id, record.operator) == ("exam-1", "P-001", "tech-1")
    assert record.patient == Patient("P-001")
    assert record.created_at == T0 and record.created_at.tzinfo is not None
    assert record.opened_at == T0  # a built exam opened when its result was made
    assert record.result.outcome is Outcome.UNGRADABLE
    assert record.model == MODEL and record.gate is None
    assert record.result.message == exam.result.message
    assert record.result.reasons == exam.result.reasons
    assert record.result.eye_scores == {Eye.RIGHT: 0.1, Eye.LEFT: None}
    assert record.result.threshold == 0.5
    # The fixture's Result predates operating points: it reads back as decided at the locked threshold.
    assert record.result.operating_point == OperatingPoint.locked(0.5)
    # The stored result carries the model's provenance and the not-validated notice with it.
    raw = sqlite3.connect(store.db_path)
    stored_result = json.loads(raw.execute("SELECT result_json FROM exams").fetchone()[0])
    raw.close()
    assert stored_result == {
        "outcome": "UNGRADABLE",
        "message": exam.result.message,
        "reasons": list(exam.result.reasons),
        "eye_scores": {"right": 0.1, "left": None},
        "threshold": 0.5,
        "operating_point": None,
        "model_name": MODEL.name,
        "model_version": MODEL.version,
        "model_sha256": MODEL.sha256,
        "model_runner": MODEL.runner,
        "not_validated": NOT_VALIDATED_NOTICE,
    }

    assert record.images == exam.images  # photos, quality verdicts and predictions, in order
    right, left = record.images
    assert (right.eye, left.eye) == (Eye.RIGHT, Eye.LEFT)
    assert (right.photo.photo_id, left.photo.photo_id) == (1, 2)
    assert right.photo.field is Field.MACULA and right.photo.source == "file" and right.photo.device == "test-cam"
    assert right.photo.captured_at == T0
    assert right.prediction is not None and right.prediction.score == pytest.approx(0.1) and right.quality.passed
    assert right.prediction.model == MODEL
    assert left.prediction is None and not left.quality.passed
    assert left.quality.reason_codes == ("blurred",)
    assert left.quality.operator_message == "Retake: the image is blurred."
    assert left.quality.metrics == {"focus": 3.5}
    for image in record.images:
        original = PHOTO_BYTES[image.sha256]
        assert image.sha256 == hashlib.sha256(original).hexdigest()
        assert store.image_bytes(image.sha256) == original
        path = stored_file(store, image.sha256)  # content-addressed: images/<sha[:2]>/<sha>.jpg
        assert path.read_bytes() == original and path.stat().st_size == len(original)


def test_patient_details_and_the_opening_time_round_trip(store: ExamStore) -> None:
    patient = Patient("P-002", birth_date=T0.date().replace(year=1961), sex=Sex.FEMALE)
    exam = dataclasses.replace(build_exam("exam-1"), patient=patient, opened_at=T0 - timedelta(minutes=7))
    save_exam(store, exam, actor="tech-1")
    record = store.get_exam("exam-1")
    assert record.patient == patient
    assert record.opened_at == T0 - timedelta(minutes=7) and record.created_at == T0
    session = store.get_session("exam-1")
    assert session.patient == patient and session.state is ExamState.FINISHED
    assert session.closed_by == "tech-1" and session.closed_at is not None


def test_list_exams_is_newest_first_and_limited(store: ExamStore) -> None:
    for i, minutes in enumerate([5, 1, 9, 3]):
        save_exam(store, build_exam(f"exam-{minutes}", seed=i, minutes=minutes), actor="tech-1")
    assert [r.exam_id for r in store.list_exams()] == ["exam-9", "exam-5", "exam-3", "exam-1"]
    assert [r.exam_id for r in store.list_exams(limit=2)] == ["exam-9", "exam-5"]
    assert all(len(r.images) == 2 for r in store.list_exams())
    with pytest.raises(ValueError):
        store.list_exams(limit=0)


def test_the_worklist_shows_open_finished_and_cancelled_exams_newest_first(store: ExamStore) -> None:
    save_exam(store, build_exam("done", seed=1), actor="tech-1")
    store.open_session(ExamSession(exam_id="open", patient=Patient("P-002"), operator="tech-2",
                                   opened_at=T0 + timedelta(minutes=2)), actor="tech-2")
    store.add_photo("open", screened(Eye.RIGHT, jpeg(50), 0.2).photo, jpeg(50), replaces=None, actor="tech-2")
    store.open_session(ExamSession(exam_id="stopped", patient=Patient("P-003"), operator="tech-1",
                                   opened_at=T0 + timedelta(minutes=1)), actor="tech-1")
    store.cancel_session("stopped", actor="tech-1", reason="patient left")

    lines = store.worklist()
    assert [(e.exam_id, e.state, e.photos, e.outcome) for e in lines] == [
        ("open", ExamState.OPEN, 1, None),
        ("stopped", ExamState.CANCELLED, 0, None),
        ("done", ExamState.FINISHED, 2, Outcome.REFER),
    ]
    assert lines[0].closed_at is None and lines[1].closed_at is not None
    assert [e.exam_id for e in store.worklist(states=(ExamState.OPEN, ExamState.CANCELLED))] == ["open", "stopped"]
    assert [e.exam_id for e in store.worklist(patient_id="P-001")] == ["done"]
    assert [e.exam_id for e in store.worklist(since=T0 + timedelta(minutes=1))] == ["open", "stopped"]
    assert [e.exam_id for e in store.worklist(limit=1)] == ["open"]
    with pytest.raises(ValueError):
        store.worklist(limit=0)
    assert [r.exam_id for r in store.list_exams()] == ["done"]  # only finished exams have a result


def test_timestamps_are_stored_as_utc_iso_8601(store: ExamStore) -> None:
    local = T0.astimezone(timezone(timedelta(hours=2)))  # 11:30 in the clinic's zone
    assert local.hour == 11
    save_exam(store, dataclasses.replace(build_exam("exam-1"), created_at=local), actor="tech-1")
    raw = sqlite3.connect(store.db_path)
    created, = raw.execute("SELECT created_at FROM exams").fetchone()
    opened, = raw.execute("SELECT opened_at FROM exam_sessions").fetchone()
    captured = {row[0] for row in raw.execute("SELECT captured_at FROM session_photos")}
    stamps = [row[0] for row in raw.execute("SELECT at FROM audit")]
    raw.close()
    assert created == opened == "2024-05-01T09:30:00.000000+00:00"
    assert captured == {"2024-05-01T09:30:00.000000+00:00"}
    assert len(stamps) == 4 and all(at.endswith("+00:00") for at in stamps)


def test_finishing_queues_one_outbox_item_per_destination_and_audits_each_step(store: ExamStore) -> None:
    exam = build_exam("exam-1")
    save_exam(store, exam, actor="tech-1")
    pending = store.pending_outbox()
    assert [(m.exam_id, m.kind, m.attempts) for m in pending] == [("exam-1", "dicom", 0), ("exam-1", "fhir", 0)]
    for message in pending:
        assert message.sent_at is None and message.last_error is None
        assert message.next_attempt_at == message.created_at
        assert message.payload["outcome"] == "REFER"
        assert message.payload["image_sha256"] == [image.sha256 for image in exam.images]

    entries = store.audit_entries("exam-1")
    assert [(e.action, e.actor, e.exam_id) for e in entries] == [
        ("exam_opened", "tech-1", "exam-1"), ("photo_taken", "tech-1", "exam-1"),
        ("photo_taken", "tech-1", "exam-1"), ("exam_created", "tech-1", "exam-1")]
    assert entries[1].detail == {"photo_id": 1, "eye": "right", "passed": True, "reason_codes": [],
                                 "replaces": None, "sha256": exam.images[0].sha256, "looks_like": None}
    assert entries[-1].detail == {"outcome": "REFER", "images": 2, "model_sha256": MODEL.sha256}


def test_unknown_exam_raises_exam_not_found(store: ExamStore) -> None:
    with pytest.raises(ExamNotFoundError) as caught:
        store.get_exam("no-such-exam")
    assert caught.value.reason_code == "exam_not_found"
    with pytest.raises(ExamNotFoundError):
        store.get_session("no-such-exam")
    with pytest.raises(ExamNotFoundError):
        store.add_photo("no-such-exam", screened(Eye.RIGHT, jpeg(1), 0.2).photo, jpeg(1), replaces=None,
                        actor="tech-1")


def test_an_open_exam_has_no_result_yet(store: ExamStore) -> None:
    store.open_session(ExamSession(exam_id="exam-1", patient=Patient("P-001"), operator="tech-1", opened_at=T0),
                       actor="tech-1")
    with pytest.raises(ExamNotFoundError):
        store.get_exam("exam-1")
    assert store.get_session("exam-1").state is ExamState.OPEN
    assert store.pending_outbox() == []


def test_saving_the_same_exam_id_twice_is_refused_and_keeps_the_first(store: ExamStore) -> None:
    save_exam(store, build_exam("exam-1", seed=1), actor="tech-1")
    with pytest.raises(StorageError) as caught:
        save_exam(store, build_exam("exam-1", seed=2), actor="tech-1")
    assert caught.value.reason_code == "exam_duplicate"
    with pytest.raises(ExamStateError):  # a second result for the same (finished) exam
        store.finish_exam(build_exam("exam-1", seed=2), actor="tech-1")
    assert store.get_exam("exam-1").images[0].sha256 == build_exam("x", seed=1).images[0].sha256
    assert len(store.get_session("exam-1").photos) == 2
    assert len(store.pending_outbox()) == 2  # one per destination, of the first exam only


def test_a_given_sha256_that_does_not_match_the_bytes_is_a_bug(store: ExamStore) -> None:
    exam = build_exam("exam-1")
    store.open_session(ExamSession(exam_id="exam-1", patient=exam.patient, operator="tech-1", opened_at=T0),
                       actor="tech-1")
    wrong = dataclasses.replace(exam.images[0].photo, sha256="0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        store.add_photo("exam-1", wrong, PHOTO_BYTES[exam.images[0].sha256], replaces=None, actor="tech-1")
    assert store.get_session("exam-1").photos == ()
    with pytest.raises(ExamNotFoundError):
        store.get_exam("exam-1")


def test_image_bytes_of_an_unknown_hash_is_a_key_error(store: ExamStore) -> None:
    with pytest.raises(KeyError):
        store.image_bytes("f" * 64)
    with pytest.raises(KeyError):
        store.image_bytes("../../etc/passwd")


def test_a_damaged_image_file_is_reported_not_returned(store: ExamStore) -> None:
    save_exam(store, build_exam("exam-1"), actor="tech-1")
    sha = store.get_exam("exam-1").images[0].sha256
    stored_file(store, sha).write_bytes(b"\xff\xd8\xff damaged")
    with pytest.raises(StorageError) as caught:
        store.image_bytes(sha)
    assert caught.value.reason_code == "image_corrupt"
    stored_file(store, sha).unlink()
    with pytest.raises(StorageError) as caught:
        store.image_bytes(sha)
    assert caught.value.reason_code == "image_corrupt"


def test_threads_sharing_one_store_all_get_their_exams_saved(store: ExamStore) -> None:
    def save(worker: int) -> None:
        for i in range(5):
            save_exam(store, build_exam(f"w{worker}-{i}", seed=worker * 10 + i, minutes=i), actor="tech-1")

    threads = [threading.Thread(target=save, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list_exams(limit=100)) == 20
    assert len(store.pending_outbox()) == 20 * 2  # the PACS and the EHR
    assert len(store.audit_entries()) == 20 * 4  # opened, two photos, result
    for exam in store.list_exams(limit=100):
        assert [e.action for e in store.audit_entries(exam.exam_id)] == [
            "exam_opened", "photo_taken", "photo_taken", "exam_created"]
    assert {e.state for e in store.worklist(limit=100)} == {ExamState.FINISHED}


def test_a_second_store_on_the_same_folder_sees_saved_exams(store: ExamStore) -> None:
    save_exam(store, build_exam("exam-1"), actor="tech-1")
    store.open_session(ExamSession(exam_id="exam-2", patient=Patient("P-002"), operator="tech-1", opened_at=T0),
                       actor="tech-1")
    with ExamStore.open(store.data_dir) as other:  # e.g. the sync worker's process
        assert other.get_exam("exam-1").result.outcome is Outcome.REFER
        assert other.get_session("exam-2").state is ExamState.OPEN

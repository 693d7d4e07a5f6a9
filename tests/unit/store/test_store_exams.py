"""Saving and reading exams back: round trip, listing, outbox and audit rows, not found."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import threading
from datetime import timedelta, timezone

import pytest
from store_fixtures import MODEL, T0, build_exam

from appliance.domain import NOT_VALIDATED_NOTICE, Eye, Field, Outcome
from appliance.errors import ExamNotFoundError, StorageError
from appliance.store import ExamStore


def test_save_then_get_round_trips_everything_needed_to_show_the_exam(store: ExamStore) -> None:
    exam = build_exam("exam-1", left_score=None)
    store.save_exam(exam, actor="tech-1")

    record = store.get_exam("exam-1")

    assert (record.exam_id, record.patient_id, record.operator) == ("exam-1", "P-001", "tech-1")
    assert record.created_at == T0 and record.created_at.tzinfo is not None
    assert record.outcome is Outcome.UNGRADABLE
    assert record.model == MODEL
    assert record.message == exam.result.message
    assert record.result == {
        "outcome": "UNGRADABLE",
        "message": exam.result.message,
        "reasons": list(exam.result.reasons),
        "eye_scores": {"right": 0.1, "left": None},
        "threshold": 0.5,
        "operating_point": None,  # the fixture's Result predates operating points
        "model_name": MODEL.name,
        "model_version": MODEL.version,
        "model_sha256": MODEL.sha256,
        "model_runner": MODEL.runner,
        "not_validated": NOT_VALIDATED_NOTICE,
    }
    right, left = record.images
    assert (right.position, right.eye, left.eye) == (0, Eye.RIGHT, Eye.LEFT)
    assert right.field is Field.MACULA and right.source == "file" and right.device == "test-cam"
    assert right.captured_at == T0
    assert right.score == pytest.approx(0.1) and right.quality_passed
    assert left.score is None and not left.quality_passed
    assert left.quality == {
        "passed": False, "reason_codes": ["blurred"],
        "operator_message": "Retake: the image is blurred.", "metrics": {"focus": 3.5},
    }
    for image, original in zip(record.images, exam.images, strict=True):
        assert image.path.is_absolute()
        assert image.path.read_bytes() == original.capture.image
        assert image.sha256 == hashlib.sha256(original.capture.image).hexdigest() == original.sha256
        assert image.byte_size == len(original.capture.image)
        assert image.path.name == f"{image.sha256}.jpg"
        assert image.path.parent.name == image.sha256[:2]
        assert store.image_bytes(image.sha256) == original.capture.image


def test_list_exams_is_newest_first_and_limited(store: ExamStore) -> None:
    for i, minutes in enumerate([5, 1, 9, 3]):
        store.save_exam(build_exam(f"exam-{minutes}", seed=i, minutes=minutes), actor="tech-1")
    assert [r.exam_id for r in store.list_exams()] == ["exam-9", "exam-5", "exam-3", "exam-1"]
    assert [r.exam_id for r in store.list_exams(limit=2)] == ["exam-9", "exam-5"]
    assert all(len(r.images) == 2 for r in store.list_exams())
    with pytest.raises(ValueError):
        store.list_exams(limit=0)


def test_timestamps_are_stored_as_utc_iso_8601(store: ExamStore) -> None:
    local = T0.astimezone(timezone(timedelta(hours=2)))  # 11:30 in the clinic's zone
    assert local.hour == 11
    store.save_exam(dataclasses.replace(build_exam("exam-1"), created_at=local), actor="tech-1")
    raw = sqlite3.connect(store.db_path)
    created, = raw.execute("SELECT created_at FROM exams").fetchone()
    at, = raw.execute("SELECT at FROM audit").fetchone()
    raw.close()
    assert created == "2024-05-01T09:30:00.000000+00:00"
    assert at.endswith("+00:00")


def test_save_queues_one_outbox_message_and_one_audit_entry(store: ExamStore) -> None:
    store.save_exam(build_exam("exam-1"), actor="tech-1")
    pending = store.pending_outbox()
    assert len(pending) == 1
    message = pending[0]
    assert (message.exam_id, message.kind, message.attempts) == ("exam-1", "exam_result", 0)
    assert message.sent_at is None and message.last_error is None
    assert message.next_attempt_at == message.created_at
    assert message.payload["outcome"] == "REFER" and len(message.payload["image_sha256"]) == 2

    entries = store.audit_entries("exam-1")
    assert [(e.action, e.actor, e.exam_id) for e in entries] == [("exam_created", "tech-1", "exam-1")]
    assert entries[0].detail == {"outcome": "REFER", "images": 2, "model_sha256": MODEL.sha256}


def test_unknown_exam_raises_exam_not_found(store: ExamStore) -> None:
    with pytest.raises(ExamNotFoundError) as caught:
        store.get_exam("no-such-exam")
    assert caught.value.reason_code == "exam_not_found"


def test_saving_the_same_exam_id_twice_is_refused_and_keeps_the_first(store: ExamStore) -> None:
    store.save_exam(build_exam("exam-1", seed=1), actor="tech-1")
    with pytest.raises(StorageError) as caught:
        store.save_exam(build_exam("exam-1", seed=2), actor="tech-1")
    assert caught.value.reason_code == "exam_duplicate"
    assert store.get_exam("exam-1").images[0].sha256 == build_exam("x", seed=1).images[0].sha256
    assert len(store.pending_outbox()) == 1


def test_a_given_sha256_that_does_not_match_the_bytes_is_a_bug(store: ExamStore) -> None:
    exam = build_exam("exam-1")
    wrong = dataclasses.replace(exam.images[0], sha256="0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        store.save_exam(dataclasses.replace(exam, images=(wrong, exam.images[1])), actor="tech-1")
    with pytest.raises(ExamNotFoundError):
        store.get_exam("exam-1")


def test_image_bytes_of_an_unknown_hash_is_a_key_error(store: ExamStore) -> None:
    with pytest.raises(KeyError):
        store.image_bytes("f" * 64)
    with pytest.raises(KeyError):
        store.image_bytes("../../etc/passwd")


def test_a_damaged_image_file_is_reported_not_returned(store: ExamStore) -> None:
    store.save_exam(build_exam("exam-1"), actor="tech-1")
    image = store.get_exam("exam-1").images[0]
    image.path.write_bytes(b"\xff\xd8\xff damaged")
    with pytest.raises(StorageError) as caught:
        store.image_bytes(image.sha256)
    assert caught.value.reason_code == "image_corrupt"


def test_threads_sharing_one_store_all_get_their_exams_saved(store: ExamStore) -> None:
    def save(worker: int) -> None:
        for i in range(5):
            store.save_exam(build_exam(f"w{worker}-{i}", seed=worker * 10 + i, minutes=i), actor="tech-1")

    threads = [threading.Thread(target=save, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list_exams(limit=100)) == 20
    assert len(store.pending_outbox()) == 20
    assert len(store.audit_entries()) == 20


def test_a_second_store_on_the_same_folder_sees_saved_exams(store: ExamStore) -> None:
    store.save_exam(build_exam("exam-1"), actor="tech-1")
    with ExamStore.open(store.data_dir) as other:  # e.g. the sync worker's process
        assert other.get_exam("exam-1").outcome is Outcome.REFER

"""Opening the store: pragmas really set, schema created once and versioned, folders made."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.errors import StorageError
from appliance.store import ExamStore
from appliance.store.schema import SCHEMA_VERSION


def test_connection_pragmas_are_set(store: ExamStore) -> None:
    pragmas = store.pragmas()
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["synchronous"] == 2  # FULL
    assert pragmas["foreign_keys"] == 1
    assert pragmas["busy_timeout"] >= 1000
    assert pragmas["user_version"] == SCHEMA_VERSION == 4


def test_wal_and_schema_version_persist_in_the_file(store: ExamStore) -> None:
    raw = sqlite3.connect(store.db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        triggers = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    finally:
        raw.close()
    assert {"exams", "images", "audit", "outbox", "operating_points", "exam_sessions", "session_photos",
            "exam_reports", "users", "sign_ins", "exam_uids", "exam_orders", "photo_purges"} <= tables
    assert triggers == {"audit_no_update", "audit_no_delete", "operating_points_no_update",
                        "operating_points_no_delete"}


def test_open_creates_folders_and_is_idempotent(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b"
    with ExamStore.open(data) as first:
        first.record_audit("model_loaded", actor="system")
    assert (data / "images").is_dir()
    with ExamStore.open(data) as second:  # schema already there: nothing recreated, nothing lost
        assert [e.action for e in second.audit_entries()] == ["model_loaded"]
        assert second.pragmas()["user_version"] == SCHEMA_VERSION


def test_schema_from_newer_firmware_is_refused(tmp_path: Path) -> None:
    ExamStore.open(tmp_path).close()
    raw = sqlite3.connect(tmp_path / "exams.sqlite3")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StorageError) as caught:
        ExamStore.open(tmp_path)
    assert caught.value.reason_code == "store_schema_too_new"


def test_a_file_that_is_not_a_database_gives_an_operator_sentence(tmp_path: Path) -> None:
    (tmp_path / "exams.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError) as caught:
        ExamStore.open(tmp_path)
    assert "call support" in caught.value.message.lower()
    assert caught.value.reason_code == "storage_failed"


def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    from appliance.store.schema import MIGRATIONS

    raw = sqlite3.connect(tmp_path / "exams.sqlite3")
    for statement in MIGRATIONS[1]:
        raw.execute(statement)
    raw.execute("INSERT INTO audit (at, actor, action, detail_json) VALUES ('2024-01-01T00:00:00+00:00', 'a', "
                "'model_loaded', '{}')")
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()
    with ExamStore.open(tmp_path) as store:
        assert store.pragmas()["user_version"] == SCHEMA_VERSION
        assert store.worklist() == []
        assert [e.action for e in store.audit_entries()] == ["model_loaded"]
        assert store.site_operating_point() is None


def test_a_version_2_store_with_an_exam_is_migrated_and_the_exam_reads_back(tmp_path: Path) -> None:
    from store_fixtures import T0, build_exam, jpeg, save_exam

    from appliance.domain import ExamState, Eye, OperatingPoint, Outcome, Patient, Sex
    from appliance.summary import exam_summary, worklist_dict
    from tests.old_stores import make_old_store

    # An exam as firmware with schema version 2 saved it: no session, no patient details, no gate.
    right, left = jpeg(901), jpeg(902)
    make_old_store(tmp_path, version=2, photos=(right, left))

    with ExamStore.open(tmp_path) as store:
        assert store.pragmas()["user_version"] == SCHEMA_VERSION
        exam = store.get_exam("old-1")
        assert exam.patient == Patient("P-old", birth_date=None, sex=Sex.UNKNOWN)
        assert exam.created_at == T0 and exam.operator == "tech-9" and exam.gate is None
        assert exam.result.outcome is Outcome.NO_REFER
        assert exam.result.operating_point == OperatingPoint.locked(0.5)  # decided before operating points
        assert [(i.eye, i.photo.photo_id, i.prediction and i.prediction.score) for i in exam.images] == [
            (Eye.RIGHT, 1, 0.1), (Eye.LEFT, 2, 0.2)]
        assert [store.image_bytes(i.sha256) for i in exam.images] == [right, left]
        assert exam_summary(exam)["opened_at"] == T0.isoformat()

        # The migration gave it a finished session, so the worklist shows it.
        session = store.get_session("old-1")
        assert session.state is ExamState.FINISHED and session.patient_id == "P-old"
        assert [(p.photo_id, p.eye, p.sha256) for p in session.photos] == [
            (i.photo.photo_id, i.eye, i.sha256) for i in exam.images]
        assert [p.quality for p in session.photos] == [i.quality for i in exam.images]
        assert session.opened_at == session.closed_at == T0 and session.closed_by == "tech-9"
        [line] = store.worklist()
        assert (line.exam_id, line.state, line.outcome, line.operator) == (
            "old-1", ExamState.FINISHED, Outcome.NO_REFER, "tech-9")
        assert worklist_dict(line)["photos"] == line.photos == 2
        assert [e.action for e in store.audit_entries("old-1")] == ["exam_created"]
        # Its pending version-3 'exam_result' message became one item per destination (version 4), and it
        # gets its DICOM UIDs once, when first asked.
        assert [(m.exam_id, m.kind, m.attempts) for m in store.pending_outbox()] == [
            ("old-1", "dicom", 0), ("old-1", "fhir", 0)]
        assert [line.sync_state for line in store.worklist()] == ["pending"]
        uids = store.study_uids("old-1")
        assert sorted(uids.photos) == [1, 2] and store.study_uids("old-1") == uids

        # New exams are stored beside it as usual.
        save_exam(store, build_exam("new-1", minutes=5), actor="tech-1")
        assert [e.exam_id for e in store.worklist()] == ["new-1", "old-1"]
        assert [e.exam_id for e in store.list_exams()] == ["new-1", "old-1"]

"""The audit log: entries recorded durably, filtered by exam, and impossible to change or delete."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from store_fixtures import build_exam, save_exam

from appliance.store import ExamStore


def test_record_audit_and_read_back_in_order(store: ExamStore) -> None:
    store.record_audit("model_loaded", actor="system", detail={"model_sha256": "ab" * 32})
    save_exam(store, build_exam("exam-1"), actor="tech-1")
    store.record_audit("result_shown", actor="tech-1", exam_id="exam-1")
    # A rejected exam is never saved, yet its rejection is audited under its id.
    store.record_audit("exam_rejected", actor="tech-2", exam_id="exam-x", detail={"reason": "blurred"})

    everything = store.audit_entries()
    exam_steps = ["exam_opened", "photo_taken", "photo_taken", "exam_created"]
    assert [e.action for e in everything] == ["model_loaded", *exam_steps, "result_shown", "exam_rejected"]
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert everything[0].detail == {"model_sha256": "ab" * 32} and everything[0].exam_id is None
    assert [e.action for e in store.audit_entries("exam-1")] == [*exam_steps, "result_shown"]
    assert store.audit_entries("exam-x")[0].detail == {"reason": "blurred"}
    assert all(e.at.utcoffset() == timedelta(0) for e in everything)


@pytest.mark.parametrize("statement", ["UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"])
def test_the_audit_log_cannot_be_changed_or_deleted(store: ExamStore, statement: str) -> None:
    store.record_audit("model_loaded", actor="system")
    raw = sqlite3.connect(store.db_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
        raw.rollback()
    finally:
        raw.close()
    assert [(e.action, e.actor) for e in store.audit_entries()] == [("model_loaded", "system")]


def test_bad_audit_entries_are_refused(store: ExamStore) -> None:
    with pytest.raises(ValueError):
        store.record_audit("", actor="system")
    with pytest.raises(ValueError):
        store.record_audit("model_loaded", actor="")
    with pytest.raises(ValueError, match="JSON"):
        store.record_audit("model_loaded", actor="system", detail={"not json": {1, 2}})
    assert store.audit_entries() == []

"""Failures: disk full, permissions, a transaction failing half-way. Nothing half-saved, ever: a photo that
could not be stored leaves the exam open with its earlier photos, a result that could not be stored leaves
no row of it and the exam open, so the technician can retry."""

from __future__ import annotations

import dataclasses
import errno
import os
import sqlite3
from typing import Any

import pytest
from store_fixtures import PHOTO_BYTES, T0, build_exam, files_under, save_exam

import appliance.store.exams
import appliance.store.outbox
from appliance.domain import Exam, ExamSession, ExamState
from appliance.errors import ExamNotFoundError, StorageError
from appliance.store import ExamStore
from appliance.store.files import is_temp_name

SENTENCE = (
    "The appliance could not save the exam: storage is full or failing. Nothing was saved; call support."
)
PHOTO_SENTENCE = (
    "The appliance could not save the photo: storage is full or failing. The exam's earlier photos are kept;"
    " call support."
)


def _count(store: ExamStore, table: str) -> int:
    raw = sqlite3.connect(store.db_path)
    try:
        return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        raw.close()


def _open(store: ExamStore, exam: Exam, photos: int = 0) -> None:
    """Open the exam's session and store its first `photos` photos."""
    store.open_session(ExamSession(exam_id=exam.exam_id, patient=exam.patient, operator="tech-1", opened_at=T0),
                       actor="tech-1")
    for image in exam.images[:photos]:
        store.add_photo(exam.exam_id, image.photo, PHOTO_BYTES[image.sha256], replaces=None, actor="tech-1")


def _assert_no_result(store: ExamStore, exam_id: str, *, photos: int) -> None:
    """The exam is open with its first `photos` photos, and no row of a result exists."""
    with pytest.raises(ExamNotFoundError):
        store.get_exam(exam_id)
    for table in ("exams", "images", "outbox"):
        assert _count(store, table) == 0, table
    session = store.get_session(exam_id)
    assert session.state is ExamState.OPEN and session.closed_at is None
    assert [p.photo_id for p in session.photos] == list(range(1, photos + 1))
    assert _count(store, "session_photos") == photos
    assert [e.action for e in store.audit_entries()] == ["exam_opened"] + ["photo_taken"] * photos
    assert not [p for p in files_under(store.data_dir / "images") if is_temp_name(p.name)]


def test_disk_full_while_writing_a_photo(store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    exam = build_exam("exam-1")
    _open(store, exam)
    real_write = os.write

    def write_then_fill_the_disk(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[:100]))  # part of the image reaches the temp file first
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write_then_fill_the_disk)
    first = exam.images[0]
    with pytest.raises(StorageError) as caught:
        store.add_photo("exam-1", first.photo, PHOTO_BYTES[first.sha256], replaces=None, actor="tech-1")
    monkeypatch.undo()

    assert caught.value.message == PHOTO_SENTENCE
    assert caught.value.reason_code == "storage_failed"
    assert "No space left" in caught.value.detail
    _assert_no_result(store, "exam-1", photos=0)
    assert files_under(store.data_dir / "images") == []
    # Space freed: the same photo is stored on a retry and the exam goes on.
    store.add_photo("exam-1", first.photo, PHOTO_BYTES[first.sha256], replaces=None, actor="tech-1")
    assert [p.sha256 for p in store.get_session("exam-1").photos] == [first.sha256]


def test_a_failing_photo_keeps_the_earlier_photos(store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    exam = build_exam("exam-1")
    _open(store, exam, photos=1)

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    second = exam.images[1]
    with pytest.raises(StorageError) as caught:
        store.add_photo("exam-1", second.photo, PHOTO_BYTES[second.sha256], replaces=None, actor="tech-1")
    monkeypatch.undo()
    assert caught.value.message == PHOTO_SENTENCE
    _assert_no_result(store, "exam-1", photos=1)
    assert store.image_bytes(exam.images[0].sha256) == PHOTO_BYTES[exam.images[0].sha256]


def test_permission_denied_creating_the_image_file(store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    exam = build_exam("exam-1")
    _open(store, exam)
    real_open = os.open

    def deny_temp_files(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if is_temp_name(os.path.basename(path)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny_temp_files)
    first = exam.images[0]
    with pytest.raises(StorageError) as caught:
        store.add_photo("exam-1", first.photo, PHOTO_BYTES[first.sha256], replaces=None, actor="tech-1")
    monkeypatch.undo()
    assert caught.value.message == PHOTO_SENTENCE
    _assert_no_result(store, "exam-1", photos=0)


def test_rename_failing_leaves_no_temp_file(store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    exam = build_exam("exam-1")
    _open(store, exam)

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    first = exam.images[0]
    with pytest.raises(StorageError):
        store.add_photo("exam-1", first.photo, PHOTO_BYTES[first.sha256], replaces=None, actor="tech-1")
    monkeypatch.undo()
    _assert_no_result(store, "exam-1", photos=0)
    assert files_under(store.data_dir / "images") == []


def test_failure_after_the_exam_row_rolls_the_whole_result_back(
    store: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    exam = build_exam("exam-1")
    _open(store, exam, photos=2)
    seen_inside: list[tuple[int, str]] = []

    def fail_after_exam_row(conn: sqlite3.Connection, *args: Any) -> None:
        seen_inside.append((conn.execute("SELECT count(*) FROM exams").fetchone()[0],
                            conn.execute("SELECT state FROM exam_sessions").fetchone()[0]))
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(appliance.store.exams, "insert_images", fail_after_exam_row)
    with pytest.raises(StorageError) as caught:
        store.finish_exam(exam, actor="tech-1")
    monkeypatch.undo()

    assert seen_inside == [(1, "finished")]  # the exam row and the closed session existed inside...
    assert caught.value.message == SENTENCE
    _assert_no_result(store, "exam-1", photos=2)  # ...and are gone: the exam is open, its photos kept
    # A retry finishes it.
    store.finish_exam(exam, actor="tech-1")
    assert len(store.get_exam("exam-1").images) == 2
    assert store.get_session("exam-1").state is ExamState.FINISHED
    assert _count(store, "outbox") == 2  # one item per destination


def test_a_bug_inside_the_transaction_rolls_back_and_propagates(
    store: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    exam = build_exam("exam-1")
    _open(store, exam, photos=2)

    def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in the outbox")

    monkeypatch.setattr(appliance.store.outbox, "enqueue", bug)
    with pytest.raises(RuntimeError, match="bug in the outbox"):
        store.finish_exam(exam, actor="tech-1")
    monkeypatch.undo()
    _assert_no_result(store, "exam-1", photos=2)


def test_database_full_at_finish_time(store: ExamStore) -> None:
    # A real SQLITE_FULL: cap the database at its current size, and make the result need new
    # (overflow) pages by giving it a 64 KiB reason.
    exam = build_exam("exam-1")
    _open(store, exam, photos=2)
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = dataclasses.replace(exam, result=dataclasses.replace(exam.result, reasons=("x" * 65536,)))
    with pytest.raises(StorageError) as caught:
        store.finish_exam(big, actor="tech-1")
    assert caught.value.message == SENTENCE
    assert "full" in caught.value.detail
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    _assert_no_result(store, "exam-1", photos=2)


def test_database_full_when_opening_an_exam_saves_nothing(store: ExamStore) -> None:
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    session = ExamSession(exam_id="exam-1", patient=dataclasses.replace(build_exam("x").patient,
                                                                        patient_id="P" * 65536),
                          operator="tech-1", opened_at=T0)
    with pytest.raises(StorageError) as caught:
        store.open_session(session, actor="tech-1")
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    assert caught.value.message == SENTENCE and "full" in caught.value.detail
    with pytest.raises(ExamNotFoundError):
        store.get_session("exam-1")
    assert _count(store, "exam_sessions") == 0 and store.audit_entries() == []


def test_a_closed_store_reports_a_storage_error(store: ExamStore) -> None:
    store.close()
    with pytest.raises(StorageError):
        store.get_exam("exam-1")
    with pytest.raises(StorageError):
        store.get_session("exam-1")
    with pytest.raises(StorageError):
        save_exam(store, build_exam("exam-1"), actor="tech-1")
    store.close()  # twice is fine

"""Failures: disk full, permissions, a transaction failing half-way. Nothing half-saved, ever."""

from __future__ import annotations

import dataclasses
import errno
import os
import sqlite3
from typing import Any

import pytest
from store_fixtures import build_exam, files_under

import appliance.store.exams
import appliance.store.outbox
from appliance.errors import ExamNotFoundError, StorageError
from appliance.store import ExamStore
from appliance.store.files import is_temp_name

SENTENCE = (
    "The appliance could not save the exam: storage is full or failing. Nothing was saved; call support."
)


def _count(store: ExamStore, table: str) -> int:
    raw = sqlite3.connect(store.db_path)
    try:
        return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        raw.close()


def _assert_nothing_saved(store: ExamStore, exam_id: str) -> None:
    with pytest.raises(ExamNotFoundError):
        store.get_exam(exam_id)
    for table in ("exams", "images", "outbox", "audit"):
        assert _count(store, table) == 0, table
    assert not [p for p in files_under(store.data_dir / "images") if is_temp_name(p.name)]


def test_disk_full_while_writing_an_image(store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def write_then_fill_the_disk(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[:100]))  # part of the image reaches the temp file first
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write_then_fill_the_disk)
    with pytest.raises(StorageError) as caught:
        store.save_exam(build_exam("exam-1"), actor="tech-1")
    monkeypatch.undo()

    assert caught.value.message == SENTENCE
    assert caught.value.reason_code == "storage_failed"
    assert "No space left" in caught.value.detail
    _assert_nothing_saved(store, "exam-1")
    assert files_under(store.data_dir / "images") == []


def test_permission_denied_creating_the_image_file(store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def deny_temp_files(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if is_temp_name(os.path.basename(path)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny_temp_files)
    with pytest.raises(StorageError) as caught:
        store.save_exam(build_exam("exam-1"), actor="tech-1")
    monkeypatch.undo()
    assert caught.value.message == SENTENCE
    _assert_nothing_saved(store, "exam-1")


def test_rename_failing_leaves_no_temp_file(store: ExamStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError):
        store.save_exam(build_exam("exam-1"), actor="tech-1")
    monkeypatch.undo()
    _assert_nothing_saved(store, "exam-1")
    assert files_under(store.data_dir / "images") == []


def test_failure_after_the_exam_row_rolls_the_whole_exam_back(
    store: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_inside: list[int] = []

    def fail_after_exam_row(conn: sqlite3.Connection, *args: Any) -> None:
        seen_inside.append(conn.execute("SELECT count(*) FROM exams").fetchone()[0])
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(appliance.store.exams, "insert_images", fail_after_exam_row)
    with pytest.raises(StorageError) as caught:
        store.save_exam(build_exam("exam-1"), actor="tech-1")
    monkeypatch.undo()

    assert seen_inside == [1]  # the exam row existed inside the transaction...
    assert caught.value.message == SENTENCE
    _assert_nothing_saved(store, "exam-1")  # ...and is gone with everything else
    # Orphan image files may stay (content-addressed, harmless); a retry reuses them and succeeds.
    store.save_exam(build_exam("exam-1"), actor="tech-1")
    assert len(store.get_exam("exam-1").images) == 2
    assert _count(store, "outbox") == 1


def test_a_bug_inside_the_transaction_rolls_back_and_propagates(
    store: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in the outbox")

    monkeypatch.setattr(appliance.store.outbox, "enqueue", bug)
    with pytest.raises(RuntimeError, match="bug in the outbox"):
        store.save_exam(build_exam("exam-1"), actor="tech-1")
    monkeypatch.undo()
    _assert_nothing_saved(store, "exam-1")


def test_database_full_at_insert_time(store: ExamStore) -> None:
    # A real SQLITE_FULL: cap the database at its current size, and make the exam row need new
    # (overflow) pages by giving it a 64 KiB patient id.
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = dataclasses.replace(build_exam("exam-1"), patient_id="P" * 65536)
    with pytest.raises(StorageError) as caught:
        store.save_exam(big, actor="tech-1")
    assert caught.value.message == SENTENCE
    assert "full" in caught.value.detail
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    _assert_nothing_saved(store, "exam-1")


def test_a_closed_store_reports_a_storage_error(store: ExamStore) -> None:
    store.close()
    with pytest.raises(StorageError):
        store.get_exam("exam-1")
    with pytest.raises(StorageError):
        store.save_exam(build_exam("exam-1"), actor="tech-1")
    store.close()  # twice is fine

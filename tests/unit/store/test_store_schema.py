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
    assert pragmas["user_version"] == SCHEMA_VERSION == 2


def test_wal_and_schema_version_persist_in_the_file(store: ExamStore) -> None:
    raw = sqlite3.connect(store.db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        triggers = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    finally:
        raw.close()
    assert {"exams", "images", "audit", "outbox", "operating_points"} <= tables
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
        assert store.pragmas()["user_version"] == 2
        assert [e.action for e in store.audit_entries()] == ["model_loaded"]
        assert store.site_operating_point() is None

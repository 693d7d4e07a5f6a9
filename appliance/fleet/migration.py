"""Keeping the exam store safe across a firmware whose store schema is newer.

Schema migrations are forward-only and run when the new firmware first opens the store. So before the
switch the update (1) lets the new firmware migrate a copy of the store and checks the copy's integrity,
and (2) keeps a snapshot of the store as it is. If the new version is rolled back, the snapshot is put back
(the older firmware cannot read the newer schema) and the migrated store is kept beside it for support.
Copies are made with SQLite's backup API, so they are consistent while the kiosk writes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from appliance.fleet.errors import UpdateError
from appliance.store.files import ensure_dir, fsync_dir, fsync_file
from appliance.store.store import DB_NAME

UPDATE_DIR = "update"
_SIDE_FILES = ("-wal", "-shm")


def copy_store(data_dir: Path, target: Path) -> Path:
    """A consistent copy of the store's database at `target` (a file), fsynced.

    Raises:
        UpdateError: the copy cannot be made (disk full, unreadable store).
    """
    try:
        ensure_dir(target.parent)
        target.unlink(missing_ok=True)
        source = sqlite3.connect(str(data_dir / DB_NAME))
        try:
            copy = sqlite3.connect(str(target))
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        fsync_file(target)
        fsync_dir(target.parent)
    except (OSError, sqlite3.Error) as exc:
        raise UpdateError(f"The exam store could not be copied before the update ({exc}); nothing was switched.",
                          reason_code="update_store_copy_failed", detail=str(exc)) from exc
    return target


def check_folder(data_dir: Path) -> Path:
    """The folder the new firmware migrates a copy of the store in."""
    return data_dir / UPDATE_DIR / "migration-check"


def snapshot_path(data_dir: Path, version: str) -> Path:
    return data_dir / UPDATE_DIR / f"store-before-{version}.sqlite3"


def integrity(path: Path) -> str:
    """SQLite's integrity_check of a database file ("ok" when sound)."""
    conn = sqlite3.connect(str(path))
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def schema_of(path: Path) -> int:
    conn = sqlite3.connect(str(path))
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def restore(data_dir: Path, snapshot: Path) -> Path:
    """Put `snapshot` back as the store; the current database (and its WAL) is moved aside and its path
    returned.

    Raises:
        UpdateError: the files cannot be moved or copied.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    aside = data_dir / UPDATE_DIR / f"store-migrated-{stamp}.sqlite3"
    live = data_dir / DB_NAME
    try:
        ensure_dir(aside.parent)
        for suffix in ("", *_SIDE_FILES):
            if Path(f"{live}{suffix}").exists():
                os.replace(f"{live}{suffix}", f"{aside}{suffix}")
        temp = data_dir / f".{DB_NAME}.restoring"
        shutil.copyfile(snapshot, temp)
        fsync_file(temp)
        os.replace(temp, live)
        fsync_dir(data_dir)
    except OSError as exc:
        raise UpdateError(f"The exam store could not be put back from {snapshot} ({exc.strerror}): call support.",
                          reason_code="update_store_restore_failed", detail=str(exc)) from exc
    return aside

"""Removing local photos after the archive has them: only photos the PACS confirmed (the exam's 'dicom'
item sent), only once the retention has passed, and only a file no other unpurged exam still uses.

Retaken photos of an exam were never sent, so they are never purged here. The purge is recorded and
audited in one transaction first and the files removed after: a crash in between leaves a file behind,
never a row that points at a missing file without saying so.
"""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from appliance.domain import utc_now
from appliance.store import audit
from appliance.store.codec import to_iso
from appliance.store.db import transaction
from appliance.store.files import ImageFiles


@dataclass(frozen=True)
class PurgeReport:
    exams: int
    files: int
    bytes: int


def purge_confirmed(conn: sqlite3.Connection, files: ImageFiles, *, confirmed_before: datetime, actor: str,
                    limit: int) -> PurgeReport:
    """Purge the photos of up to `limit` exams whose 'dicom' item was confirmed before `confirmed_before`."""
    total_files = total_bytes = 0
    exam_ids = [row[0] for row in conn.execute(
        "SELECT o.exam_id FROM outbox o WHERE o.kind = 'dicom' AND o.sent_at IS NOT NULL AND o.sent_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM photo_purges p WHERE p.exam_id = o.exam_id) ORDER BY o.sent_at LIMIT ?",
        (to_iso(confirmed_before), limit)).fetchall()]
    for exam_id in exam_ids:
        with transaction(conn):
            now = utc_now()
            rows = conn.execute("SELECT DISTINCT sha256, path, byte_size FROM images WHERE exam_id = ?",
                                (exam_id,)).fetchall()
            conn.execute("INSERT INTO photo_purges (exam_id, purged_at, files, bytes) VALUES (?, ?, 0, 0)",
                         (exam_id, to_iso(now)))
            doomed = [row for row in rows if not _still_used(conn, row["sha256"])]
            size = sum(int(row["byte_size"]) for row in doomed)
            conn.execute("UPDATE photo_purges SET files = ?, bytes = ? WHERE exam_id = ?", (len(doomed), size, exam_id))
            audit.append(conn, at=now, actor=actor, action="photos_purged", exam_id=exam_id,
                         detail={"files": len(doomed), "bytes": size, "confirmed_before": to_iso(confirmed_before)})
        for row in doomed:
            with suppress(FileNotFoundError):
                (files.data_dir / row["path"]).unlink()
        total_files += len(doomed)
        total_bytes += size
    return PurgeReport(exams=len(exam_ids), files=total_files, bytes=total_bytes)


def is_purged(conn: sqlite3.Connection, sha256: str) -> bool:
    """Whether a photo with this hash was removed by a purge (and no exam stored it again since)."""
    return conn.execute(
        "SELECT 1 FROM images i JOIN photo_purges p ON p.exam_id = i.exam_id WHERE i.sha256 = ? LIMIT 1",
        (sha256,)).fetchone() is not None


def _still_used(conn: sqlite3.Connection, sha256: str) -> bool:
    """A session photo with this hash that is not a sent photo of a purged exam (another exam's, a retake,
    an open exam's) still needs the file."""
    return conn.execute(
        "SELECT 1 FROM session_photos sp WHERE sp.sha256 = ? AND NOT EXISTS ("
        " SELECT 1 FROM images i JOIN photo_purges p ON p.exam_id = i.exam_id"
        " WHERE i.exam_id = sp.exam_id AND i.sha256 = sp.sha256) LIMIT 1", (sha256,)).fetchone() is not None

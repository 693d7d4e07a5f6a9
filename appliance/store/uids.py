"""Each finished exam's DICOM UIDs, made once in the exam's own transaction and read back for every send:
they are the PACS's idempotency keys (a resend carries the same SOP Instance UIDs)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from appliance.store.codec import to_iso
from appliance.sync.identity import StudyUids


def insert(conn: sqlite3.Connection, exam_id: str, uids: StudyUids, *, at: datetime) -> None:
    """Store the exam's UIDs; an exam that already has them keeps its own (INSERT OR IGNORE)."""
    conn.execute(
        "INSERT OR IGNORE INTO exam_uids (exam_id, study_uid, op_series_uid, sr_series_uid, pdf_series_uid,"
        " sr_instance_uid, pdf_instance_uid, photo_uids_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (exam_id, uids.study, uids.op_series, uids.sr_series, uids.pdf_series, uids.sr_instance,
         uids.pdf_instance, json.dumps({str(k): v for k, v in sorted(uids.photos.items())}), to_iso(at)),
    )


def fetch(conn: sqlite3.Connection, exam_id: str) -> StudyUids | None:
    row = conn.execute("SELECT * FROM exam_uids WHERE exam_id = ?", (exam_id,)).fetchone()
    if row is None:
        return None
    photos = json.loads(row["photo_uids_json"])
    return StudyUids(study=row["study_uid"], op_series=row["op_series_uid"], sr_series=row["sr_series_uid"],
                     pdf_series=row["pdf_series_uid"], sr_instance=row["sr_instance_uid"],
                     pdf_instance=row["pdf_instance_uid"], photos={int(k): str(v) for k, v in photos.items()})

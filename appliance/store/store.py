"""ExamStore: the one door to the appliance's disk (exams, images, audit log, outbox)."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from appliance.domain import Exam, SiteOperatingPoint, utc_now
from appliance.errors import ExamNotFoundError, StorageError
from appliance.store import audit, exams, operating_points, outbox
from appliance.store.db import SchemaTooNewError, connect, transaction
from appliance.store.files import IMAGES_DIR, CorruptFileError, ImageFiles, StoredFile, ensure_dir
from appliance.store.records import AuditEntry, ExamRecord, OutboxEntry

log = logging.getLogger(__name__)

DB_NAME = "exams.sqlite3"
SAVE_FAILED = (
    "The appliance could not save the exam: storage is full or failing. Nothing was saved; call support."
)
OPEN_FAILED = "The appliance could not open its exam store: storage is missing or failing. Call support."
READ_FAILED = "The appliance could not read its exam store: storage is failing. Call support."
AUDIT_FAILED = "The appliance could not write its audit log: storage is full or failing. Call support."
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ExamStore:
    """Exams in SQLite (WAL, synchronous=FULL, foreign keys) and their images as files.

    One store may be shared by the threads of a process (calls are serialised by a lock) and opened
    by several processes at once (SQLite's locking, busy timeout 5 s). Use `ExamStore.open()`.
    """

    def __init__(self, data_dir: Path, conn: sqlite3.Connection, files: ImageFiles) -> None:
        self.data_dir = data_dir
        self.db_path = data_dir / DB_NAME
        self._conn = conn
        self._files = files
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path) -> ExamStore:
        """Open the store in `data_dir`, creating folders and schema; remove temp files of dead writers.

        Raises:
            StorageError: the folder or database cannot be opened, or was written by newer firmware.
        """
        data_dir = Path(data_dir).absolute()
        try:
            ensure_dir(data_dir / IMAGES_DIR)
            files = ImageFiles(data_dir)
            for path in files.remove_stale_temp_files():
                log.warning("removed temp file of an interrupted image write: %s", path)
            conn = connect(data_dir / DB_NAME)
        except SchemaTooNewError as err:
            raise StorageError(
                "The exam store was written by newer firmware: call support before using this appliance.",
                reason_code="store_schema_too_new", detail=str(err),
            ) from err
        except (OSError, sqlite3.Error) as err:
            raise StorageError(OPEN_FAILED, detail=f"{data_dir}: {err}") from err
        return cls(data_dir, conn, files)

    def close(self) -> None:
        """Close the database; safe to call twice."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ExamStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def pragmas(self) -> dict[str, Any]:
        """The connection's durability settings, for health checks: journal_mode, synchronous
        (2 = FULL), foreign_keys, busy_timeout (ms), user_version (schema version)."""
        names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "user_version")
        with self._lock, _reading():
            return {name: self._conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names}

    def save_exam(self, exam: Exam, *, actor: str) -> None:
        """Store the exam durably: images, exam row, image rows, one outbox row, one audit row.

        Durable on return. Images are written (atomically, fsynced) before the single transaction
        that writes every row; if that transaction fails no row of the exam exists.

        Raises:
            StorageError: disk full, permissions, I/O error, or the exam id is already saved.
            ValueError: empty actor, or an image's given sha256 does not match its bytes (a bug).
        """
        if not actor:
            raise ValueError("save_exam needs an actor")
        _check_hashes(exam)
        try:
            stored = [self._files.write(image.capture.image) for image in exam.images]
        except OSError as err:
            raise StorageError(SAVE_FAILED, detail=f"writing images of {exam.exam_id}: {err}") from err
        # If the transaction below fails, the image files just written stay behind as orphans. That
        # is harmless only because names are content addresses: a retry or another exam with the
        # same image reuses the file, and no row ever points at a wrong or partial file.
        with self._lock:
            try:
                self._insert_exam(exam, stored, actor)
            except sqlite3.IntegrityError as err:
                if "exams.exam_id" in str(err):
                    raise StorageError(
                        "The appliance could not save the exam: an exam with this id is already saved."
                        " Nothing new was saved; call support.",
                        reason_code="exam_duplicate", detail=str(err),
                    ) from err
                raise StorageError(SAVE_FAILED, detail=f"{exam.exam_id}: {err}") from err
            except sqlite3.Error as err:
                raise StorageError(SAVE_FAILED, detail=f"{exam.exam_id}: {err}") from err

    def _insert_exam(self, exam: Exam, stored: list[StoredFile], actor: str) -> None:
        now = utc_now()
        with transaction(self._conn) as conn:
            exams.insert_exam(conn, exam)
            exams.insert_images(conn, exam, stored)
            payload = {
                "exam_id": exam.exam_id,
                "outcome": exam.result.outcome.value,
                "image_sha256": [s.sha256 for s in stored],
            }
            outbox.enqueue(conn, exam_id=exam.exam_id, kind=outbox.EXAM_RESULT, payload=payload, at=now)
            detail = {"outcome": exam.result.outcome.value, "images": len(stored),
                      "model_sha256": exam.model.sha256}
            audit.append(conn, at=now, actor=actor, action="exam_created", exam_id=exam.exam_id,
                         detail=detail)

    def get_exam(self, exam_id: str) -> ExamRecord:
        """The stored exam. Raises ExamNotFoundError; StorageError when the database cannot be read."""
        with self._lock, _reading():
            record = exams.fetch_exam(self._conn, self.data_dir, exam_id)
        if record is None:
            raise ExamNotFoundError("This exam was not found on the appliance.", detail=exam_id)
        return record

    def list_exams(self, limit: int = 50) -> list[ExamRecord]:
        """The `limit` (>= 1) newest exams, newest first. Raises ValueError, StorageError."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        with self._lock, _reading():
            return exams.fetch_recent(self._conn, self.data_dir, limit)

    def record_audit(
        self,
        action: str,
        *,
        actor: str,
        exam_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one durable audit entry (e.g. 'result_shown', 'model_loaded', 'exam_rejected').

        Raises:
            ValueError: empty action or actor, or `detail` is not JSON-serialisable.
            StorageError: the entry could not be written.
        """
        with self._lock:
            try:
                with transaction(self._conn) as conn:
                    audit.append(conn, at=utc_now(), actor=actor, action=action, exam_id=exam_id,
                                 detail=detail)
            except sqlite3.Error as err:
                raise StorageError(AUDIT_FAILED, detail=f"{action}: {err}") from err

    def site_operating_point(self) -> SiteOperatingPoint | None:
        """The adopted site operating point (whatever model it was adopted for), or None. Raises StorageError."""
        with self._lock, _reading():
            return operating_points.current(self._conn)

    def adopt_operating_point(self, point: SiteOperatingPoint, *, detail: Mapping[str, Any] | None = None) -> None:
        """Store `point` as the site operating point and audit it ('operating_point_adopted'), in one
        transaction: durable on return, and never one without the other.

        Raises:
            ValueError: a detail that is not JSON-serialisable, or values the table refuses (a bug upstream).
            StorageError: it could not be written.
        """
        audit_detail = {"threshold": point.threshold, "model_sha256": point.model_sha256,
                        "n_photos": point.n_photos, "n_referable": point.n_referable,
                        "target_sensitivity": point.target_sensitivity, "report_sha256": point.report_sha256,
                        "site_data": point.site_data, **dict(detail or {})}
        with self._lock:
            try:
                with transaction(self._conn) as conn:
                    operating_points.insert_adoption(conn, point, detail)
                    audit.append(conn, at=point.adopted_at, actor=point.adopted_by,
                                 action="operating_point_adopted", exam_id=None, detail=audit_detail)
            except sqlite3.IntegrityError as err:
                raise ValueError(f"the site operating point was refused by the store: {err}") from err
            except sqlite3.Error as err:
                raise StorageError(AUDIT_FAILED, detail=f"operating_point_adopted: {err}") from err

    def revert_operating_point(self, *, actor: str, detail: Mapping[str, Any] | None = None) -> None:
        """Go back to the model's locked threshold and audit it ('operating_point_reverted'), in one transaction.

        Raises:
            ValueError: empty actor or a detail that is not JSON-serialisable.
            StorageError: it could not be written.
        """
        now = utc_now()
        with self._lock:
            try:
                with transaction(self._conn) as conn:
                    previous = operating_points.current(conn)
                    operating_points.insert_revert(conn, at=now, actor=actor, detail=detail)
                    reverted = None if previous is None else {
                        "threshold": previous.threshold, "model_sha256": previous.model_sha256,
                        "adopted_at": previous.adopted_at.isoformat(), "n_photos": previous.n_photos}
                    audit.append(conn, at=now, actor=actor, action="operating_point_reverted", exam_id=None,
                                 detail={"reverted": reverted, **dict(detail or {})})
            except sqlite3.Error as err:
                raise StorageError(AUDIT_FAILED, detail=f"operating_point_reverted: {err}") from err

    def audit_entries(self, exam_id: str | None = None) -> list[AuditEntry]:
        """Every audit entry, or those of one exam, oldest first. Raises StorageError."""
        with self._lock, _reading():
            return audit.entries(self._conn, exam_id)

    def pending_outbox(self) -> list[OutboxEntry]:
        """Every outbox message not yet sent, oldest first. Raises StorageError."""
        with self._lock, _reading():
            return outbox.pending(self._conn)

    def image_bytes(self, sha256: str) -> bytes:
        """The bytes of a stored image, verified against its hash.

        Raises:
            KeyError: no stored image has this sha256 (or it is not a lowercase hex sha256).
            StorageError: the image file is missing, unreadable or damaged.
        """
        if not _SHA256.match(sha256):
            raise KeyError(sha256)
        with self._lock, _reading():
            row = self._conn.execute("SELECT path FROM images WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone()
        if row is None:
            raise KeyError(sha256)
        try:
            return self._files.read(row["path"], sha256)
        except (OSError, CorruptFileError) as err:
            raise StorageError(
                "A stored image is missing or damaged: call support.",
                reason_code="image_corrupt", detail=str(err),
            ) from err


@contextmanager
def _reading() -> Iterator[None]:
    """Turns a database error while reading into a StorageError with an operator sentence."""
    try:
        yield
    except sqlite3.Error as err:
        raise StorageError(READ_FAILED, detail=str(err)) from err


def _check_hashes(exam: Exam) -> None:
    for position, image in enumerate(exam.images):
        if image.sha256 and image.sha256 != hashlib.sha256(image.capture.image).hexdigest():
            raise ValueError(f"image {position} of exam {exam.exam_id}: sha256 does not match its bytes")

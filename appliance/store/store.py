"""ExamStore: the one door to the appliance's disk (exams, images, audit log, outbox)."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from appliance.domain import Exam, ExamSession, ExamState, SessionPhoto, SiteOperatingPoint, WorklistEntry, utc_now
from appliance.errors import ExamNotFoundError, ExamStateError, StorageError
from appliance.store import audit, exams, operating_points, outbox, purge, sessions, uids
from appliance.store.codec import to_iso
from appliance.store.db import SchemaTooNewError, connect, transaction
from appliance.store.deliveries import Outbox
from appliance.store.files import IMAGES_DIR, CorruptFileError, ImageFiles, ensure_dir
from appliance.store.records import AuditEntry, OutboxEntry
from appliance.sync.identity import StudyUids

log = logging.getLogger(__name__)

DB_NAME = "exams.sqlite3"
SAVE_FAILED = (
    "The appliance could not save the exam: storage is full or failing. Nothing was saved; call support."
)
OPEN_FAILED = "The appliance could not open its exam store: storage is missing or failing. Call support."
READ_FAILED = "The appliance could not read its exam store: storage is failing. Call support."
PHOTO_FAILED = (
    "The appliance could not save the photo: storage is full or failing. The exam's earlier photos are kept;"
    " call support."
)
AUDIT_FAILED = "The appliance could not write its audit log: storage is full or failing. Call support."
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


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
        #: The sync worker's typed outbox API (claim, mark sent / failed, park, re-queue, backlog).
        self.outbox = Outbox(self)

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

    def write(self, work: Callable[[sqlite3.Connection], T], *, failure: str = SAVE_FAILED) -> T:
        """Run `work` in one write transaction under the store's lock, for the store's own modules
        (`appliance.store.users`…): committed when it returns, rolled back when it raises.

        Raises:
            StorageError: a database error (`failure` is the operator's sentence); other exceptions of
            `work` pass through after the rollback.
        """
        with self._lock:
            try:
                with transaction(self._conn) as conn:
                    return work(conn)
            except sqlite3.Error as err:
                raise StorageError(failure, detail=str(err)) from err

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` (reads only) under the store's lock. Raises StorageError on a database error."""
        with self._lock, _reading():
            return work(self._conn)

    def open_session(self, session: ExamSession, *, actor: str) -> None:
        """Store a newly opened exam (durable on return) and audit it ('exam_opened').

        Raises:
            StorageError: it could not be written, or the exam id is already used.
        """
        def work(conn: sqlite3.Connection) -> None:
            sessions.insert_session(conn, session)
            audit.append(conn, at=session.opened_at, actor=actor, action="exam_opened", exam_id=session.exam_id,
                         detail={"photos": 0})

        self._write_exam(session.exam_id, work)

    def add_photo(self, exam_id: str, photo: SessionPhoto, image: bytes, *, replaces: int | None,
                  actor: str) -> None:
        """Store one photo of an open exam, durable on return: its file first, then in one transaction its
        row, the retaken photo marked replaced, and an audit row ('photo_taken').

        Raises:
            ExamStateError: the exam is not open. ExamNotFoundError: no such exam.
            StorageError: disk full, permissions, I/O error.
        """
        if photo.sha256 != hashlib.sha256(image).hexdigest():
            raise ValueError(f"photo {photo.photo_id} of exam {exam_id}: sha256 does not match its bytes")
        try:
            stored = self._files.write(image)
        except OSError as err:
            raise StorageError(PHOTO_FAILED, detail=f"writing a photo of {exam_id}: {err}") from err

        def work(conn: sqlite3.Connection) -> None:
            _require_open(conn, exam_id)
            if replaces is not None:
                sessions.mark_replaced(conn, exam_id, replaces)
            sessions.insert_photo(conn, exam_id, photo, stored)
            audit.append(conn, at=utc_now(), actor=actor, action="photo_taken", exam_id=exam_id, detail={
                "photo_id": photo.photo_id, "eye": photo.eye.value, "passed": photo.quality.passed,
                "reason_codes": list(photo.quality.reason_codes), "replaces": replaces, "sha256": photo.sha256,
                "looks_like": None if photo.looks_like is None else photo.looks_like.value})

        self._write_exam(exam_id, work, failure=PHOTO_FAILED)

    def confirm_eye(self, exam_id: str, photo_id: int, *, actor: str) -> None:
        """Record that the technician confirmed a photo's eye after a left/right warning ('eye_confirmed')."""
        def work(conn: sqlite3.Connection) -> None:
            _require_open(conn, exam_id)
            sessions.confirm_eye(conn, exam_id, photo_id)
            audit.append(conn, at=utc_now(), actor=actor, action="eye_confirmed", exam_id=exam_id,
                         detail={"photo_id": photo_id})

        self._write_exam(exam_id, work)

    def cancel_session(self, exam_id: str, *, actor: str, reason: str) -> None:
        """Close an open exam without a result ('exam_cancelled'); its photos stay stored.

        Raises:
            ExamStateError: the exam is not open. ExamNotFoundError: no such exam. StorageError.
        """
        def work(conn: sqlite3.Connection) -> None:
            _require_open(conn, exam_id)
            now = utc_now()
            sessions.close(conn, exam_id, ExamState.CANCELLED, at=now, actor=actor, reason=reason)
            audit.append(conn, at=now, actor=actor, action="exam_cancelled", exam_id=exam_id,
                         detail={"reason": reason})

        self._write_exam(exam_id, work)

    def finish_exam(self, exam: Exam, *, actor: str) -> None:
        """Store the exam's result durably, in one transaction: the session closed as finished, the exam
        and image rows (pointing at the photos already stored), its DICOM UIDs (made here, once; the study
        is the worklist order's when it came from one), one outbox item per destination, one audit row.
        If the transaction fails no row of the result exists and the exam stays open.

        Raises:
            ExamStateError: the exam is not open (finished twice, cancelled). ExamNotFoundError.
            StorageError: disk full, permissions, I/O error. ValueError: empty actor.
        """
        if not actor:
            raise ValueError("finish_exam needs an actor")

        def work(conn: sqlite3.Connection) -> None:
            _require_open(conn, exam.exam_id)
            now = utc_now()
            sessions.close(conn, exam.exam_id, ExamState.FINISHED, at=now, actor=actor)
            exams.insert_exam(conn, exam)
            hashes = exams.insert_images(conn, exam)
            order = sessions.fetch_order(conn, exam.exam_id, exam.patient)
            study = order.study_instance_uid if order is not None and order.study_instance_uid else None
            uids.insert(conn, exam.exam_id, StudyUids.new([i.photo.photo_id for i in exam.images], study=study),
                        at=now)
            payload = {"exam_id": exam.exam_id, "outcome": exam.result.outcome.value, "image_sha256": hashes}
            for kind in outbox.DESTINATIONS:
                outbox.enqueue(conn, exam_id=exam.exam_id, kind=kind, payload=payload, at=now)
            audit.append(conn, at=now, actor=actor, action="exam_created", exam_id=exam.exam_id, detail={
                "outcome": exam.result.outcome.value, "images": len(hashes), "model_sha256": exam.model.sha256})

        self._write_exam(exam.exam_id, work)

    def _write_exam(self, exam_id: str, work: Callable[[sqlite3.Connection], None], *,
                    failure: str = SAVE_FAILED) -> None:
        with self._lock:
            try:
                with transaction(self._conn) as conn:
                    work(conn)
            except sqlite3.IntegrityError as err:
                if "exam_sessions.exam_id" in str(err) or "exams.exam_id" in str(err):
                    raise StorageError(
                        "The appliance could not save the exam: an exam with this id is already saved."
                        " Nothing new was saved; call support.",
                        reason_code="exam_duplicate", detail=str(err),
                    ) from err
                raise StorageError(failure, detail=f"{exam_id}: {err}") from err
            except sqlite3.Error as err:
                raise StorageError(failure, detail=f"{exam_id}: {err}") from err

    def save_report(self, exam_id: str, pdf: bytes, *, actor: str) -> None:
        """Store the finished exam's PDF report (written once; a second call keeps the first) and audit it.

        Raises:
            ExamNotFoundError: no finished exam with this id. StorageError.
        """
        try:
            stored = self._files.write(pdf)
        except OSError as err:
            raise StorageError(SAVE_FAILED, detail=f"writing the report of {exam_id}: {err}") from err

        def work(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM exams WHERE exam_id = ?", (exam_id,)).fetchone() is None:
                raise ExamNotFoundError("This exam has no result on the appliance.", detail=exam_id)
            now = utc_now()
            inserted = conn.execute(
                "INSERT OR IGNORE INTO exam_reports (exam_id, sha256, path, byte_size, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (exam_id, stored.sha256, stored.relative_path, stored.byte_size, to_iso(now))).rowcount
            if inserted:
                audit.append(conn, at=now, actor=actor, action="report_created", exam_id=exam_id,
                             detail={"sha256": stored.sha256, "bytes": stored.byte_size})

        self._write_exam(exam_id, work)

    def report_pdf(self, exam_id: str) -> bytes | None:
        """The stored PDF report of a finished exam, verified against its hash; None when none was stored.
        Raises StorageError when the file is missing or damaged."""
        with self._lock, _reading():
            row = self._conn.execute("SELECT sha256, path FROM exam_reports WHERE exam_id = ?", (exam_id,)).fetchone()
        if row is None:
            return None
        try:
            return self._files.read(row["path"], row["sha256"])
        except (OSError, CorruptFileError) as err:
            raise StorageError("A stored report is missing or damaged: call support.",
                               reason_code="report_corrupt", detail=str(err)) from err

    def get_session(self, exam_id: str) -> ExamSession:
        """The exam as a session (open, finished or cancelled), every photo with it.
        Raises ExamNotFoundError; StorageError when the database cannot be read."""
        with self._lock, _reading():
            session = sessions.fetch(self._conn, exam_id)
        if session is None:
            raise ExamNotFoundError("This exam was not found on the appliance.", detail=exam_id)
        return session

    def get_exam(self, exam_id: str) -> Exam:
        """The finished exam with its result. Raises ExamNotFoundError (also for an exam still open or
        cancelled: it has no result); StorageError when the database cannot be read."""
        with self._lock, _reading():
            exam = exams.fetch_exam(self._conn, exam_id)
        if exam is None:
            raise ExamNotFoundError("This exam has no result on the appliance.", detail=exam_id)
        return exam

    def list_exams(self, limit: int = 50) -> list[Exam]:
        """The `limit` (>= 1) newest finished exams, newest first. Raises ValueError, StorageError."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        with self._lock, _reading():
            return exams.fetch_recent(self._conn, limit)

    def worklist(self, *, since: datetime | None = None, patient_id: str | None = None,
                 states: tuple[ExamState, ...] = (), limit: int = 100) -> list[WorklistEntry]:
        """Exams (open, finished, cancelled) newest first, opened since `since`, of one patient, in `states`
        (all when empty). Raises ValueError (limit < 1), StorageError."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        with self._lock, _reading():
            return sessions.worklist(self._conn, since=since, patient_id=patient_id, states=states, limit=limit)

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

    def study_uids(self, exam_id: str) -> StudyUids:
        """The finished exam's DICOM UIDs, the same on every call (an exam stored before they existed gets
        its own once, here). Raises ExamNotFoundError, StorageError."""
        def work(conn: sqlite3.Connection) -> StudyUids | None:
            found = uids.fetch(conn, exam_id)
            if found is not None:
                return found
            rows = conn.execute("SELECT photo_id, position FROM images WHERE exam_id = ?", (exam_id,)).fetchall()
            if conn.execute("SELECT 1 FROM exams WHERE exam_id = ?", (exam_id,)).fetchone() is None:
                return None
            ids = [row["photo_id"] if row["photo_id"] is not None else row["position"] + 1 for row in rows]
            uids.insert(conn, exam_id, StudyUids.new(ids), at=utc_now())
            return uids.fetch(conn, exam_id)

        found = self.write(work)
        if found is None:
            raise ExamNotFoundError("This exam has no result on the appliance.", detail=exam_id)
        return found

    def purge_photos(self, *, confirmed_before: datetime, actor: str, limit: int = 500) -> purge.PurgeReport:
        """Remove the local photo files of exams whose DICOM the archive confirmed before `confirmed_before`
        (never an unconfirmed one; see appliance.store.purge). Raises StorageError."""
        with self._lock:
            try:
                return purge.purge_confirmed(self._conn, self._files, confirmed_before=confirmed_before,
                                             actor=actor, limit=limit)
            except sqlite3.Error as err:
                raise StorageError(SAVE_FAILED, detail=f"purging photos: {err}") from err

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
            row = self._conn.execute(
                "SELECT path FROM session_photos WHERE sha256 = ? UNION ALL SELECT path FROM images WHERE sha256 = ?"
                " LIMIT 1", (sha256, sha256)).fetchone()
        if row is None:
            raise KeyError(sha256)
        try:
            return self._files.read(row["path"], sha256)
        except FileNotFoundError as err:
            if self.read(lambda conn: purge.is_purged(conn, sha256)):
                raise StorageError(
                    "This photo was removed from the appliance after the archive confirmed it: view it in the PACS.",
                    reason_code="photo_purged", detail=str(err)) from err
            raise StorageError(
                "A stored image is missing or damaged: call support.",
                reason_code="image_corrupt", detail=str(err),
            ) from err
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


def _require_open(conn: sqlite3.Connection, exam_id: str) -> None:
    """Inside a transaction: the exam exists and is open, or a typed error the operator can act on."""
    row = conn.execute("SELECT state FROM exam_sessions WHERE exam_id = ?", (exam_id,)).fetchone()
    if row is None:
        raise ExamNotFoundError("This exam was not found on the appliance.", detail=exam_id)
    if row["state"] != ExamState.OPEN.value:
        raise ExamStateError(f"This exam is already {row['state']}: start a new exam.", detail=exam_id)

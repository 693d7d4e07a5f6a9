"""The store's SQLite schema, versioned with `PRAGMA user_version`.

`MIGRATIONS[n]` turns a version n-1 database into version n. A migration runs in one transaction
with its `user_version` bump (SQLite's DDL is transactional), so one interrupted by a power cut left
nothing behind and simply runs again; the CREATE statements are `IF NOT EXISTS` besides.
"""

from __future__ import annotations

SCHEMA_VERSION = 4

_V1 = (
    """
    CREATE TABLE IF NOT EXISTS exams (
        exam_id       TEXT PRIMARY KEY,
        patient_id    TEXT NOT NULL,
        created_at    TEXT NOT NULL,             -- ISO-8601 UTC
        operator      TEXT NOT NULL,
        outcome       TEXT NOT NULL CHECK (outcome IN ('REFER', 'NO_REFER', 'UNGRADABLE')),
        model_name    TEXT NOT NULL,
        model_version TEXT NOT NULL,
        model_sha256  TEXT NOT NULL,
        model_runner  TEXT NOT NULL,
        result_json   TEXT NOT NULL              -- the full Result, model fields, not-validated notice
    )
    """,
    "CREATE INDEX IF NOT EXISTS exams_created_at ON exams (created_at)",
    """
    CREATE TABLE IF NOT EXISTS images (
        id             INTEGER PRIMARY KEY,
        exam_id        TEXT NOT NULL REFERENCES exams (exam_id),
        position       INTEGER NOT NULL,         -- order of the image in the exam, from 0
        eye            TEXT NOT NULL CHECK (eye IN ('right', 'left')),
        field          TEXT NOT NULL,
        source         TEXT NOT NULL,
        device         TEXT NOT NULL,
        captured_at    TEXT NOT NULL,            -- ISO-8601 UTC
        sha256         TEXT NOT NULL,
        path           TEXT NOT NULL,            -- relative to the data folder
        byte_size      INTEGER NOT NULL,
        quality_passed INTEGER NOT NULL CHECK (quality_passed IN (0, 1)),
        quality_json   TEXT NOT NULL,            -- reason codes, operator message, metrics
        score          REAL,                     -- NULL when the image was not gradable
        UNIQUE (exam_id, position)
    )
    """,
    "CREATE INDEX IF NOT EXISTS images_sha256 ON images (sha256)",
    # No foreign key on audit.exam_id: a rejected exam is audited although it is never saved.
    """
    CREATE TABLE IF NOT EXISTS audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          TEXT NOT NULL,               -- ISO-8601 UTC
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        exam_id     TEXT,
        detail_json TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS audit_exam_id ON audit (exam_id)",
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TABLE IF NOT EXISTS outbox (
        id              INTEGER PRIMARY KEY,
        exam_id         TEXT NOT NULL REFERENCES exams (exam_id),
        kind            TEXT NOT NULL,
        payload_json    TEXT NOT NULL,
        created_at      TEXT NOT NULL,           -- ISO-8601 UTC
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,                    -- ISO-8601 UTC; due now when not in the future
        sent_at         TEXT,                    -- NULL until the receiver acknowledged it
        last_error      TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sent_at, id)",
)

# Version 2: the site operating point, as an append-only history of adoptions and reverts; the
# current one is the newest row (none when that row is a revert). An exam's result_json records the
# operating point it was decided at, so exams need no new column.
_V2 = (
    """
    CREATE TABLE IF NOT EXISTS operating_points (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        at                 TEXT NOT NULL,        -- ISO-8601 UTC
        actor              TEXT NOT NULL,
        action             TEXT NOT NULL CHECK (action IN ('adopt', 'revert')),
        model_sha256       TEXT,                 -- the model it applies to (adopt only)
        threshold          REAL,
        n_photos           INTEGER,
        n_referable        INTEGER,
        target_sensitivity REAL,
        report_sha256      TEXT,
        detail_json        TEXT NOT NULL,        -- the site, the report's figures, the revert's reason
        CHECK (action = 'revert' OR (model_sha256 IS NOT NULL AND threshold BETWEEN 0 AND 1
                                     AND n_photos > 0 AND n_referable > 0))
    )
    """,
    """
    CREATE TRIGGER IF NOT EXISTS operating_points_no_update BEFORE UPDATE ON operating_points
    BEGIN SELECT RAISE(ABORT, 'the operating-point history is append-only'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS operating_points_no_delete BEFORE DELETE ON operating_points
    BEGIN SELECT RAISE(ABORT, 'the operating-point history is append-only'); END
    """,
)

# Version 3: the exam as a session. An exam is opened before any photo is taken and is durable from
# then on: `exam_sessions` holds every exam (open, finished or cancelled) and `session_photos` every
# photo taken, retakes included. A finished exam's result stays in `exams` / `images` as before, now
# with the patient's date of birth and sex, when it was opened and the gate settings it was judged
# with. Exams finished before version 3 get a finished session row, so the worklist shows them.
# `exam_reports` holds each finished exam's printable PDF report (the sync worker sends it on).
# `users` are the people who sign in at the kiosk; `sign_ins` their server-side kiosk sessions.
_V3 = (
    """
    CREATE TABLE IF NOT EXISTS exam_sessions (
        exam_id      TEXT PRIMARY KEY,
        patient_id   TEXT NOT NULL,
        birth_date   TEXT,                       -- ISO-8601 date
        sex          TEXT NOT NULL DEFAULT 'unknown' CHECK (sex IN ('female', 'male', 'other', 'unknown')),
        operator     TEXT NOT NULL,
        opened_at    TEXT NOT NULL,              -- ISO-8601 UTC
        state        TEXT NOT NULL CHECK (state IN ('open', 'finished', 'cancelled')),
        closed_at    TEXT,
        closed_by    TEXT NOT NULL DEFAULT '',
        close_reason TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX IF NOT EXISTS exam_sessions_opened_at ON exam_sessions (opened_at)",
    "CREATE INDEX IF NOT EXISTS exam_sessions_patient_id ON exam_sessions (patient_id)",
    """
    CREATE TABLE IF NOT EXISTS session_photos (
        exam_id        TEXT NOT NULL REFERENCES exam_sessions (exam_id),
        photo_id       INTEGER NOT NULL,         -- from 1, in the order taken
        eye            TEXT NOT NULL CHECK (eye IN ('right', 'left')),
        field          TEXT NOT NULL,
        source         TEXT NOT NULL,
        device         TEXT NOT NULL,
        captured_at    TEXT NOT NULL,
        sha256         TEXT NOT NULL,
        path           TEXT NOT NULL,
        byte_size      INTEGER NOT NULL,
        quality_passed INTEGER NOT NULL CHECK (quality_passed IN (0, 1)),
        quality_json   TEXT NOT NULL,
        detected_field TEXT NOT NULL,
        looks_like     TEXT CHECK (looks_like IS NULL OR looks_like IN ('right', 'left')),
        eye_confirmed  INTEGER NOT NULL CHECK (eye_confirmed IN (0, 1)),
        replaced       INTEGER NOT NULL DEFAULT 0 CHECK (replaced IN (0, 1)),
        PRIMARY KEY (exam_id, photo_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS session_photos_sha256 ON session_photos (sha256)",
    "ALTER TABLE exams ADD COLUMN birth_date TEXT",
    "ALTER TABLE exams ADD COLUMN sex TEXT NOT NULL DEFAULT 'unknown'",
    "ALTER TABLE exams ADD COLUMN opened_at TEXT",
    "ALTER TABLE exams ADD COLUMN gate_json TEXT",  # NULL for exams made before version 3
    "ALTER TABLE images ADD COLUMN photo_id INTEGER",  # the session photo; NULL before version 3
    "ALTER TABLE images ADD COLUMN detected_field TEXT NOT NULL DEFAULT 'unknown'",
    "ALTER TABLE images ADD COLUMN looks_like TEXT",
    "ALTER TABLE images ADD COLUMN eye_confirmed INTEGER NOT NULL DEFAULT 1",
    """
    INSERT OR IGNORE INTO exam_sessions (exam_id, patient_id, operator, opened_at, state, closed_at, closed_by)
    SELECT exam_id, patient_id, operator, created_at, 'finished', created_at, operator FROM exams
    """,
    # ...and their images as the session's photos (numbered as `images.position + 1`, as read back), so
    # the session and the worklist show an old exam's photos like any other's.
    """
    INSERT OR IGNORE INTO session_photos (exam_id, photo_id, eye, field, source, device, captured_at, sha256, path,
        byte_size, quality_passed, quality_json, detected_field, looks_like, eye_confirmed, replaced)
    SELECT exam_id, position + 1, eye, field, source, device, captured_at, sha256, path, byte_size, quality_passed,
        quality_json, detected_field, looks_like, eye_confirmed, 0 FROM images
    """,
    """
    CREATE TABLE IF NOT EXISTS exam_reports (
        exam_id    TEXT PRIMARY KEY REFERENCES exams (exam_id),
        sha256     TEXT NOT NULL,
        path       TEXT NOT NULL,                -- the PDF, relative to the data folder
        byte_size  INTEGER NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS users (
        user_id         TEXT PRIMARY KEY,        -- what the technician types at sign-in
        display_name    TEXT NOT NULL,
        role            TEXT NOT NULL CHECK (role IN ('technician', 'admin')),
        pin_hash        TEXT NOT NULL,           -- argon2id, PHC string
        created_at      TEXT NOT NULL,
        disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until    TEXT                     -- ISO-8601 UTC; sign-in refused until then
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS sign_ins (
        token_sha256 TEXT PRIMARY KEY,           -- the cookie's token is never stored, only its hash
        user_id      TEXT NOT NULL REFERENCES users (user_id),
        started_at   TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        ended_at     TEXT,
        end_reason   TEXT NOT NULL DEFAULT ''    -- signed_out, idle_timeout, replaced
    )
    """,
)

# Version 4: sync with the clinic. The outbox holds one item per destination ('dicom' for the PACS,
# 'fhir' for the EHR) per finished exam, claimed by a sync worker with a lease (`lease_owner`,
# `lease_until`: a worker that dies mid-send loses its claim when the lease ends, never the item) and
# parked for a person when the receiver refuses it for good; a pending version-3 'exam_result' row
# becomes one item per destination. `exam_uids` keeps each finished exam's DICOM UIDs, made once: they
# are the receiver's idempotency keys. `exam_orders` is the worklist order an exam was opened from.
# `photo_purges` records the exams whose sent photos were removed after the archive confirmed them and
# the retention passed.
_V4 = (
    "ALTER TABLE outbox ADD COLUMN lease_owner TEXT",
    "ALTER TABLE outbox ADD COLUMN lease_until TEXT",  # ISO-8601 UTC; the claim is void after it
    "ALTER TABLE outbox ADD COLUMN parked_at TEXT",    # set when the receiver refused it for good
    """
    INSERT INTO outbox (exam_id, kind, payload_json, created_at, attempts, next_attempt_at)
    SELECT o.exam_id, d.kind, o.payload_json, o.created_at, 0, o.created_at
    FROM outbox o, (SELECT 'dicom' AS kind UNION ALL SELECT 'fhir') d
    WHERE o.kind = 'exam_result' AND o.sent_at IS NULL
    """,
    "DELETE FROM outbox WHERE kind = 'exam_result' AND sent_at IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS outbox_exam_kind ON outbox (exam_id, kind)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (kind, sent_at, parked_at, next_attempt_at)",
    """
    CREATE TABLE IF NOT EXISTS exam_uids (
        exam_id          TEXT PRIMARY KEY REFERENCES exams (exam_id),
        study_uid        TEXT NOT NULL,
        op_series_uid    TEXT NOT NULL,
        sr_series_uid    TEXT NOT NULL,
        pdf_series_uid   TEXT NOT NULL,
        sr_instance_uid  TEXT NOT NULL,
        pdf_instance_uid TEXT NOT NULL,
        photo_uids_json  TEXT NOT NULL,          -- {"<photo_id>": "<SOP Instance UID>"}
        created_at       TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS exam_orders (
        exam_id             TEXT PRIMARY KEY REFERENCES exam_sessions (exam_id),
        accession_number    TEXT NOT NULL,
        study_instance_uid  TEXT NOT NULL DEFAULT '',
        requested_procedure TEXT NOT NULL DEFAULT '',
        patient_name        TEXT NOT NULL DEFAULT '',
        scheduled_start     TEXT NOT NULL DEFAULT ''
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS photo_purges (
        exam_id   TEXT PRIMARY KEY REFERENCES exams (exam_id),
        purged_at TEXT NOT NULL,
        files     INTEGER NOT NULL,
        bytes     INTEGER NOT NULL
    )
    """,
)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4}

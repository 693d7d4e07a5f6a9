"""The store's SQLite schema, versioned with `PRAGMA user_version`.

`MIGRATIONS[n]` turns a version n-1 database into version n. Every statement is idempotent
(`IF NOT EXISTS`) so a migration interrupted by a power cut can simply run again.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

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

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1, 2: _V2}

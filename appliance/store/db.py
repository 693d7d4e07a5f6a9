"""Opening the SQLite database with the pragmas durability depends on, and migrating its schema."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.store.schema import MIGRATIONS, SCHEMA_VERSION

#: How long a writer waits for another process (the sync worker) to release the lock.
BUSY_TIMEOUT_MS = 5000


class SchemaTooNewError(sqlite3.DatabaseError):
    """The database was written by newer firmware; opening it could corrupt it."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if absent) the database at `path`, set its pragmas and migrate its schema.

    The connection is in autocommit mode: writers open their own transaction with `transaction()`.
    `check_same_thread=False` because the kiosk's threads share it; the caller serialises use.

    Raises:
        sqlite3.Error: the file is not a database, cannot be opened, or WAL is unavailable.
        SchemaTooNewError: the schema version is newer than this firmware knows.
    """
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"journal_mode is {mode!r}, WAL is required")
        # FULL: in WAL mode a commit fsyncs the log, so a committed exam survives a power cut.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION, one version per transaction; a no-op when current."""
    while True:
        with transaction(conn):
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SchemaTooNewError(
                    f"schema version {version} is newer than this firmware's {SCHEMA_VERSION}"
                )
            if version == SCHEMA_VERSION:
                return
            for statement in MIGRATIONS[version + 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed when the block ends, rolled back when it raises.

    BEGIN IMMEDIATE takes the write lock at once, so a busy database fails here (after the busy
    timeout) rather than half-way through the block.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # SQLite rolls some failures (disk full, I/O error) back by itself; roll back the rest.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise

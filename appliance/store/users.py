"""The people who sign in at the kiosk (`users`) and their server-side sign-ins (`sign_ins`).

Functions run on a connection inside the caller's transaction (`ExamStore.write` / `read`). PIN
hashes are read only through `pin_hash`, never as part of a `UserAccount`, so they stay out of
listings and logs. Sign-ins are stored by the sha256 of their token, never the token itself.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from appliance.auth.roles import Role
from appliance.store.codec import from_iso, to_iso


@dataclass(frozen=True)
class UserAccount:
    user_id: str
    display_name: str
    role: Role
    disabled: bool
    #: Wrong PINs in a row since the last sign-in or lock.
    failed_attempts: int
    #: Sign-in is refused until then (UTC); None when not locked.
    locked_until: datetime | None
    created_at: datetime

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class SignInRecord:
    token_sha256: str
    user_id: str
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    end_reason: str


def insert_user(conn: sqlite3.Connection, account: UserAccount, pin_hash: str) -> None:
    """Raises sqlite3.IntegrityError when the user id exists."""
    conn.execute(
        "INSERT INTO users (user_id, display_name, role, pin_hash, created_at, disabled, failed_attempts,"
        " locked_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (account.user_id, account.display_name, account.role.value, pin_hash, to_iso(account.created_at),
         int(account.disabled), account.failed_attempts, _iso_or_none(account.locked_until)),
    )


def get_user(conn: sqlite3.Connection, user_id: str) -> UserAccount | None:
    row = conn.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else _account(row)


def list_users(conn: sqlite3.Connection) -> list[UserAccount]:
    """Every user, in user-id order."""
    return [_account(row) for row in conn.execute("SELECT * FROM users ORDER BY user_id")]


def count_users(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])


def pin_hash(conn: sqlite3.Connection, user_id: str) -> str | None:
    row = conn.execute("SELECT pin_hash FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else str(row["pin_hash"])


def set_pin_hash(conn: sqlite3.Connection, user_id: str, new_hash: str) -> bool:
    """Store a new PIN hash; False when there is no such user."""
    return _update(conn, "UPDATE users SET pin_hash = ? WHERE user_id = ?", (new_hash, user_id))


def set_disabled(conn: sqlite3.Connection, user_id: str, disabled: bool) -> bool:
    """Disable or enable an account; False when there is no such user."""
    return _update(conn, "UPDATE users SET disabled = ? WHERE user_id = ?", (int(disabled), user_id))


def set_failures(conn: sqlite3.Connection, user_id: str, failed_attempts: int, locked_until: datetime | None) -> bool:
    """Record the count of wrong PINs in a row and the lock (None: not locked); False when no such user.
    `set_failures(conn, user_id, 0, None)` resets and unlocks."""
    return _update(conn, "UPDATE users SET failed_attempts = ?, locked_until = ? WHERE user_id = ?",
                   (failed_attempts, _iso_or_none(locked_until), user_id))


def start_sign_in(conn: sqlite3.Connection, token_sha256: str, user_id: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO sign_ins (token_sha256, user_id, started_at, last_seen_at) VALUES (?, ?, ?, ?)",
        (token_sha256, user_id, to_iso(at), to_iso(at)),
    )


def touch_sign_in(conn: sqlite3.Connection, token_sha256: str, at: datetime) -> bool:
    """Record activity on an active sign-in; False when it is not active."""
    return _update(conn, "UPDATE sign_ins SET last_seen_at = ? WHERE token_sha256 = ? AND ended_at IS NULL",
                   (to_iso(at), token_sha256))


def end_sign_in(conn: sqlite3.Connection, token_sha256: str, at: datetime, reason: str) -> bool:
    """End an active sign-in (reason: signed_out, idle_timeout, replaced, account_disabled); False when
    it was not active."""
    return _update(conn, "UPDATE sign_ins SET ended_at = ?, end_reason = ? WHERE token_sha256 = ?"
                   " AND ended_at IS NULL", (to_iso(at), reason, token_sha256))


def end_sign_ins_of(conn: sqlite3.Connection, user_id: str, at: datetime, reason: str) -> int:
    """End every active sign-in of a user; the number ended."""
    cursor = conn.execute("UPDATE sign_ins SET ended_at = ?, end_reason = ? WHERE user_id = ? AND ended_at IS NULL",
                          (to_iso(at), reason, user_id))
    return cursor.rowcount


def active_sign_in(conn: sqlite3.Connection, token_sha256: str) -> SignInRecord | None:
    """The sign-in with this token hash, when it has not ended."""
    row = conn.execute("SELECT * FROM sign_ins WHERE token_sha256 = ? AND ended_at IS NULL",
                       (token_sha256,)).fetchone()
    if row is None:
        return None
    return SignInRecord(token_sha256=row["token_sha256"], user_id=row["user_id"],
                        started_at=from_iso(row["started_at"]), last_seen_at=from_iso(row["last_seen_at"]),
                        ended_at=None, end_reason=row["end_reason"])


def _account(row: sqlite3.Row) -> UserAccount:
    return UserAccount(
        user_id=row["user_id"], display_name=row["display_name"], role=Role(row["role"]),
        disabled=bool(row["disabled"]), failed_attempts=int(row["failed_attempts"]),
        locked_until=None if row["locked_until"] is None else from_iso(row["locked_until"]),
        created_at=from_iso(row["created_at"]),
    )


def _update(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> bool:
    return conn.execute(sql, params).rowcount > 0


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)

"""Signing in at the kiosk with a user id and a PIN; the server-side sign-in that follows.

Wrong PINs in a row lock the id for `[auth] lockout_s` after `max_failed_attempts` (ids that do
not exist are locked alike, in memory, and cost the same hash time: the answers never tell which ids
exist). A sign-in ends after `idle_timeout_s` without activity, on sign-out, when the same user
signs in again elsewhere ('replaced'), and when the account is disabled or its PIN changed.
Audited: signed_in, sign_in_failed, account_locked, signed_out.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NoReturn

from appliance.auth import throttle, tokens
from appliance.auth.identity import normalise_user_id
from appliance.auth.logsafe import shown
from appliance.auth.pins import PinHasher
from appliance.config import AuthConfig
from appliance.errors import AccountLockedError, SignInError
from appliance.store import ExamStore, audit, users
from appliance.store.users import UserAccount

log = logging.getLogger(__name__)

REFUSED = "User id or PIN not recognised. Try again, or ask an administrator."
NEEDED = "Sign in to continue."
SAVE_FAILED = "The appliance could not record the sign-in: storage is full or failing. Call support."
#: A cookie longer than this is no token of ours (they are 43 characters).
MAX_TOKEN = 128


@dataclass(frozen=True)
class SignIn:
    """A new sign-in: `token` goes to the browser (cookie) and is stored only as its sha256."""

    token: str
    user: UserAccount

    @property
    def csrf_token(self) -> str:
        return tokens.csrf_token(self.token)


@dataclass(frozen=True)
class ActiveSignIn:
    user: UserAccount
    started_at: datetime
    last_seen_at: datetime
    #: When it ends unless there is activity before.
    idle_deadline: datetime
    #: Whole seconds from now to `idle_deadline`.
    seconds_left: int


class SignIns:
    """Sign-in, its check on every request, and sign-out, over one store (see the module)."""

    def __init__(self, store: ExamStore, config: AuthConfig, hasher: PinHasher,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._config = config
        self._hasher = hasher
        self._clock = clock
        self._unknown = throttle.UnknownIds()
        # One PIN check at a time: counts of wrong PINs stay exact under parallel guesses, and
        # argon2's memory is taken once.
        self._checking = threading.Lock()

    def sign_in(self, user_id: str, pin: str) -> SignIn:
        """Sign in with a user id (any case, trimmed) and a PIN.

        Raises:
            SignInError: unknown id, wrong PIN or disabled account (one message for all).
            AccountLockedError: too many wrong PINs in a row; `retry_after_s` says for how long.
            StorageError: the store could not be read or written.
        """
        uid = normalise_user_id(user_id)
        with self._checking:
            now = self._clock()
            found = self._store.read(lambda conn: (users.get_user(conn, uid), users.pin_hash(conn, uid)))
            account, pin_hash = found if uid else (None, None)
            if account is None or pin_hash is None:
                self._hasher.verify_decoy(pin)
                self._refuse_unknown(uid or user_id[:64], user_id, now)
            matches = self._hasher.verify(pin_hash, pin)
            if account.locked_at(now):
                self._refuse(account, now, "locked")
            if account.disabled:
                self._refuse(account, now, "disabled")
            if not matches:
                self._wrong_pin(account, now)
            new_hash = self._hasher.hash(pin, check=False) if self._hasher.needs_rehash(pin_hash) else None
            return self._start(account, now, new_hash)

    def active(self, token: str, *, activity: bool = True) -> ActiveSignIn:
        """The active sign-in of a cookie's token; with `activity`, now counts as activity (polling the
        idle warning does not). One idle longer than `idle_timeout_s` is ended ('signed_out', reason
        idle_timeout).

        Raises:
            SignInError: no such active sign-in (reason sign_in_required), or it timed out (signed_out_idle).
        """
        now = self._clock()
        digest = tokens.token_sha256(token) if 0 < len(token) <= MAX_TOKEN else ""

        def found(conn: sqlite3.Connection) -> tuple[users.SignInRecord | None, UserAccount | None]:
            record = users.active_sign_in(conn, digest) if digest else None
            return record, None if record is None else users.get_user(conn, record.user_id)

        record, account = self._store.read(found)
        if record is None or account is None or account.disabled:
            raise SignInError(NEEDED, reason_code="sign_in_required")
        timeout = timedelta(seconds=self._config.idle_timeout_s)
        if now - record.last_seen_at > timeout:
            self._end(digest, account.user_id, now, "idle_timeout")
            minutes = max(1, round(self._config.idle_timeout_s / 60))
            raise SignInError(f"You were signed out after {minutes} min without activity. Sign in again.",
                              reason_code="signed_out_idle")
        last_seen = record.last_seen_at
        if activity:
            if not self._store.write(lambda conn: users.touch_sign_in(conn, digest, now), failure=SAVE_FAILED):
                raise SignInError(NEEDED, reason_code="sign_in_required")
            last_seen = now
        deadline = last_seen + timeout
        return ActiveSignIn(user=account, started_at=record.started_at, last_seen_at=last_seen,
                            idle_deadline=deadline, seconds_left=throttle.seconds_left(deadline, now))

    def sign_out(self, token: str) -> None:
        """End the sign-in of `token` ('signed_out'); nothing happens when it is not active."""
        if not 0 < len(token) <= MAX_TOKEN:
            return
        digest = tokens.token_sha256(token)
        record = self._store.read(lambda conn: users.active_sign_in(conn, digest))
        if record is not None:
            self._end(digest, record.user_id, self._clock(), "signed_out")

    def _start(self, account: UserAccount, now: datetime, new_hash: str | None) -> SignIn:
        token = tokens.new_token()

        def work(conn: sqlite3.Connection) -> int:
            if new_hash is not None:  # made with older argon2 parameters
                users.set_pin_hash(conn, account.user_id, new_hash)
            users.set_failures(conn, account.user_id, 0, None)
            replaced = users.end_sign_ins_of(conn, account.user_id, now, "replaced")
            users.start_sign_in(conn, tokens.token_sha256(token), account.user_id, now)
            audit.append(conn, at=now, actor=account.user_id, action="signed_in", exam_id=None,
                         detail={"role": account.role.value, "replaced": replaced,
                                 "pin_rehashed": new_hash is not None})
            return replaced

        self._store.write(work, failure=SAVE_FAILED)
        log.info("%s signed in (%s)", account.user_id, account.role.value)
        return SignIn(token=token, user=replace(account, failed_attempts=0, locked_until=None))

    def _end(self, digest: str, user_id: str, now: datetime, reason: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if users.end_sign_in(conn, digest, now, reason):  # only one of racing requests audits it
                audit.append(conn, at=now, actor=user_id, action="signed_out", exam_id=None,
                             detail={"reason": reason})

        self._store.write(work, failure=SAVE_FAILED)
        log.info("%s signed out (%s)", user_id, reason)

    def _wrong_pin(self, account: UserAccount, now: datetime) -> NoReturn:
        def work(conn: sqlite3.Connection) -> throttle.Failures:
            current = users.get_user(conn, account.user_id) or account  # counted under the write lock
            failures = throttle.after_wrong_pin(current.failed_attempts, now,
                                                max_failed=self._config.max_failed_attempts,
                                                lockout_s=self._config.lockout_s)
            users.set_failures(conn, account.user_id, failures.failed_attempts, failures.locked_until)
            self._audit_failure(conn, account.user_id, now, "wrong_pin", failures)
            return failures

        failures = self._store.write(work, failure=SAVE_FAILED)
        self._raise(failures, now, account.user_id)

    def _refuse(self, account: UserAccount, now: datetime, reason: str) -> NoReturn:
        failures = throttle.Failures(account.failed_attempts, account.locked_until if reason == "locked" else None)
        self._store.write(lambda conn: self._audit_failure(conn, account.user_id, now, reason, failures),
                          failure=SAVE_FAILED)
        self._raise(failures, now, account.user_id)

    def _refuse_unknown(self, key: str, typed: str, now: datetime) -> NoReturn:
        locked = self._unknown.locked_until(key, now)
        if locked is not None:
            failures = throttle.Failures(0, locked)
        else:
            failures = self._unknown.wrong_pin(key, now, max_failed=self._config.max_failed_attempts,
                                               lockout_s=self._config.lockout_s)
        detail_id = shown(typed)
        self._store.write(lambda conn: self._audit_failure(conn, "unknown-user", now, "unknown_user", failures,
                                                           typed=detail_id), failure=SAVE_FAILED)
        self._raise(failures, now, detail_id)

    def _audit_failure(self, conn: sqlite3.Connection, actor: str, now: datetime, reason: str,
                       failures: throttle.Failures, **extra: str) -> None:
        audit.append(conn, at=now, actor=actor, action="sign_in_failed", exam_id=None,
                     detail={"reason": reason, "failed_attempts": failures.failed_attempts, **extra})
        if failures.locks_now and failures.locked_until is not None:
            audit.append(conn, at=now, actor=actor, action="account_locked", exam_id=None,
                         detail={"locked_until": failures.locked_until.isoformat(), **extra})

    def _raise(self, failures: throttle.Failures, now: datetime, who: str) -> NoReturn:
        left = throttle.seconds_left(failures.locked_until, now)
        if left:
            log.warning("sign-in refused for %s: locked for %d s", shown(who), left)
            minutes = max(1, round(left / 60))
            raise AccountLockedError(
                f"Too many wrong PINs: sign-in is locked for about {minutes} min. An administrator can unlock it.",
                retry_after_s=left)
        log.warning("sign-in refused for %s", shown(who))
        raise SignInError(REFUSED)

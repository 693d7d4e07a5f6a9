"""Accounts of the people who use the box: made, changed and unlocked by an administrator (CLI or
kiosk), and signed in at the kiosk (appliance/auth/sign_ins.py). Every change is audited."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from appliance.auth.identity import checked_display_name, checked_role, checked_user_id
from appliance.auth.pins import PinHasher
from appliance.auth.roles import Role
from appliance.auth.sign_ins import ActiveSignIn, SignIn, SignIns
from appliance.config import AuthConfig
from appliance.domain import utc_now
from appliance.errors import UserInputError, UserNotFoundError
from appliance.store import ExamStore, audit, users
from appliance.store.users import UserAccount

SAVE_FAILED = "The appliance could not save the change to the user: storage is full or failing. Call support."


class Accounts:
    """Users and sign-ins over one open store.

    Args:
        store: the open exam store (users and sign-ins live in its database).
        config: the [auth] section (idle timeout, lock-out).
        hasher: PIN hasher (argon2id); tests may pass cheaper parameters.
        clock: the current time (UTC); tests pass their own.
    """

    def __init__(self, store: ExamStore, config: AuthConfig, *, hasher: PinHasher | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self._store = store
        self._hasher = hasher or PinHasher()
        self._clock = clock
        self.sign_ins = SignIns(store, config, self._hasher, clock)

    def add_user(self, user_id: str, display_name: str, role: Role | str, pin: str, *, actor: str) -> UserAccount:
        """Make an account ('user_added'). Raises UserInputError (bad id, name, role or PIN; id taken)."""
        account = UserAccount(user_id=checked_user_id(user_id), display_name=checked_display_name(display_name),
                              role=checked_role(role), disabled=False, failed_attempts=0, locked_until=None,
                              created_at=self._clock())
        pin_hash = self._hasher.hash(pin)

        def work(conn: sqlite3.Connection) -> None:
            if users.get_user(conn, account.user_id) is not None:
                raise UserInputError(f"A user with the id {account.user_id!r} already exists.",
                                     reason_code="user_exists")
            users.insert_user(conn, account, pin_hash)
            self._audit(conn, actor, "user_added", account.user_id, role=account.role.value)

        self._store.write(work, failure=SAVE_FAILED)
        return account

    def set_pin(self, user_id: str, pin: str, *, actor: str) -> None:
        """Give a user a new PIN ('pin_changed'); their sign-ins end (a PIN is changed when it leaked).
        Raises UserInputError (PIN off policy), UserNotFoundError."""
        pin_hash = self._hasher.hash(pin)
        self._change(user_id, actor, "pin_changed", lambda conn, uid: users.set_pin_hash(conn, uid, pin_hash),
                     end_sign_ins="pin_changed")

    def disable(self, user_id: str, *, actor: str) -> None:
        """Refuse the user's sign-ins from now on and end the active ones ('user_disabled')."""
        self._change(user_id, actor, "user_disabled", lambda conn, uid: users.set_disabled(conn, uid, True),
                     end_sign_ins="account_disabled")

    def enable(self, user_id: str, *, actor: str) -> None:
        self._change(user_id, actor, "user_enabled", lambda conn, uid: users.set_disabled(conn, uid, False))

    def unlock(self, user_id: str, *, actor: str) -> None:
        """End a lock-out after wrong PINs, and forget the wrong PINs ('account_unlocked')."""
        self._change(user_id, actor, "account_unlocked", lambda conn, uid: users.set_failures(conn, uid, 0, None))

    def get(self, user_id: str) -> UserAccount:
        """Raises UserNotFoundError."""
        account = self._store.read(lambda conn: users.get_user(conn, user_id.strip().lower()))
        if account is None:
            raise UserNotFoundError(f"No user with the id {user_id.strip()!r}.")
        return account

    def list_users(self) -> list[UserAccount]:
        """Every user, in user-id order."""
        return self._store.read(users.list_users)

    def sign_in(self, user_id: str, pin: str) -> SignIn:
        """See SignIns.sign_in."""
        return self.sign_ins.sign_in(user_id, pin)

    def resume(self, token: str, *, activity: bool = True) -> UserAccount:
        """The signed-in user of `token`; see SignIns.active."""
        return self.sign_ins.active(token, activity=activity).user

    def active(self, token: str, *, activity: bool = True) -> ActiveSignIn:
        """See SignIns.active."""
        return self.sign_ins.active(token, activity=activity)

    def sign_out(self, token: str) -> None:
        """See SignIns.sign_out."""
        self.sign_ins.sign_out(token)

    def _change(self, user_id: str, actor: str, action: str,
                update: Callable[[sqlite3.Connection, str], bool], *, end_sign_ins: str = "") -> None:
        uid = user_id.strip().lower()
        now = self._clock()

        def work(conn: sqlite3.Connection) -> None:
            if not update(conn, uid):
                raise UserNotFoundError(f"No user with the id {user_id.strip()!r}.")
            ended = users.end_sign_ins_of(conn, uid, now, end_sign_ins) if end_sign_ins else 0
            self._audit(conn, actor, action, uid, sign_ins_ended=ended)

        self._store.write(work, failure=SAVE_FAILED)

    def _audit(self, conn: sqlite3.Connection, actor: str, action: str, user_id: str, **detail: object) -> None:
        audit.append(conn, at=self._clock(), actor=actor, action=action, exam_id=None,
                     detail={"user_id": user_id, **detail})

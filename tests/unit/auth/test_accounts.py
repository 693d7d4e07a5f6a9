"""Accounts and sign-in over a real SQLite store: lock-out, unlock, idle timeout, no user enumeration, audit."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from auth_fakes import Clock, quick_hasher

from appliance.auth import Accounts, Role
from appliance.auth.demo import ensure_demo_users
from appliance.auth.pins import PinHasher
from appliance.auth.tokens import token_sha256
from appliance.config import AuthConfig
from appliance.errors import AccountLockedError, SignInError, UserInputError, UserNotFoundError
from appliance.store import ExamStore


def actions(store: ExamStore) -> list[str]:
    return [entry.action for entry in store.audit_entries()]


def test_add_and_list_users(accounts: Accounts, store: ExamStore) -> None:
    made = accounts.add_user(" Amina ", "Amina K.", "technician", "4821", actor="root")
    accounts.add_user("boss", "The Boss", Role.ADMIN, "9999", actor="root")
    assert made.user_id == "amina" and made.role is Role.TECHNICIAN and not made.disabled
    assert [u.user_id for u in accounts.list_users()] == ["amina", "boss"]
    assert accounts.get("AMINA") == made
    entry = store.audit_entries()[0]
    assert (entry.action, entry.actor, entry.detail["user_id"]) == ("user_added", "root", "amina")
    row = store.read(lambda conn: conn.execute("SELECT pin_hash FROM users WHERE user_id='amina'").fetchone())
    assert row["pin_hash"].startswith("$argon2id$") and "4821" not in row["pin_hash"]


@pytest.mark.parametrize(("user_id", "name", "role", "pin", "reason"), [
    ("", "x", "technician", "1234", "user_invalid"),
    ("a b", "x", "technician", "1234", "user_invalid"),
    ("x" * 33, "x", "technician", "1234", "user_invalid"),
    ("amina", "", "technician", "1234", "user_invalid"),
    ("amina", "bad\nname", "technician", "1234", "user_invalid"),
    ("amina", "x", "doctor", "1234", "user_invalid"),
    ("amina", "x", "technician", "12", "pin_invalid"),
])
def test_bad_accounts_are_refused(accounts: Accounts, user_id: str, name: str, role: str, pin: str,
                                  reason: str) -> None:
    with pytest.raises(UserInputError) as info:
        accounts.add_user(user_id, name, role, pin, actor="root")
    assert info.value.reason_code == reason
    assert accounts.list_users() == []


def test_a_user_id_is_taken_once(accounts: Accounts) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    with pytest.raises(UserInputError) as info:
        accounts.add_user("AMINA", "Other", Role.ADMIN, "1111", actor="root")
    assert info.value.reason_code == "user_exists"


def test_sign_in_resume_sign_out(accounts: Accounts, store: ExamStore) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    signed = accounts.sign_in("Amina", "4821")
    assert signed.user.user_id == "amina" and len(signed.token) >= 43 and signed.csrf_token
    assert accounts.resume(signed.token).user_id == "amina"
    stored = store.read(lambda conn: [r[0] for r in conn.execute("SELECT token_sha256 FROM sign_ins")])
    assert stored == [token_sha256(signed.token)]  # the token itself is never stored
    accounts.sign_out(signed.token)
    with pytest.raises(SignInError) as info:
        accounts.resume(signed.token)
    assert info.value.reason_code == "sign_in_required"
    assert actions(store)[-2:] == ["signed_in", "signed_out"]
    accounts.sign_out(signed.token)  # twice: nothing more
    assert actions(store)[-1] == "signed_out" and len(actions(store)) == 3


def test_unknown_tokens_are_refused(accounts: Accounts) -> None:
    for token in ["", "x", "y" * 10_000]:
        with pytest.raises(SignInError):
            accounts.resume(token)


def test_lock_out_after_max_failed_attempts_then_unlock(accounts: Accounts, store: ExamStore, clock: Clock) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    for _ in range(2):
        with pytest.raises(SignInError) as info:
            accounts.sign_in("amina", "0000")
        assert type(info.value) is SignInError
    assert accounts.get("amina").failed_attempts == 2
    with pytest.raises(AccountLockedError) as locked:
        accounts.sign_in("amina", "0000")  # the third (max_failed_attempts) locks
    assert locked.value.retry_after_s == 300 and locked.value.http_status == 423
    with pytest.raises(AccountLockedError):
        accounts.sign_in("amina", "4821")  # even the right PIN, while locked
    assert actions(store)[1:] == ["sign_in_failed", "sign_in_failed", "sign_in_failed", "account_locked",
                                  "sign_in_failed"]
    assert store.audit_entries()[-1].detail["reason"] == "locked"
    accounts.unlock("amina", actor="boss")
    assert accounts.sign_in("amina", "4821").user.failed_attempts == 0
    assert actions(store)[-2:] == ["account_unlocked", "signed_in"]


def test_the_lock_ends_by_itself(accounts: Accounts, clock: Clock) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    for _ in range(3):
        with pytest.raises(SignInError):
            accounts.sign_in("amina", "0000")
    clock.advance(299)
    with pytest.raises(AccountLockedError) as info:
        accounts.sign_in("amina", "4821")
    assert info.value.retry_after_s == 1
    clock.advance(1)
    accounts.sign_in("amina", "4821")


def test_a_right_pin_resets_the_count(accounts: Accounts) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    for _ in range(2):
        with pytest.raises(SignInError):
            accounts.sign_in("amina", "0000")
    accounts.sign_in("amina", "4821")
    assert accounts.get("amina").failed_attempts == 0


def test_unknown_user_gets_the_same_answer_and_is_locked_alike(accounts: Accounts, store: ExamStore) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    answers = []
    for user_id in ("amina", "nobody", "bad id\n\x1b[31m"):
        with pytest.raises(SignInError) as info:
            accounts.sign_in(user_id, "0000")
        answers.append((type(info.value), info.value.reason_code, info.value.message, info.value.http_status))
    assert len(set(answers)) == 1
    for _ in range(2):
        with pytest.raises(SignInError):
            accounts.sign_in("nobody", "0000")
    with pytest.raises(AccountLockedError):
        accounts.sign_in("nobody", "0000")
    failed = [e for e in store.audit_entries() if e.action == "sign_in_failed" and e.actor == "unknown-user"]
    assert failed[1].detail["typed"] == "'bad id\\n\\x1b[31m'"  # escaped, never raw


def test_unknown_user_costs_a_hash(store: ExamStore, clock: Clock) -> None:
    calls: list[str] = []

    class Counting(PinHasher):
        def verify(self, pin_hash: str, pin: str) -> bool:
            calls.append(pin_hash[:9])
            return super().verify(pin_hash, pin)

    accounts = Accounts(store, AuthConfig(), hasher=Counting(PasswordHasher(time_cost=1, memory_cost=1024,
                                                                             parallelism=1, type=Type.ID)),
                        clock=clock)
    with pytest.raises(SignInError):
        accounts.sign_in("nobody", "1234")
    assert calls == ["$argon2id"]


def test_disabled_users_cannot_sign_in_and_are_signed_out(accounts: Accounts, store: ExamStore) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    signed = accounts.sign_in("amina", "4821")
    accounts.disable("amina", actor="boss")
    with pytest.raises(SignInError):
        accounts.resume(signed.token)
    with pytest.raises(SignInError) as info:
        accounts.sign_in("amina", "4821")
    assert info.value.message.startswith("User id or PIN not recognised")
    accounts.enable("amina", actor="boss")
    accounts.sign_in("amina", "4821")
    assert [e.action for e in store.audit_entries()][2:] == ["user_disabled", "sign_in_failed", "user_enabled",
                                                           "signed_in"]
    assert store.audit_entries()[2].detail["sign_ins_ended"] == 1


def test_changes_to_a_missing_user(accounts: Accounts) -> None:
    for change in (accounts.disable, accounts.enable, accounts.unlock):
        with pytest.raises(UserNotFoundError):
            change("nobody", actor="boss")
    with pytest.raises(UserNotFoundError):
        accounts.set_pin("nobody", "1234", actor="boss")
    with pytest.raises(UserNotFoundError):
        accounts.get("nobody")


def test_set_pin_ends_sign_ins(accounts: Accounts) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    signed = accounts.sign_in("amina", "4821")
    accounts.set_pin("amina", "5555", actor="amina")
    with pytest.raises(SignInError):
        accounts.resume(signed.token)
    with pytest.raises(SignInError):
        accounts.sign_in("amina", "4821")
    accounts.sign_in("amina", "5555")


def test_idle_timeout(accounts: Accounts, store: ExamStore, clock: Clock) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    signed = accounts.sign_in("amina", "4821")
    clock.advance(170)
    assert accounts.resume(signed.token).user_id == "amina"  # activity: the 180 s start again
    clock.advance(170)
    state = accounts.active(signed.token, activity=False)  # polling the warning is no activity
    assert state.seconds_left == 10
    clock.advance(11)
    with pytest.raises(SignInError) as info:
        accounts.resume(signed.token)
    assert info.value.reason_code == "signed_out_idle" and "3 min" in info.value.message
    with pytest.raises(SignInError) as again:
        accounts.resume(signed.token)
    assert again.value.reason_code == "sign_in_required"
    last = store.audit_entries()[-1]
    assert (last.action, last.actor, last.detail) == ("signed_out", "amina", {"reason": "idle_timeout"})


def test_a_new_sign_in_replaces_the_old_one(accounts: Accounts) -> None:
    accounts.add_user("amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    first = accounts.sign_in("amina", "4821")
    second = accounts.sign_in("amina", "4821")
    with pytest.raises(SignInError):
        accounts.resume(first.token)
    assert accounts.resume(second.token).user_id == "amina"


def test_an_old_hash_is_upgraded_at_sign_in(store: ExamStore, clock: Clock) -> None:
    Accounts(store, AuthConfig(), hasher=quick_hasher(), clock=clock).add_user(
        "amina", "Amina", Role.TECHNICIAN, "4821", actor="root")
    stronger = PinHasher(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1, type=Type.ID))
    Accounts(store, AuthConfig(), hasher=stronger, clock=clock).sign_in("amina", "4821")
    row = store.read(lambda conn: conn.execute("SELECT pin_hash FROM users").fetchone())
    assert "m=2048,t=2,p=1" in row["pin_hash"]
    assert store.audit_entries()[-1].detail["pin_rehashed"] is True


def test_demo_users_only_when_asked_and_the_box_has_none(store: ExamStore, clock: Clock) -> None:
    off = Accounts(store, AuthConfig(), hasher=quick_hasher(), clock=clock)
    assert ensure_demo_users(off) == [] and off.list_users() == []
    on = Accounts(store, AuthConfig(demo_users=True), hasher=quick_hasher(), clock=clock)
    assert ensure_demo_users(on) == ["demo-tech", "demo-admin"]
    assert on.sign_in("demo-tech", "1234").user.role is Role.TECHNICIAN
    assert on.sign_in("demo-admin", "9876").user.role is Role.ADMIN
    assert ensure_demo_users(on) == []


def test_roles() -> None:
    assert Role.ADMIN.allows(Role.TECHNICIAN) and Role.ADMIN.allows(Role.ADMIN)
    assert Role.TECHNICIAN.allows(Role.TECHNICIAN) and not Role.TECHNICIAN.allows(Role.ADMIN)

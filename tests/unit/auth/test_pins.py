"""PIN policy and argon2id hashing (real argon2-cffi)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from auth_fakes import quick_hasher

from appliance.auth.pins import PinHasher, check_pin
from appliance.errors import UserInputError


@pytest.mark.parametrize("pin", ["1234", "000000", "123456789012"])
def test_policy_accepts_4_to_12_digits(pin: str) -> None:
    check_pin(pin)


@pytest.mark.parametrize("pin", ["", "123", "1234567890123", "12a4", " 1234", "1234\n", "١٢٣٤", "12.4"])
def test_policy_refuses_the_rest(pin: str) -> None:
    with pytest.raises(UserInputError) as info:
        check_pin(pin)
    assert info.value.reason_code == "pin_invalid"
    assert "4 to 12 digits" in info.value.message


def test_hash_is_argon2id_salted_and_verifies() -> None:
    hasher = quick_hasher()
    first, second = hasher.hash("4821"), hasher.hash("4821")
    assert first.startswith("$argon2id$") and first != second
    assert hasher.verify(first, "4821") and hasher.verify(second, "4821")
    assert not hasher.verify(first, "4822")


def test_a_damaged_hash_never_matches() -> None:
    hasher = quick_hasher()
    assert not hasher.verify("not a hash", "4821")
    assert not hasher.verify("$argon2id$v=19$m=1024,t=1,p=1$AAAA$BBBB", "4821")
    assert hasher.needs_rehash("not a hash")


def test_hashing_refuses_a_pin_off_policy() -> None:
    with pytest.raises(UserInputError):
        quick_hasher().hash("12")


def test_rehash_when_parameters_change() -> None:
    old = quick_hasher().hash("4821")
    stronger = PinHasher(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1, type=Type.ID))
    assert stronger.needs_rehash(old)
    assert stronger.verify(old, "4821")  # the old hash still signs in; it is then upgraded
    assert not stronger.needs_rehash(stronger.hash("4821"))


def test_default_parameters_are_argon2id() -> None:
    assert PinHasher().hash("4821").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_only_argon2id() -> None:
    with pytest.raises(ValueError):
        PinHasher(PasswordHasher(type=Type.I))


def test_decoy_matches_nothing() -> None:
    quick_hasher().verify_decoy("1234")  # spends the time, raises nothing

"""PINs: the policy (4 to 12 digits) and their argon2id hashes (PHC strings).

A PIN is short, so its hash must be slow: argon2id with argon2-cffi's defaults (RFC 9106's
low-memory profile: 3 passes over 64 MiB) takes tens of milliseconds on the box. Wrong guesses are
also throttled by the account lock (appliance/auth/accounts.py).
"""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.errors import UserInputError

MIN_DIGITS = 4
MAX_DIGITS = 12
PIN_RULE = f"A PIN is {MIN_DIGITS} to {MAX_DIGITS} digits (0-9)."
# [0-9], not \d: \d also matches other scripts' digits, which a PIN pad cannot type.
_PIN = re.compile(rf"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}")


def check_pin(pin: str) -> None:
    """Raises UserInputError (reason pin_invalid) when `pin` breaks the PIN policy."""
    if not _PIN.fullmatch(pin):
        raise UserInputError(f"This PIN cannot be used. {PIN_RULE}", reason_code="pin_invalid")


class PinHasher:
    """argon2id hashing and verification of PINs.

    Args:
        hasher: an argon2-cffi PasswordHasher (argon2id); its parameters are the ones new hashes get
            and that older hashes are upgraded to (`needs_rehash`). Default: argon2-cffi's defaults.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher(type=Type.ID)
        if self._hasher.type is not Type.ID:
            raise ValueError("PINs are hashed with argon2id")
        self._decoy: str | None = None

    def hash(self, pin: str, *, check: bool = True) -> str:
        """The PHC string of `pin` (with a fresh salt). Raises UserInputError for a PIN off policy
        (unless `check` is False: upgrading the hash of a PIN in use, made under an older policy)."""
        if check:
            check_pin(pin)
        return self._hasher.hash(pin)

    def verify(self, pin_hash: str, pin: str) -> bool:
        """Whether `pin` matches `pin_hash`; compared in constant time by argon2. A damaged hash never matches."""
        try:
            return self._hasher.verify(pin_hash, pin)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, pin_hash: str) -> bool:
        """Whether `pin_hash` was made with other parameters than this hasher's (then store a new one)."""
        try:
            return self._hasher.check_needs_rehash(pin_hash)
        except InvalidHashError:
            return True

    def verify_decoy(self, pin: str) -> None:
        """Spend the time of one verification and match nothing: for a user id that does not exist,
        so that the answer's timing does not tell which ids do."""
        if self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_hex(16))
        self.verify(self._decoy, pin)

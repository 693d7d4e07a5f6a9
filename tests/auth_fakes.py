"""Helpers for the sign-in tests: a clock the test moves, and argon2id at cheap parameters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher, Type

from appliance.auth.pins import PinHasher


class Clock:
    """The time the code under test reads; `advance` moves it on."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def quick_hasher() -> PinHasher:
    """Real argon2id, with one pass over 1 MiB so the suite stays fast."""
    return PinHasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID))

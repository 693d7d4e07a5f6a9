"""Wrong PINs in a row lock a user id for a while: the rule, and its memory for ids that do not exist.

An id that does not exist is locked exactly like an account, in memory, so that a lock (or its
absence) does not tell an attacker which ids exist.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Failures:
    #: Wrong PINs in a row (back to 0 when the id gets locked).
    failed_attempts: int
    locked_until: datetime | None
    #: This wrong PIN is the one that locked the id.
    locks_now: bool = False


def after_wrong_pin(failed_attempts: int, now: datetime, *, max_failed: int, lockout_s: int) -> Failures:
    """The count and lock after one more wrong PIN: the `max_failed`-th in a row locks for `lockout_s`."""
    count = failed_attempts + 1
    if count >= max_failed:
        return Failures(0, now + timedelta(seconds=lockout_s), locks_now=True)
    return Failures(count, None)


def seconds_left(locked_until: datetime | None, now: datetime) -> int:
    """Whole seconds until the lock ends (rounded up); 0 when not locked."""
    if locked_until is None or now >= locked_until:
        return 0
    return math.ceil((locked_until - now).total_seconds())


class UnknownIds:
    """Wrong tries of user ids that do not exist, kept in memory for the newest `capacity` ids."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._failures: OrderedDict[str, Failures] = OrderedDict()

    def locked_until(self, user_id: str, now: datetime) -> datetime | None:
        failures = self._failures.get(user_id)
        if failures is None or seconds_left(failures.locked_until, now) == 0:
            return None
        return failures.locked_until

    def wrong_pin(self, user_id: str, now: datetime, *, max_failed: int, lockout_s: int) -> Failures:
        previous = self._failures.pop(user_id, Failures(0, None))
        failures = after_wrong_pin(previous.failed_attempts, now, max_failed=max_failed, lockout_s=lockout_s)
        self._failures[user_id] = failures
        while len(self._failures) > self._capacity:
            self._failures.popitem(last=False)
        return failures

"""When a failed send is tried again: jittered exponential backoff (tenacity's `wait_random_exponential`,
"full jitter"), so that boxes coming back online together do not knock on the PACS in step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import RetryCallState, wait_random_exponential


@dataclass(frozen=True)
class Backoff:
    """After the n-th failed attempt the wait is random in [0, min(maximum_s, initial_s * 2**(n-1))] seconds,
    and at least `floor_s`."""

    initial_s: float = 10.0
    maximum_s: float = 3600.0
    floor_s: float = 0.0

    def wait_s(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (attempts >= 1)."""
        wait = wait_random_exponential(multiplier=self.initial_s, max=self.maximum_s)
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempts)
        return max(self.floor_s, min(self.maximum_s, float(wait(state))))

    def next_attempt(self, now: datetime, attempts: int) -> datetime:
        return now + timedelta(seconds=self.wait_s(attempts))

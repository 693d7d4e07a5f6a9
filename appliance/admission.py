"""How much pixel work the box takes on at once, so that its memory stays bounded in a rush.

Two steps hold large buffers: a photo decoded with every pixel for the quality gate (36 MB for a
12-megapixel photo, 144 MB for 48), and an exam's photos decoded for the model and scored. Each takes a
slot of its kind; a request that finds none free within `wait_s` is refused with BusyError (HTTP 503 with
Retry-After: the kiosk says "busy, try again") instead of piling up more buffers than the box can hold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from appliance.errors import BusyError


@dataclass
class WorkSlots:
    """`slots` runs of one kind of work at once; others wait up to `wait_s`, then are refused."""

    slots: int
    wait_s: float
    _free: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"at least one slot is needed, got {self.slots}")
        self._free = threading.BoundedSemaphore(self.slots)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for the block. Raises BusyError when none frees up within `wait_s`."""
        if not self._free.acquire(timeout=max(0.0, self.wait_s)):
            raise BusyError("The appliance is busy: try again in a moment.",
                            detail=f"{self.slots} slot(s) taken for {self.wait_s:g} s")
        try:
            yield
        finally:
            self._free.release()


@dataclass
class Admission:
    """The slots of the exam pipeline: photos being decoded and gated, exams being scored."""

    photos: WorkSlots
    results: WorkSlots

    @classmethod
    def bounded(cls, photos_at_once: int, results_at_once: int, wait_s: float) -> Admission:
        return cls(photos=WorkSlots(photos_at_once, wait_s), results=WorkSlots(results_at_once, wait_s))

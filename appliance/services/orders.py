"""Today's scheduled patients for the kiosk's new-exam step, from the clinic's worklist (appliance.sync.worklist),
asked at most once a minute; and the order the technician picked, by accession number."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from appliance.config import SyncConfig
from appliance.domain import ScheduledOrder
from appliance.errors import ExamInputError

#: How long an answer of the worklist is reused (the kiosk may ask on every new exam).
CACHE_S = 60.0


def query_worklist(config: SyncConfig, day: date) -> list[ScheduledOrder]:
    """appliance.sync.worklist.query_worklist, imported when first asked: pynetdicom and pydicom are a
    third of the kiosk's start-up time, and most boxes have no worklist."""
    from appliance.sync.worklist import query_worklist as query

    return query(config, day)


@dataclass
class ScheduledOrders:
    config: SyncConfig
    query: Callable[[SyncConfig, date], list[ScheduledOrder]] = query_worklist
    cache_s: float = CACHE_S
    _cached: tuple[float, date, list[ScheduledOrder]] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def configured(self) -> bool:
        return self.config.worklist_configured

    def today(self, *, refresh: bool = False) -> list[ScheduledOrder]:
        """Today's orders for this box. Raises WorklistUnavailableError (not configured, offline, refused)."""
        day = date.today()  # the clinic's day: the box's local date
        with self._lock:
            cached = self._cached
            if (not refresh and cached is not None and cached[1] == day
                    and time.monotonic() - cached[0] < self.cache_s):
                return list(cached[2])
        orders = self.query(self.config, day)
        with self._lock:
            self._cached = (time.monotonic(), day, orders)
        return list(orders)

    def find(self, accession_number: str) -> ScheduledOrder:
        """Today's order with this accession number (asked again if the cached answer lacks it).
        Raises ExamInputError (not on today's worklist), WorklistUnavailableError."""
        for refresh in (False, True):
            for order in self.today(refresh=refresh):
                if order.accession_number == accession_number:
                    return order
        raise ExamInputError("This order is not on today's worklist: choose another or type the patient's id.",
                             reason_code="order_not_found")

"""The sync worker: claims due outbox items, sends each to its destination, and records what happened.

    worker = SyncWorker(store, [DicomDestination(...), FhirDestination(...)], lease_s=300, backoff=Backoff())
    worker.drain()                      # `appliance sync --once`: until nothing is due
    worker.run(stop_event, interval_s)  # the thread in `appliance serve`, the `appliance sync` service

Sent: marked sent (audited). A failure that may pass (network down, 5xx, 408/429, timeout): marked failed
with a jittered exponential backoff. A refusal for good (other 4xx, wrong credentials, an exam that cannot
be built): parked with the reason for a person, who re-queues it once fixed. The worker keeps no state a
crash could lose: the lease on each claimed item ends by itself, and receivers key on the exam's UIDs and
business identifier, so a resend never makes a second copy.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from appliance.domain import utc_now
from appliance.errors import StorageError
from appliance.store import ExamStore
from appliance.store.records import OutboxItem
from appliance.sync.backoff import Backoff
from appliance.sync.destinations import Destination
from appliance.sync.transport import SendError

log = logging.getLogger(__name__)


def worker_id() -> str:
    """Who holds a lease: host, process and a random tag (two workers in one process differ)."""
    return f"sync@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class PassReport:
    """What one pass (or a whole drain) did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: PassReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.parked += other.parked
        self.errors.extend(e for e in other.errors if e not in self.errors)


@dataclass
class SyncWorker:
    store: ExamStore
    destinations: Sequence[Destination]
    lease_s: float = 300.0
    backoff: Backoff = field(default_factory=Backoff)
    batch: int = 5
    owner: str = field(default_factory=worker_id)
    clock: Callable[[], datetime] = utc_now

    def run_once(self) -> PassReport:
        """Claim up to `batch` due items per destination and send them. Raises StorageError."""
        report = PassReport()
        for destination in self.destinations:
            items = self.store.outbox.claim(destination.kind, now=self.clock(), lease_s=self.lease_s,
                                            owner=self.owner, limit=self.batch)
            report.claimed += len(items)
            for index, item in enumerate(items):
                error = self._deliver(destination, item, report)
                if error is not None and not error.permanent:
                    # The receiver is down: the rest of this batch would fail the same way; try them later.
                    for rest in items[index + 1:]:
                        self._failed(rest, error.message, report)
                    break
        return report

    def drain(self, *, progress: Callable[[PassReport], None] | None = None) -> PassReport:
        """Pass after pass until nothing is due (items failing now wait for their next attempt)."""
        total = PassReport()
        while True:
            report = self.run_once()
            total.add(report)
            if progress is not None and report.claimed:
                progress(total)
            if report.claimed == 0 or (report.sent == 0 and report.parked == 0):
                return total  # nothing due, or the receivers are down: the failed items wait for their backoff

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Until `stop` is set: drain, then wait `interval_s`. Never raises (a storage failure is logged
        and tried again at the next interval): it runs beside the kiosk."""
        log.info("sync worker %s started: %s", self.owner, ", ".join(d.kind for d in self.destinations))
        while not stop.is_set():
            try:
                report = self.drain()
                if report.claimed:
                    log.info("sync: %d sent, %d failed, %d parked", report.sent, report.failed, report.parked)
            except StorageError as err:
                log.error("sync: %s (%s)", err.message, err.detail)
            except Exception:
                log.exception("sync: unexpected error; trying again in %g s", interval_s)
            stop.wait(interval_s)
        log.info("sync worker %s stopped", self.owner)

    def _deliver(self, destination: Destination, item: OutboxItem, report: PassReport) -> SendError | None:
        try:
            sent = destination.send(item)
        except SendError as err:
            if err.permanent:
                log.warning("sync: %s of exam %s parked: %s", item.kind, item.exam_id, err.message)
                if self.store.outbox.park(item.id, self.owner, reason=err.message, now=self.clock()):
                    report.parked += 1
                    report.errors.append(err.message)
            else:
                self._failed(item, err.message, report)
            return err
        except Exception as err:  # a bug must not stop the queue: this item waits, the others go on
            log.exception("sync: sending %s of exam %s failed unexpectedly", item.kind, item.exam_id)
            self._failed(item, f"Unexpected error on the appliance ({type(err).__name__}); see its log.", report)
            return None
        if self.store.outbox.mark_sent(item.id, self.owner, now=self.clock(), detail=sent):
            report.sent += 1
        return None

    def _failed(self, item: OutboxItem, message: str, report: PassReport) -> None:
        when = self.backoff.next_attempt(self.clock(), item.attempts)
        log.info("sync: %s of exam %s failed (attempt %d), next at %s: %s", item.kind, item.exam_id, item.attempts,
                 when.isoformat(timespec="seconds"), message)
        if self.store.outbox.mark_failed(item.id, self.owner, error=message, next_attempt_at=when):
            report.failed += 1
            if message not in report.errors:
                report.errors.append(message)

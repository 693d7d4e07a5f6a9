"""The worker's state machine on a real store with fake destinations: sent, retried with backoff, parked,
the rest of a batch put off when the receiver is down, a bug contained, drain ends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sync_fakes import finish

from appliance.domain import utc_now
from appliance.store import ExamStore
from appliance.store.records import OutboxItem
from appliance.sync.backoff import Backoff
from appliance.sync.transport import SendError
from appliance.sync.worker import SyncWorker


@dataclass
class FakeDestination:
    kind: str
    failures: list[SendError | Exception] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def send(self, item: OutboxItem) -> dict[str, Any]:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(item.exam_id)
        return {"objects": 1}


class Clock:
    def __init__(self) -> None:
        self.now = utc_now() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path) as opened:
        yield opened


def worker(store: ExamStore, *destinations: FakeDestination, clock: Clock) -> SyncWorker:
    return SyncWorker(store, destinations, lease_s=30, backoff=Backoff(10, 60, floor_s=1), batch=5, owner="w",
                      clock=clock)


def test_due_items_are_sent_once_and_the_sends_audited(store: ExamStore) -> None:
    ids = [finish(store, n) for n in range(7)]
    pacs, ehr, clock = FakeDestination("dicom"), FakeDestination("fhir"), Clock()
    report = worker(store, pacs, ehr, clock=clock).drain()
    assert (report.sent, report.failed, report.parked) == (14, 0, 0)
    assert pacs.sent == ids and ehr.sent == ids
    assert worker(store, pacs, ehr, clock=clock).drain().claimed == 0
    assert sum(e.action == "exam_sent" for e in store.audit_entries()) == 14


def test_a_receiver_that_is_down_puts_the_batch_off_with_backoff_then_takes_it(store: ExamStore) -> None:
    ids = [finish(store, n) for n in range(3)]
    down = SendError("The PACS could not be reached (Connection refused).", permanent=False)
    pacs, clock = FakeDestination("dicom", failures=[down]), Clock()
    report = worker(store, pacs, clock=clock).drain()
    assert (report.sent, report.failed) == (0, 3) and report.errors == [down.message]
    assert pacs.sent == []  # one refused connection, not three
    items = [store.outbox.sync_state(i)[0] for i in ids]
    assert {i.state for i in items} == {"retrying"} and {i.last_error for i in items} == {down.message}
    assert all(clock.now + timedelta(seconds=1) <= i.next_attempt_at <= clock.now + timedelta(seconds=10)
               for i in items if i.next_attempt_at)
    assert worker(store, pacs, clock=clock).drain().claimed == 0  # not due yet
    clock.now += timedelta(seconds=11)
    assert worker(store, pacs, clock=clock).drain().sent == 3 and sorted(pacs.sent) == ids  # in backoff order


def test_a_refusal_for_good_is_parked_and_the_queue_goes_on(store: ExamStore) -> None:
    first, second = finish(store, 1), finish(store, 2)
    refused = SendError("The PACS answered HTTP 400: bad dataset", permanent=True)
    pacs, clock = FakeDestination("dicom", failures=[refused]), Clock()
    report = worker(store, pacs, clock=clock).drain()
    assert (report.sent, report.parked) == (1, 1) and pacs.sent == [second]
    [parked] = store.outbox.parked()
    assert (parked.exam_id, parked.last_error) == (first, refused.message)
    clock.now += timedelta(days=1)
    assert worker(store, pacs, clock=clock).drain().claimed == 0  # a person re-queues it
    store.outbox.requeue(parked.id, actor="admin", now=clock.now)
    assert worker(store, pacs, clock=clock).drain().sent == 1 and pacs.sent == [second, first]


def test_a_bug_in_a_destination_is_retried_not_fatal(store: ExamStore) -> None:
    exam_id = finish(store, 1)
    pacs, clock = FakeDestination("dicom", failures=[RuntimeError("boom")]), Clock()
    report = worker(store, pacs, clock=clock).run_once()
    assert report.failed == 1
    [item] = store.outbox.sync_state(exam_id)[:1]
    assert item.last_error == "Unexpected error on the appliance (RuntimeError); see its log."


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_owner(store: ExamStore) -> None:
    finish(store, 1)
    clock = Clock()
    [item] = store.outbox.claim("dicom", now=clock.now, lease_s=1, owner="dead", limit=1)
    clock.now += timedelta(seconds=2)
    pacs = FakeDestination("dicom")
    assert worker(store, pacs, clock=clock).drain().sent == 1
    assert store.outbox.mark_failed(item.id, "dead", error="late", next_attempt_at=clock.now) is False
    assert store.outbox.sync_state(item.exam_id)[0].state == "sent"


def test_backoff_grows_with_attempts_within_its_bounds() -> None:
    backoff = Backoff(initial_s=2, maximum_s=30, floor_s=0.5)
    for attempts in range(1, 12):
        ceiling = min(30, 2 * 2 ** (attempts - 1))
        waits = [backoff.wait_s(attempts) for _ in range(50)]
        assert all(0.5 <= w <= max(0.5, ceiling) for w in waits)
    assert max(backoff.wait_s(10) for _ in range(200)) > 15  # jittered up to the cap, not stuck low

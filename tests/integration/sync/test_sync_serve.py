"""`appliance serve` runs the worker in its own thread when a destination is configured, and not otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fhir_receiver import FhirReceiver
from sync_exams import REAL_BUILDERS, store_exam

from appliance.config import Config
from appliance.kiosk.server import start_sync
from appliance.store import ExamStore


def test_no_destination_no_worker(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    stop = start_sync(config)
    stop()


@pytest.mark.skipif(not REAL_BUILDERS, reason="the FHIR builder is not in the tree yet")
def test_the_serve_thread_sends_what_is_finished(tmp_path: Path, fhir: FhirReceiver) -> None:
    config = Config(data_dir=str(tmp_path))
    config.sync.fhir_url, config.sync.interval_s = fhir.url, 0.1
    with ExamStore.open(tmp_path) as store:
        store_exam(store, 71)
        stop = start_sync(config)
        try:
            deadline = time.monotonic() + 30
            while fhir.count("DiagnosticReport") < 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            store_exam(store, 72)  # finished while the worker runs: it follows
            while fhir.count("DiagnosticReport") < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            stop()
        assert [b.sent for b in store.outbox.backlog()] == [0, 2]

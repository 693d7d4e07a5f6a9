"""Fixtures of the sync tests: a real Orthanc for the session (skipped, with the reason, where Debian's
orthanc packages are missing), a validating FHIR receiver per test, a store, and a worker wired to both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fhir_receiver import FhirReceiver, running_receiver
from orthanc_server import Orthanc, missing, running_orthanc
from sync_harness import wire

from appliance.config import SyncConfig
from appliance.store import ExamStore
from appliance.sync.targets import build_worker
from appliance.sync.worker import SyncWorker


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def orthanc(orthanc_server: Orthanc) -> Orthanc:
    """The session's Orthanc, emptied for this test."""
    orthanc_server.clear()
    return orthanc_server


@pytest.fixture
def fhir() -> Iterator[FhirReceiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def make_worker() -> Callable[..., SyncWorker]:
    def make(store: ExamStore, config: SyncConfig) -> SyncWorker:
        worker = build_worker(config, store)
        assert worker is not None
        return wire(worker)

    return make

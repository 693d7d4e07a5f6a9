"""Wiring the worker to the test servers: `[sync]` with short timeouts and backoffs, and the builders."""

from __future__ import annotations

import dataclasses
from typing import Any

from fhir_receiver import FhirReceiver
from orthanc_server import PASSWORD, USER, Orthanc
from sync_exams import REAL_BUILDERS, builders

from appliance.config import SyncConfig
from appliance.sync.destinations import DicomDestination, FhirDestination
from appliance.sync.worker import SyncWorker


def sync_config(orthanc: Orthanc | None, fhir: FhirReceiver | None, **overrides: Any) -> SyncConfig:
    """`[sync]` pointing at the test servers, with short timeouts and backoffs."""
    config = SyncConfig(dicomweb_url="" if orthanc is None else orthanc.dicomweb_url,
                        fhir_url="" if fhir is None else fhir.url, username=USER, password=PASSWORD,
                        timeout_s=5, lease_s=10, backoff_initial_s=0.05, backoff_max_s=0.2,
                        identifier_system="urn:example:dr-screening")
    return dataclasses.replace(config, **overrides)


def wire(worker: SyncWorker) -> SyncWorker:
    """Give the worker the stand-in builders while the real ones are not in the tree."""
    if not REAL_BUILDERS:
        study, part10, bundle = builders()
        for destination in worker.destinations:
            if isinstance(destination, DicomDestination):
                destination.build, destination.part10 = study, part10
            elif isinstance(destination, FhirDestination):
                destination.build = bundle
    return worker



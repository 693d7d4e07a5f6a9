"""The sync worker as `[sync]` configures it: this box's DICOM identity, the destinations that are set,
their credentials and TLS."""

from __future__ import annotations

from appliance import __version__
from appliance.config import SyncConfig
from appliance.store import ExamStore
from appliance.sync.backoff import Backoff
from appliance.sync.credentials import load_credentials
from appliance.sync.cstore import DimseTarget
from appliance.sync.destinations import DicomDestination, FhirDestination
from appliance.sync.identity import DeviceIdentity
from appliance.sync.transport import HttpTarget
from appliance.sync.worker import SyncWorker


def device_identity(config: SyncConfig) -> DeviceIdentity:
    return DeviceIdentity(software_version=__version__, station_name=config.station_name, ae_title=config.ae_title)


def build_worker(config: SyncConfig, store: ExamStore, *, owner: str | None = None) -> SyncWorker | None:
    """The worker for the configured destinations; None when none is configured.
    Raises ConfigError (an unreadable password or token file)."""
    if not config.configured:
        return None
    credentials = load_credentials(config)
    device = device_identity(config)
    destinations: list[DicomDestination | FhirDestination] = []
    if config.dicomweb_url or config.dimse_host:
        stow = None if not config.dicomweb_url else HttpTarget(
            "PACS", config.dicomweb_url, credentials, ca_file=config.ca_file, timeout_s=config.timeout_s)
        dimse = None if not config.dimse_host else DimseTarget(
            config.dimse_host, config.dimse_port, called_ae=config.dimse_ae_title, calling_ae=config.ae_title,
            timeout_s=config.timeout_s)
        destinations.append(DicomDestination(store, device, stow=stow, dimse=dimse))
    if config.fhir_url:
        target = HttpTarget("EHR", config.fhir_url, credentials, ca_file=config.ca_file, timeout_s=config.timeout_s)
        destinations.append(FhirDestination(store, device, target, identifier_system=config.identifier_system))
    worker = SyncWorker(store, destinations, lease_s=config.lease_s,
                        backoff=Backoff(config.backoff_initial_s, config.backoff_max_s))
    if owner is not None:
        worker.owner = owner
    return worker

"""The box's health, for the status page and `GET /healthz` (no sign-in, so no patient data here).

`ok` is honest: false when any check fails (model not loaded, camera not answering, store not writable,
disk nearly full). `phi_at_rest` says whether the data folder is encrypted at rest (checked once at start,
appliance.store.at_rest); it is not a check: a box that must have it does not start without it. Nor are
the sync backlog (`sync`) and the drift watch (`drift`): neither makes the box not ok.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

from appliance import __version__
from appliance.config import DriftConfig, SyncConfig
from appliance.devices import Camera
from appliance.devices.state import device_state
from appliance.domain import ExamState
from appliance.drift import watch_drift
from appliance.errors import StorageError
from appliance.inference.model import Model
from appliance.operating_point import status as operating_point_status
from appliance.store import ExamStore
from appliance.store.at_rest import AtRest
from appliance.store.codec import to_iso
from appliance.store.files import atomic_write

#: Below this many free bytes in the data folder the box is not ok: a few exams' photos at most.
MIN_FREE_BYTES = 200 * 1024 * 1024
PROBE_NAME = ".health-probe"


@dataclass
class BoxStatus:
    store: ExamStore
    model: Model
    camera: Camera
    min_free_bytes: int = MIN_FREE_BYTES
    sync_config: SyncConfig | None = None
    #: Whether the data folder is encrypted at rest, as found at start, and whether the config requires it.
    at_rest: AtRest | None = None
    at_rest_required: bool = False
    drift_config: DriftConfig = field(default_factory=DriftConfig)

    def health(self) -> dict[str, Any]:
        """Every check with its own `ok`, and the box's `ok` (all of them)."""
        info = self.model.info
        checks: dict[str, dict[str, Any]] = {
            "model": {"ok": self.model.is_ready, "name": info.name, "version": info.version, "sha256": info.sha256,
                      "runner": info.runner},
            "camera": self._camera(),
            "store": self._store(),
            "disk": self._disk(),
        }
        try:
            point = operating_point_status(self.store.site_operating_point(), self.model.manifest)
        except StorageError:
            point = None
        return {
            "ok": all(check["ok"] for check in checks.values()),
            "software_version": __version__,
            **checks,
            "operating_point": point,
            "sync": self.sync(with_reasons=False),
            "phi_at_rest": None if self.at_rest is None else {
                **self.at_rest.to_dict(), "required": self.at_rest_required, "sentence": self.at_rest.sentence},
            "drift": self.drift(),
        }

    def drift(self) -> dict[str, Any]:
        """The drift watch's report (appliance.drift): a "watch" asks a person to look at the camera and the
        site; it never makes the box not ok."""
        try:
            return watch_drift(self.store, self.model.manifest, self.drift_config).as_dict()
        except StorageError as err:
            return {"state": "unknown", "error": type(err).__name__}

    def sync(self, *, with_reasons: bool) -> dict[str, Any]:
        """The sync backlog (see `sync_status`); it never makes the box not ok: screening goes on offline."""
        try:
            return sync_status(self.store, self.sync_config or SyncConfig(), with_reasons=with_reasons)
        except StorageError as err:
            return {"configured": bool(self.sync_config and self.sync_config.configured), "error": type(err).__name__}

    def _camera(self) -> dict[str, Any]:
        # device_state never raises: a camera driver failing must not break the health check. Its sentence
        # names folders and ports, never a patient or a photo's file.
        state = device_state(self.camera)
        return {"ok": state.connected, "kind": self.camera.name, "connected": state.connected, "state": state.state}

    def _store(self) -> dict[str, Any]:
        try:
            atomic_write(self.store.data_dir / PROBE_NAME, b"ok")
            self.store.write(lambda conn: conn.execute("SELECT 1").fetchone())
            open_exams = len(self.store.worklist(states=(ExamState.OPEN,), limit=1000))
        except (OSError, StorageError) as err:
            return {"ok": False, "writable": False, "error": type(err).__name__}
        return {"ok": True, "writable": True, "open_exams": open_exams}

    def _disk(self) -> dict[str, Any]:
        try:
            usage = shutil.disk_usage(self.store.data_dir)
        except OSError as err:
            return {"ok": False, "error": os.strerror(err.errno or 0)}
        return {"ok": usage.free >= self.min_free_bytes, "free_bytes": usage.free, "total_bytes": usage.total,
                "min_free_bytes": self.min_free_bytes}


_USERINFO = re.compile(r"//[^/@\s]*@")


def sync_status(store: ExamStore, config: SyncConfig, *, with_reasons: bool = True,
                parked_limit: int = 20) -> dict[str, Any]:
    """Per destination: where it goes, items waiting (of them retrying), parked, sent, the oldest waiting and
    the last success; the parked items (id, destination, exam id, and with `with_reasons` the server's
    message, for signed-in pages and the CLI only). Never a credential or patient data.
    Raises StorageError."""
    targets = {"dicom": ", ".join(t for t in (_safe_url(config.dicomweb_url),
                                              f"dimse://{config.dimse_ae_title}@{config.dimse_host}:{config.dimse_port}"
                                              if config.dimse_host else "") if t),
               "fhir": _safe_url(config.fhir_url)}
    lines = [{"kind": b.kind, "target": targets.get(b.kind, ""), "pending": b.pending, "retrying": b.retrying,
              "parked": b.parked, "sent": b.sent,
              "oldest_pending_at": None if b.oldest_pending_at is None else to_iso(b.oldest_pending_at),
              "last_success": None if b.last_sent_at is None else to_iso(b.last_sent_at)}
             for b in store.outbox.backlog()]
    parked = []
    for item in store.outbox.parked(parked_limit):
        entry: dict[str, Any] = {"item": item.id, "kind": item.kind, "exam_id": item.exam_id,
                                 "parked_at": None if item.parked_at is None else to_iso(item.parked_at)}
        if with_reasons:
            entry["reason"] = item.last_error or ""
        parked.append(entry)
    return {"configured": config.configured, "worklist_configured": config.worklist_configured,
            "destinations": lines, "parked": parked}


def _safe_url(url: str) -> str:
    """The URL without any user:password@."""
    return _USERINFO.sub("//", url)

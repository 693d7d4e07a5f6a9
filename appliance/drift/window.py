"""The drift watch at the edge: the rolling window read from the store, then assessed (appliance.drift.watch)."""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.config import DriftConfig
from appliance.domain import utc_now
from appliance.drift.watch import DriftReport, GateVerdict, assess_drift
from appliance.inference.manifest import ModelManifest
from appliance.store import ExamStore, recent


def watch_drift(store: ExamStore, manifest: ModelManifest, config: DriftConfig, *,
                now: datetime | None = None) -> DriftReport:
    """The drift report of the photos and scores in the window ending `now`. Raises StorageError."""
    since = None if config.window_days <= 0 else (now or utc_now()) - timedelta(days=config.window_days)
    verdicts = store.read(lambda conn: recent.gate_verdicts(conn, limit=config.window_photos, since=since))
    scores = store.read(lambda conn: recent.model_scores(conn, manifest.sha256, limit=config.window_scores,
                                                         since=since))
    return assess_drift([GateVerdict(passed, reason) for passed, reason in verdicts], scores, manifest.validation,
                        config)

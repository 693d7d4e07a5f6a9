"""What /metrics reads at each scrape (appliance.observability.collector) from a box's health, and what the
pipeline's observer counts (BoxMetrics), on health answers made here."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from appliance import timing
from appliance.domain import Outcome, QualityReport
from appliance.observability.collector import BoxCollector
from appliance.observability.metrics import BoxMetrics

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
HEALTH: dict[str, Any] = {
    "ok": False, "software_version": "1.2.3",
    "model": {"ok": True, "name": "dr", "version": "0.3.0", "sha256": "ab" * 32, "runner": "onnxruntime"},
    "camera": {"ok": False, "kind": "uvc", "connected": False},
    "store": {"ok": True}, "disk": {"ok": True},
    "sync": {"configured": True, "destinations": [
        {"kind": "dicom", "pending": 3, "retrying": 2, "parked": 1, "sent": 40,
         "oldest_pending_at": "2026-03-02T11:00:00.000000+00:00", "last_success": "2026-03-02T10:00:00+00:00"},
        {"kind": "fhir", "pending": 0, "retrying": 0, "parked": 0, "sent": 0, "oldest_pending_at": None,
         "last_success": None}]},
    "drift": {"state": "watch", "window_days": 30,
              "rejects": {"state": "watch", "photos": 300, "rejected": 75, "share": 0.25, "reference": 0.09,
                          "bound": 0.19, "by_reason": {"too_dark": 0.2, "blurred": 0.05}},
              "scores": {"state": "too_few", "scores": 12, "distance": None, "bound": 0.15,
                         "referable_share": None}},
}


class Status:
    def __init__(self, health: dict[str, Any] | Exception) -> None:
        self.answer = health

    def health(self) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def scrape(status: Status, update_state: Any = lambda: "committed") -> dict[tuple[str, frozenset[Any]], float]:
    registry = CollectorRegistry()
    registry.register(BoxCollector(status, update_state, clock=lambda: NOW))
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for s in family.samples}


def test_the_checks_versions_sync_drift_and_update_state() -> None:
    got = scrape(Status(HEALTH))
    assert got[("appliance_ok", frozenset())] == 0
    assert got[("appliance_check_ok", frozenset({("check", "camera")}))] == 0
    assert got[("appliance_check_ok", frozenset({("check", "model")}))] == 1
    assert got[("appliance_model_ready", frozenset())] == 1
    assert got[("appliance_software_info", frozenset({("version", "1.2.3")}))] == 1
    dicom = frozenset({("destination", "dicom")})
    assert (got[("appliance_sync_pending_items", dicom)], got[("appliance_sync_retrying_items", dicom)],
            got[("appliance_sync_parked_items", dicom)], got[("appliance_sync_sent_total", dicom)]) == (3, 2, 1, 40)
    assert got[("appliance_sync_oldest_pending_age_seconds", dicom)] == 3600
    assert got[("appliance_sync_last_success_timestamp_seconds", dicom)] == datetime(
        2026, 3, 2, 10, 0, tzinfo=timezone.utc).timestamp()
    fhir = frozenset({("destination", "fhir")})
    assert got[("appliance_sync_oldest_pending_age_seconds", fhir)] == 0
    assert ("appliance_sync_last_success_timestamp_seconds", fhir) not in got  # never sent: no time to give
    assert got[("appliance_drift_watch", frozenset({("check", "rejects")}))] == 1
    assert got[("appliance_drift_watch", frozenset({("check", "scores")}))] == 0
    assert got[("appliance_drift_reject_share", frozenset())] == 0.25
    assert got[("appliance_drift_reject_share_by_reason", frozenset({("reason", "too_dark")}))] == 0.2
    assert ("appliance_drift_score_distance", frozenset()) not in got  # too few scores: no distance yet
    assert got[("appliance_update_state", frozenset({("state", "committed")}))] == 1


def test_a_box_that_cannot_tell_its_health_still_answers_a_scrape() -> None:
    got = scrape(Status(RuntimeError("store gone")))
    assert got == {("appliance_ok", frozenset()): 0}


def test_unreadable_parts_are_left_out_and_a_failing_update_state_is_unknown() -> None:
    def broken() -> str:
        raise OSError("no state file")

    health = {**HEALTH, "sync": {"configured": True, "error": "StorageError"},
              "drift": {"state": "unknown", "error": "StorageError"}}
    got = scrape(Status(health), broken)
    assert not any(name.startswith(("appliance_sync", "appliance_drift")) for name, _ in got)
    assert got[("appliance_update_state", frozenset({("state", "unknown")}))] == 1


def test_box_metrics_count_what_the_pipeline_tells_them() -> None:
    metrics = BoxMetrics()
    try:
        metrics.photo_gated(QualityReport(passed=True))
        metrics.photo_gated(QualityReport(passed=False, reason_codes=("too_dark", "blurred")))
        metrics.photo_gated(QualityReport(passed=False))
        metrics.photo_refused("image_unreadable")
        metrics.exam_finished(Outcome.REFER)
        with timing.stage("model"):
            pass
        body, content_type = metrics.exposition()
    finally:
        metrics.close()
    got = {(s.name, frozenset(s.labels.items())): s.value
           for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert got[("appliance_gate_rejects_total", frozenset({("reason", "too_dark")}))] == 1  # the first reason only
    assert got[("appliance_gate_rejects_total", frozenset({("reason", "blurred")}))] == 0
    assert got[("appliance_gate_rejects_total", frozenset({("reason", "unknown")}))] == 1
    assert got[("appliance_photos_gated_total", frozenset({("verdict", "rejected")}))] == 2
    assert got[("appliance_photos_refused_total", frozenset({("reason", "image_unreadable")}))] == 1
    assert got[("appliance_exams_total", frozenset({("outcome", "REFER")}))] == 1
    assert got[("appliance_exams_total", frozenset({("outcome", "UNGRADABLE")}))] == 0  # there from the start
    assert got[("appliance_stage_duration_seconds_count", frozenset({("stage", "model")}))] == 1
    assert ("process_start_time_seconds", frozenset()) in got


def test_a_closed_box_no_longer_observes_the_stages() -> None:
    metrics = BoxMetrics()
    metrics.close()
    with timing.stage("gate"):
        pass
    body = metrics.exposition()[0].decode()
    assert 'appliance_stage_duration_seconds_count{stage="gate"} 0.0' in body

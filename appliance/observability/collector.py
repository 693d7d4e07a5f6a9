"""What /metrics reads at each scrape: the box's health (the checks /healthz makes, the sync backlog, the
drift watch) and the update state, as gauges. Never a patient's data: counts, shares, versions and times."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.observability.update_state import UNKNOWN

log = logging.getLogger(__name__)

#: The checks of BoxStatus.health() that decide the box's `ok`.
CHECKS = ("model", "camera", "store", "disk")


class StatusSource(Protocol):
    def health(self) -> dict[str, Any]: ...


class BoxCollector(Collector):
    def __init__(self, status: StatusSource, update_state: Callable[[], str],
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._status = status
        self._update_state = update_state
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        try:
            health = self._status.health()
        except Exception:  # a scrape must answer even when the box cannot tell its health
            log.exception("metrics: the box's health could not be read")
            yield _gauge("appliance_ok", "1 when every check of /healthz passes.", 0.0)
            return
        yield from _checks(health)
        yield from _sync(health.get("sync"), self._clock())
        yield from _drift(health.get("drift"))
        state = _safe(self._update_state, UNKNOWN)
        update = GaugeMetricFamily("appliance_update_state", "The fleet update's state (1 for the current one).",
                                   labels=["state"])
        update.add_metric([state], 1.0)
        yield update


def _checks(health: Mapping[str, Any]) -> Iterator[Metric]:
    yield _gauge("appliance_ok", "1 when every check of /healthz passes.", float(bool(health.get("ok"))))
    checks = GaugeMetricFamily("appliance_check_ok", "Each check of /healthz: 1 passed, 0 failed.", labels=["check"])
    for name in CHECKS:
        check = health.get(name)
        if isinstance(check, Mapping):
            checks.add_metric([name], float(bool(check.get("ok"))))
    yield checks
    model = health.get("model")
    if isinstance(model, Mapping):
        yield _gauge("appliance_model_ready", "1 while the model is loaded and its runner active.",
                     float(bool(model.get("ok"))))
        info = InfoMetricFamily("appliance_model", "The model that screens: name, version, file sha256, runner.")
        info.add_metric([], {key: str(model.get(key, "")) for key in ("name", "version", "sha256", "runner")})
        yield info
    software = InfoMetricFamily("appliance_software", "The firmware's version.")
    software.add_metric([], {"version": str(health.get("software_version", ""))})
    yield software


def _sync(sync: Any, now: datetime) -> Iterator[Metric]:
    if not isinstance(sync, Mapping) or "destinations" not in sync:
        return  # the queue could not be read: the store check says why
    yield _gauge("appliance_sync_configured", "1 when a PACS or EHR destination is configured.",
                 float(bool(sync.get("configured"))))
    families = {
        "pending": GaugeMetricFamily("appliance_sync_pending_items", "Results not yet sent (retrying ones included).",
                                     labels=["destination"]),
        "retrying": GaugeMetricFamily("appliance_sync_retrying_items", "Unsent results that failed at least once "
                                      "and are tried again by themselves.", labels=["destination"]),
        "parked": GaugeMetricFamily("appliance_sync_parked_items", "Results the destination refused for good, "
                                    "waiting for a person.", labels=["destination"]),
    }
    sent = CounterMetricFamily("appliance_sync_sent", "Results the destination confirmed.", labels=["destination"])
    age = GaugeMetricFamily("appliance_sync_oldest_pending_age_seconds",
                            "Age of the oldest unsent result (0 with none).", labels=["destination"])
    last = GaugeMetricFamily("appliance_sync_last_success_timestamp_seconds",
                             "When the destination last confirmed a result (Unix time).", labels=["destination"])
    for line in sync["destinations"]:
        kind = [str(line["kind"])]
        for key, family in families.items():
            family.add_metric(kind, float(line[key]))
        sent.add_metric(kind, float(line["sent"]))
        oldest = _time(line.get("oldest_pending_at"))
        age.add_metric(kind, 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()))
        success = _time(line.get("last_success"))
        if success is not None:
            last.add_metric(kind, success.timestamp())
    yield from families.values()
    yield from (sent, age, last)


def _drift(drift: Any) -> Iterator[Metric]:
    if not isinstance(drift, Mapping) or "rejects" not in drift:
        return
    rejects, scores = drift["rejects"], drift["scores"]
    watch = GaugeMetricFamily("appliance_drift_watch", "1 while a drift check is beyond its bound (see /healthz "
                              "drift).", labels=["check"])
    watch.add_metric(["rejects"], float(rejects["state"] == "watch"))
    watch.add_metric(["scores"], float(scores["state"] == "watch"))
    yield watch
    yield _gauge("appliance_drift_window_photos", "Gate verdicts in the drift window.", rejects["photos"])
    yield _gauge("appliance_drift_window_scores", "Scores of gradable photos by this model in the drift window.",
                 scores["scores"])
    yield _gauge("appliance_drift_reject_share_reference", "The share of photos the gate is expected to reject.",
                 rejects["reference"])
    yield _gauge("appliance_drift_reject_share_bound", "The reject share above which the drift watch says watch.",
                 rejects["bound"])
    if rejects["share"] is not None:
        yield _gauge("appliance_drift_reject_share", "Share of the window's photos the gate rejected.",
                     rejects["share"])
        by_reason = GaugeMetricFamily("appliance_drift_reject_share_by_reason", "Share of the window's photos "
                                      "rejected, by first reason.", labels=["reason"])
        for reason, share in rejects["by_reason"].items():
            by_reason.add_metric([str(reason)], float(share))
        yield by_reason
    yield _gauge("appliance_drift_score_distance_bound", "The score distance above which the drift watch says watch.",
                 scores["bound"])
    if scores["distance"] is not None:
        yield _gauge("appliance_drift_score_distance", "KS distance of the window's scores from the closest mix of "
                     "the model's validation scores (0..1).", scores["distance"])
        yield _gauge("appliance_drift_referable_share", "Share of referable-like scores in that closest mix.",
                     scores["referable_share"])


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _safe(read: Callable[[], str], fallback: str) -> str:
    try:
        return read() or fallback
    except Exception:
        log.exception("metrics: the update state could not be read")
        return fallback

"""One box's metrics, in a registry of its own (never prometheus-client's global one, so a process may hold
several boxes, as the tests do).

Counted as they happen (reset when the process restarts, as Prometheus counters are): exams by outcome,
photos gated by verdict, gate rejects by first reason and photos refused before the gate (the pipeline's
observer: this box only), and the latency of each pipeline stage (appliance.timing's observers: every
pipeline of the process, which on an appliance is this box's). Read at each scrape
(appliance.observability.collector): the checks of /healthz, the sync backlog, model and software
versions, the drift watch and the update state.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from appliance import timing
from appliance.domain import Outcome, QualityReport
from appliance.observability.collector import BoxCollector, StatusSource
from appliance.quality.guidance import REASON_MESSAGES

#: The text format every Prometheus reads (prometheus-client >= 0.22 calls its own 1.0.0, for UTF-8 names that
#: these metrics do not use; Debian's Prometheus 2.42 predates it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds: a photo decodes and is gated in tens of milliseconds, the model takes up to seconds on a CPU.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class BoxMetrics:
    """The pipeline's observer (hooks.ExamObserver) and the registry /metrics exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_start_time_seconds tells a restart; memory, CPU, fds
        self._exams = Counter("appliance_exams", "Exams finished, by outcome.", ["outcome"], registry=self.registry)
        self._photos = Counter("appliance_photos_gated", "Photos judged by the quality gate, by verdict.",
                               ["verdict"], registry=self.registry)
        self._rejects = Counter("appliance_gate_rejects", "Photos the quality gate rejected, by first reason.",
                                ["reason"], registry=self.registry)
        self._refused = Counter("appliance_photos_refused", "Photos refused before the gate (unreadable, too "
                                "large, too many, the same photo for both eyes), by reason code.", ["reason"],
                                registry=self.registry)
        self._stages = Histogram("appliance_stage_duration_seconds", "Time of each step of the exam pipeline.",
                                 ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        # Every known series from 0, so that rate() and increase() see the first exam of a kind.
        for outcome in Outcome:
            self._exams.labels(outcome.value)
        for verdict in ("passed", "rejected"):
            self._photos.labels(verdict)
        for reason in REASON_MESSAGES:
            self._rejects.labels(reason)
        for stage in timing.STAGES:
            self._stages.labels(stage)
        self._watching = False
        timing.add_observer(self._stage_done)

    def close(self) -> None:
        """Stop observing the pipeline's stages (the box closes)."""
        timing.remove_observer(self._stage_done)

    def watch(self, status: StatusSource, update_state: Callable[[], str]) -> None:
        """Also expose, read at each scrape, what `status.health()` says and `update_state()`. Once only."""
        if self._watching:
            raise RuntimeError("this box's status is already watched")
        self.registry.register(BoxCollector(status, update_state))
        self._watching = True

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE

    def _stage_done(self, stage: str, seconds: float) -> None:
        self._stages.labels(stage).observe(seconds)

    # --- hooks.ExamObserver -------------------------------------------------------------------------
    def photo_gated(self, report: QualityReport) -> None:
        self._photos.labels("passed" if report.passed else "rejected").inc()
        if not report.passed:
            self._rejects.labels(report.reason_codes[0] if report.reason_codes else "unknown").inc()

    def photo_refused(self, reason_code: str) -> None:
        self._refused.labels(reason_code).inc()

    def exam_finished(self, outcome: Outcome) -> None:
        self._exams.labels(outcome.value).inc()

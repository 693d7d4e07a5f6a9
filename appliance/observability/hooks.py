"""What the exam pipeline tells an observer (appliance/pipeline.py calls these; metrics.BoxMetrics listens).
Stage latencies come from appliance.timing instead.

Kept free of prometheus-client so the pipeline depends on nothing but this protocol; `UNOBSERVED` is the
observer of a pipeline nobody watches (tools, tests).
"""

from __future__ import annotations

from typing import Protocol

from appliance.domain import Outcome, QualityReport


class ExamObserver(Protocol):
    def photo_gated(self, report: QualityReport) -> None:
        """A photo was judged by the gate and stored with its verdict."""
        ...

    def photo_refused(self, reason_code: str) -> None:
        """A photo was refused before the gate (unreadable, too many photos, same photo for both eyes...)."""
        ...

    def exam_finished(self, outcome: Outcome) -> None:
        """An exam's result was stored."""
        ...


class Unobserved:
    """An observer that does nothing."""

    def photo_gated(self, report: QualityReport) -> None:
        pass

    def photo_refused(self, reason_code: str) -> None:
        pass

    def exam_finished(self, outcome: Outcome) -> None:
        pass


UNOBSERVED: ExamObserver = Unobserved()

"""Watching the box from the fleet: the pipeline's hooks (`hooks`, light) and the box's Prometheus metrics
(`metrics.BoxMetrics`, `collector`; imported from their modules, so the pipeline never loads
prometheus-client)."""

from appliance.observability.hooks import UNOBSERVED, ExamObserver, Unobserved

__all__ = ["UNOBSERVED", "ExamObserver", "Unobserved"]

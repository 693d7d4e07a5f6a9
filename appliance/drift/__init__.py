"""The drift watch: whether a site's photos and the model's scores still look like the data the model was
validated on (pure checks in `watch` and `scores`, the store read in `window`)."""

from appliance.drift.scores import ScoreShift, score_shift
from appliance.drift.watch import DriftReport, DriftState, GateVerdict, RejectDrift, ScoreDrift, assess_drift
from appliance.drift.window import watch_drift

__all__ = ["DriftReport", "DriftState", "GateVerdict", "RejectDrift", "ScoreDrift", "ScoreShift", "assess_drift",
           "score_shift", "watch_drift"]

"""The image-quality gate: is it a fundus photo, is it well exposed, evenly lit, sharp, and which
field does it show. Pure numpy/OpenCV, no I/O.

`assess(image, thresholds)` returns a QualityReport; `REASON_MESSAGES` maps each reason code to
its operator sentence; `retake_guidance(reports, max_attempts)` advises the operator after
repeated failures for one eye; `field_from_metrics` / `eye_from_metrics` read the field position
from a report's metrics, `circle_from_metrics` the fitted aperture circle (for the model's square).
"""

from appliance.quality.field_of_view import circle_from_metrics
from appliance.quality.field_position import eye_from_metrics, field_from_metrics
from appliance.quality.gate import assess, judge, measure
from appliance.quality.guidance import REASON_MESSAGES, RetakeGuidance, retake_guidance

__all__ = [
    "REASON_MESSAGES",
    "RetakeGuidance",
    "assess",
    "circle_from_metrics",
    "eye_from_metrics",
    "field_from_metrics",
    "judge",
    "measure",
    "retake_guidance",
]

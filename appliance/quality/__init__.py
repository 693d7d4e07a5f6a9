"""The image-quality gate: field of view, exposure and focus checks. Pure numpy/OpenCV, no I/O.

`assess(image, thresholds)` returns a QualityReport; `REASON_MESSAGES` maps each reason code to
its operator sentence.
"""

from appliance.quality.gate import REASON_MESSAGES, assess

__all__ = ["REASON_MESSAGES", "assess"]

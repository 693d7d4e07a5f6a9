"""The calibration's typed error: an operator sentence and a reason code, like every appliance error."""

from __future__ import annotations

from appliance.errors import ModelError


class CalibrationError(ModelError):
    """The INT8 model could not be produced or checked (no data, a bad quantized graph, a missing model)."""

    reason_code = "calibration_failed"

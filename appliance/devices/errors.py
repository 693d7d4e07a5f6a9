"""The devices' own errors: a camera that is unplugged, silent or speaking nonsense, a scanner's refused scan.

Each is a CameraError (503: the box's camera failed, not the technician's request) or an ApplianceError with an
operator sentence; a photo file that is not a photo is refused with the image errors of appliance.errors.
"""

from __future__ import annotations

from appliance.errors import ApplianceError, CameraError


class CameraDisconnectedError(CameraError):
    """The camera's device is not there (unplugged, switched off, a missing folder): reconnect it."""

    reason_code = "camera_disconnected"


class CameraTimeoutError(CameraError):
    """The camera was asked for a photo and none came in time."""

    reason_code = "camera_timeout"


class CameraProtocolError(CameraError):
    """The camera answered, but with an error or with something that breaks its protocol."""

    reason_code = "camera_protocol"


class ScannerError(ApplianceError):
    """The barcode scanner is not there or cannot be read."""

    reason_code = "scanner_failed"
    http_status = 503

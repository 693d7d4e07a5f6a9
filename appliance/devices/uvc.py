"""A USB video camera (a fundus adapter or a handheld camera) read through OpenCV's VideoCapture.

`[camera] device` is a device index ("0"), a device path (/dev/fundus-camera, /dev/video0) or anything else
VideoCapture opens (a video file or an image sequence such as frames/%03d.png: what the tests use). A capture
grabs `[camera] burst` frames and keeps the sharpest by the quality gate's own focus measure. The device is
opened on the first capture and kept open; when a frame cannot be read it is released and reported as
disconnected, and the next capture opens it again (reconnect after an unplug).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from appliance.config import Config, QualityConfig
from appliance.devices.errors import CameraDisconnectedError
from appliance.devices.state import DeviceState
from appliance.domain import Capture, Eye, Field
from appliance.errors import CameraError

log = logging.getLogger(__name__)

JPEG_QUALITY = 95
MAX_BURST = 10


@dataclass
class UvcSettings:
    device: str
    burst: int = 1
    quality: QualityConfig = field(default_factory=QualityConfig)


def sharpness(frame_rgb: npt.NDArray[np.uint8], quality: QualityConfig) -> float:
    """The quality gate's focus metric of one frame (0 when it finds no fundus to measure)."""
    from appliance.quality import measure

    return float(measure(frame_rgb, quality).get("focus", 0.0))


class UvcCamera:
    name = "uvc"

    def __init__(self, settings: UvcSettings) -> None:
        self.settings = settings
        self._video: Any = None
        self._lock = threading.Lock()
        self._last_problem = ""

    @classmethod
    def from_config(cls, config: Config) -> UvcCamera:
        return cls(UvcSettings(device=config.camera.device, burst=config.camera.burst, quality=config.quality))

    def kinds(self) -> tuple[str, ...]:
        return ()

    def connected(self) -> bool:
        """Whether the device is there (its /dev node or file exists); cheap: no frame is grabbed."""
        device = self.settings.device.strip()
        if not device:
            return False
        if device.isdigit():
            return Path(f"/dev/video{device}").exists()
        return "%" in device or Path(device).exists()

    def state(self) -> DeviceState:
        settings = {"device": self.settings.device, "burst": str(self.settings.burst)}
        if not self.settings.device.strip():
            return DeviceState(self.name, False, "No device is configured: set [camera] device.", settings)
        if not self.connected():
            return DeviceState(self.name, False, f"The video device {self.settings.device} is not there: check its "
                               "cable.", settings)
        words = "Open and ready." if self._video is not None else "Present; opened at the first photo."
        if self._last_problem:
            words += f" Last problem: {self._last_problem}"
        return DeviceState(self.name, True, words, settings)

    def capture(self, eye: Eye, field: Field = Field.UNKNOWN, *, kind: str | None = None) -> Capture:
        """The sharpest of `burst` frames, as a JPEG.

        Raises:
            CameraError: a demo `kind` asked for. CameraDisconnectedError: no device, or no frame from it.
        """
        if kind is not None:
            raise CameraError("This camera takes real photos only: leave out the demo kind.",
                              reason_code="camera_kind_invalid")
        with self._lock:
            frames = self._grab(max(1, min(self.settings.burst, MAX_BURST)))
        rgb = [np.ascontiguousarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), dtype=np.uint8) for f in frames]
        best = max(range(len(rgb)), key=lambda i: sharpness(rgb[i], self.settings.quality)) if len(rgb) > 1 else 0
        ok, encoded = cv2.imencode(".jpg", frames[best], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise CameraError("The camera's frame could not be saved as a photo.", detail="imencode failed")
        self._last_problem = ""
        return Capture(eye=eye, image=bytes(encoded.tobytes()), source=f"camera:uvc:frame {best + 1}/{len(frames)}",
                       field=field, device=f"uvc {self.settings.device}")

    def close(self) -> None:
        with self._lock:
            self._release()

    def _grab(self, count: int) -> list[npt.NDArray[np.uint8]]:
        video = self._open()
        frames: list[npt.NDArray[np.uint8]] = []
        for _ in range(count):
            ok, frame = video.read()
            if not ok or frame is None or frame.ndim != 3:
                break
            frames.append(np.asarray(frame, dtype=np.uint8))
        if not frames:
            self._release()
            self._last_problem = "no frame came from the device"
            raise CameraDisconnectedError(
                f"The camera at {self.settings.device} gives no picture: check that it is plugged in and switched "
                "on, then try again.", detail="VideoCapture.read failed")
        return frames

    def _open(self) -> Any:
        if self._video is not None:
            return self._video
        device = self.settings.device.strip()
        if not device:
            raise CameraDisconnectedError("No video device is configured: set [camera] device, then restart.")
        video = cv2.VideoCapture(int(device) if device.isdigit() else device)
        if not video.isOpened():
            video.release()
            self._last_problem = "the device could not be opened"
            raise CameraDisconnectedError(
                f"The camera at {device} cannot be opened: check that it is plugged in and switched on, then try "
                "again.", detail="VideoCapture not opened")
        if device.isdigit() or device.startswith("/dev/"):
            video.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a live device: no frame from before the press
        log.info("uvc camera %s opened", device)
        self._video = video
        return video

    def _release(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None

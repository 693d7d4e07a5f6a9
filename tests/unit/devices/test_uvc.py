"""The UVC camera with OpenCV reading a real video file as its device (an MJPG AVI of real fundus photos, written
here with cv2.VideoWriter): a frame per press, the sharpest of a burst by the gate's focus measure, a device
that disappears reported with a sentence and used again when it is back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from appliance.devices.errors import CameraDisconnectedError
from appliance.devices.simulated import SAMPLES_DIR
from appliance.devices.uvc import UvcCamera, UvcSettings, sharpness
from appliance.domain import Eye

SIZE = (640, 480)


def frame(name: str) -> np.ndarray:
    image = cv2.imread(str(SAMPLES_DIR / name), cv2.IMREAD_COLOR)
    return cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """Blurred, blurred, sharp, blurred frames of one eye, then the same again."""
    sharp = frame("healthy_01_right.jpg")
    blurred = cv2.GaussianBlur(sharp, (0, 0), 6)
    path = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, SIZE)
    assert writer.isOpened()
    for image in [blurred, blurred, sharp, blurred] * 2:
        writer.write(image)
    writer.release()
    return path


def test_a_press_grabs_a_frame_and_a_burst_keeps_the_sharpest(video: Path) -> None:
    single = UvcCamera(UvcSettings(device=str(video), burst=1))
    try:
        first = single.capture(Eye.RIGHT)
        assert first.image.startswith(b"\xff\xd8") and first.source == "camera:uvc:frame 1/1"
    finally:
        single.close()
    burst = UvcCamera(UvcSettings(device=str(video), burst=4))
    try:
        best = burst.capture(Eye.LEFT)
        assert best.source == "camera:uvc:frame 3/4" and best.eye is Eye.LEFT
        decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(best.image, np.uint8), cv2.IMREAD_COLOR),
                               cv2.COLOR_BGR2RGB)
        blurred = cv2.cvtColor(cv2.GaussianBlur(frame("healthy_01_right.jpg"), (0, 0), 6), cv2.COLOR_BGR2RGB)
        assert sharpness(decoded, burst.settings.quality) > 2 * sharpness(blurred, burst.settings.quality)
    finally:
        burst.close()


def test_an_unplugged_device_is_a_sentence_and_is_used_again_when_back(video: Path) -> None:
    camera = UvcCamera(UvcSettings(device=str(video), burst=4))
    try:
        camera.capture(Eye.RIGHT)
        camera.capture(Eye.RIGHT)  # the 8 frames are used up: the stream has ended, as when a cable is pulled
        with pytest.raises(CameraDisconnectedError, match="gives no picture: check that it is plugged in"):
            camera.capture(Eye.RIGHT)
        hidden = video.with_suffix(".away")
        video.rename(hidden)
        assert not camera.connected() and "not there" in camera.state().state
        with pytest.raises(CameraDisconnectedError, match="cannot be opened"):
            camera.capture(Eye.RIGHT)
        hidden.rename(video)
        assert camera.connected()
        assert camera.capture(Eye.RIGHT).image.startswith(b"\xff\xd8")  # reopened
    finally:
        camera.close()


def test_no_device_configured_is_a_sentence() -> None:
    camera = UvcCamera(UvcSettings(device=""))
    assert not camera.connected() and "No device is configured" in camera.state().state
    with pytest.raises(CameraDisconnectedError, match="set \\[camera\\] device"):
        camera.capture(Eye.RIGHT)

"""The serial camera over a real pseudo-terminal pair, against a simulated camera speaking
docs/serial-protocol.md: the photo on the line and by path, and its faults (noise, partial lines, silence, a
busy camera, an error reply, a wrong checksum, the cable pulled in the middle of a photo and put back)."""

from __future__ import annotations

from pathlib import Path

import pytest
from serial_sim import Faults, SimulatedSerialCamera

from appliance.config import LimitsConfig
from appliance.devices.errors import CameraDisconnectedError, CameraProtocolError, CameraTimeoutError
from appliance.devices.serial_camera.camera import SerialCamera, SerialSettings
from appliance.domain import Eye, Field


def camera_at(link: Path, **overrides: object) -> SerialCamera:
    values: dict[str, object] = {"port": str(link), "limits": LimitsConfig(), "timeout_s": 0.5, "wait_s": 3.0,
                                 "retries": 2}
    values.update(overrides)
    return SerialCamera(SerialSettings(**values))  # type: ignore[arg-type]


@pytest.fixture
def sim(tmp_path: Path, fundus_jpeg: bytes) -> SimulatedSerialCamera:
    device = SimulatedSerialCamera(tmp_path / "fundus-camera", fundus_jpeg)
    yield device
    device.unplug()


def test_a_photo_comes_over_the_line_with_its_checksum(sim: SimulatedSerialCamera, fundus_jpeg: bytes) -> None:
    camera = camera_at(sim.link)
    try:
        capture = camera.capture(Eye.LEFT, Field.MACULA)
        assert capture.image == fundus_jpeg and capture.eye is Eye.LEFT and capture.field is Field.MACULA
        assert "SIMCAM" in capture.device
        sim.wait_for("ACK")
        assert sim.commands[:4] == ["IDENTIFY", "READY?", "FIRE L", "ACK"]
        assert camera.connected() and "Answering: SIMCAM" in camera.state().state
    finally:
        camera.close()


def test_noise_and_partial_lines_are_read_through(sim: SimulatedSerialCamera, fundus_jpeg: bytes) -> None:
    sim.faults = Faults(garbage=b"\x00\xff\x13\x88boot v1.2\r\n#####\n" + b"x" * 300 + b"\n", dribble=True)
    camera = camera_at(sim.link, timeout_s=2.0)
    try:
        assert camera.capture(Eye.RIGHT).image == fundus_jpeg
    finally:
        camera.close()


def test_a_silent_camera_is_asked_again_then_given_up_with_a_sentence(sim: SimulatedSerialCamera,
                                                                      fundus_jpeg: bytes) -> None:
    sim.faults = Faults(silent_ready=2, busy=2)
    camera = camera_at(sim.link)
    try:
        assert camera.capture(Eye.RIGHT).image == fundus_jpeg
        assert sim.commands.count("READY?") == 5 and sim.commands.count("FIRE R") == 1
        sim.faults = Faults(silent_ready=10)
        with pytest.raises(CameraTimeoutError, match="does not answer: check that it is switched on"):
            camera.capture(Eye.RIGHT)
        assert sim.commands.count("FIRE R") == 1  # never fired without READY
    finally:
        camera.close()


def test_a_wrong_checksum_is_sent_again_and_a_damaged_line_given_up(sim: SimulatedSerialCamera,
                                                                    fundus_jpeg: bytes) -> None:
    sim.faults = Faults(bad_crc=2)
    camera = camera_at(sim.link)
    try:
        assert camera.capture(Eye.RIGHT).image == fundus_jpeg
        assert sim.commands.count("RESEND") == 2 and sim.commands.count("FIRE R") == 1
        sim.faults = Faults(bad_crc=5)
        with pytest.raises(CameraProtocolError, match="arrived damaged 3 times"):
            camera.capture(Eye.RIGHT)
    finally:
        camera.close()


def test_an_error_reply_is_the_cameras_sentence(sim: SimulatedSerialCamera) -> None:
    sim.faults = Faults(fire_error="ERR 21 flash recharging")
    camera = camera_at(sim.link)
    try:
        with pytest.raises(CameraProtocolError, match=r"flash is not charged: code 21 \(flash recharging\)"):
            camera.capture(Eye.RIGHT)
    finally:
        camera.close()


def test_unplugged_in_the_middle_of_a_photo_then_plugged_back(sim: SimulatedSerialCamera, fundus_jpeg: bytes) -> None:
    sim.faults = Faults(unplug_after=len(fundus_jpeg) // 2)
    camera = camera_at(sim.link)
    try:
        with pytest.raises((CameraDisconnectedError, CameraTimeoutError)) as caught:
            camera.capture(Eye.RIGHT)
        assert "check that it is plugged in" in caught.value.message or "did not send" in caught.value.message
        with pytest.raises(CameraDisconnectedError, match="plugged in"):
            camera.capture(Eye.RIGHT)  # the port's device is gone
        assert not camera.connected()
        sim.faults = Faults()
        sim.replug()
        assert camera.capture(Eye.RIGHT).image == fundus_jpeg  # opened again under the same name
    finally:
        camera.close()


def test_a_photo_by_path_only_inside_the_cameras_folder(tmp_path: Path, sim: SimulatedSerialCamera,
                                                        fundus_jpeg: bytes) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "IMG0001.JPG").write_bytes(fundus_jpeg)
    sim.faults = Faults(image_path="IMG0001.JPG")
    camera = camera_at(sim.link, folder=str(share))
    try:
        assert camera.capture(Eye.RIGHT).image == fundus_jpeg
        sim.faults = Faults(image_path="../../etc/passwd")
        with pytest.raises(CameraProtocolError, match="outside its folder"):
            camera.capture(Eye.RIGHT)
    finally:
        camera.close()


def test_no_port_is_a_sentence_not_a_crash(tmp_path: Path) -> None:
    camera = camera_at(tmp_path / "nothing-here")
    assert not camera.connected()
    assert "not there" in camera.state().state
    with pytest.raises(CameraDisconnectedError, match="cannot be opened"):
        camera.capture(Eye.RIGHT)

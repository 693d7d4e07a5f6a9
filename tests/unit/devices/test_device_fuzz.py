"""Fuzzed device input ends in a typed error, never a crash or a hang: random bytes as a photo file (behind a JPEG,
PNG or DICOM magic too), random lines from a serial camera, random replies over a real pty."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from serial_sim import Faults, SimulatedSerialCamera

from appliance.config import LimitsConfig
from appliance.devices.serial_camera.camera import SerialCamera, SerialSettings
from appliance.devices.serial_camera.protocol import Noise, parse_reply
from appliance.devices.serial_link import MAX_LINE
from appliance.devices.watch_folder.photo_file import photo_from_bytes
from appliance.domain import Eye
from appliance.errors import ApplianceError, CameraError, ImageError
from tests.fuzzing import fuzz_settings, hang_guard

LIMITS = LimitsConfig(min_image_side=8)
MAGICS = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"\0" * 128 + b"DICM"]


@fuzz_settings(300)
@given(magic=st.sampled_from(MAGICS), body=st.binary(max_size=4096))
def test_any_file_is_a_photo_or_an_image_error(magic: bytes, body: bytes) -> None:
    with hang_guard():
        try:
            photo = photo_from_bytes(magic + body, "0" * 64, LIMITS)
        except ImageError as exc:
            assert exc.reason_code and exc.message.endswith(".")
            return
    assert photo.image[:3] in (b"\xff\xd8\xff", b"\x89PN")


@fuzz_settings(500)
@given(line=st.binary(max_size=MAX_LINE + 8) | st.text(max_size=80).map(lambda t: t.encode("utf-8")))
def test_any_line_parses_to_a_reply(line: bytes) -> None:
    reply = parse_reply(line)
    if b"\n" in line or any(b > 0x7E for b in line):
        assert isinstance(reply, Noise)


REPLIES = st.lists(st.sampled_from([b"READY\n", b"BUSY\n", b"OK\n", b"ID X\n", b"ERR 90 x\n", b"IMAGE 5 00000000\n",
                                    b"IMAGE 99999999999 FFFFFFFF\n", b"IMAGE-PATH /etc/passwd\n", b"\xff\x00\n",
                                    b"READY", b"\r\n"]) | st.binary(max_size=64), max_size=6)


@pytest.mark.slow
@fuzz_settings(int(os.environ.get("DEVICE_FUZZ_EXAMPLES", "25")))
@given(noise=REPLIES)
def test_a_camera_answering_nonsense_gives_typed_errors(tmp_path_factory: pytest.TempPathFactory,
                                                        noise: list[bytes]) -> None:
    folder = tmp_path_factory.mktemp("pty")
    sim = SimulatedSerialCamera(folder / "cam", b"\xff\xd8\xff" + b"\0" * 64, Faults(garbage=b"".join(noise)))
    camera = SerialCamera(SerialSettings(port=str(sim.link), limits=LIMITS, timeout_s=0.2, wait_s=0.6, retries=1))
    try:
        with hang_guard():
            try:
                camera.capture(Eye.RIGHT)
            except (CameraError, ImageError) as exc:
                assert isinstance(exc, ApplianceError) and exc.message
    finally:
        camera.close()
        sim.unplug()

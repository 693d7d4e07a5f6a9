from pathlib import Path

import pytest

from appliance.devices.simulated import SimulatedCamera
from appliance.domain import Eye
from appliance.errors import CameraError


def test_shipped_samples_cycle_per_eye() -> None:
    camera = SimulatedCamera()
    rights = camera.samples(Eye.RIGHT)
    assert len(rights) >= 2 and len(camera.samples(Eye.LEFT)) >= 2
    shots = [camera.capture(Eye.RIGHT) for _ in range(len(rights) + 1)]
    assert [s.source for s in shots[: len(rights)]] == [f"camera:simulated:{p.name}" for p in rights]
    assert shots[-1].image == rights[0].read_bytes()
    assert all(s.eye is Eye.RIGHT and s.image.startswith(b"\xff\xd8") for s in shots)


def test_no_sample_for_an_eye_is_a_camera_error(tmp_path: Path) -> None:
    (tmp_path / "a_right.jpg").write_bytes(b"\xff\xd8\xff")
    camera = SimulatedCamera(tmp_path)
    assert camera.capture(Eye.RIGHT).image == b"\xff\xd8\xff"
    with pytest.raises(CameraError, match="no left-eye sample"):
        camera.capture(Eye.LEFT)


def test_samples_have_their_attribution() -> None:
    camera = SimulatedCamera()
    text = (camera.samples_dir / "ATTRIBUTION.md").read_text()
    assert "CC BY 4.0" in text
    for path in camera.samples(Eye.RIGHT) + camera.samples(Eye.LEFT):
        assert path.name in text

from pathlib import Path

import pytest

from appliance.devices.simulated import DEFAULT_KIND, SimulatedCamera
from appliance.domain import Eye
from appliance.errors import CameraError

DEMO_KINDS = ("blurred", "dark", "healthy", "offcentre", "referable")


def test_shipped_samples_have_every_demo_kind_for_both_eyes() -> None:
    camera = SimulatedCamera()
    assert camera.kinds() == DEMO_KINDS and camera.connected()
    for eye in Eye:
        for kind in DEMO_KINDS:
            files = camera.samples(eye, kind)
            assert files, (eye, kind)
            assert all(p.name.startswith(f"{kind}_") and p.stem.endswith(f"_{eye.value}") for p in files)
    assert len(camera.samples(Eye.RIGHT, "healthy")) >= 2 and len(camera.samples(Eye.LEFT, "referable")) >= 2


def test_without_a_kind_the_referable_photos_cycle_per_eye() -> None:
    camera = SimulatedCamera()
    rights = camera.samples(Eye.RIGHT, DEFAULT_KIND)
    assert len(rights) >= 2
    shots = [camera.capture(Eye.RIGHT) for _ in range(len(rights) + 1)]
    assert [s.source for s in shots[: len(rights)]] == [f"camera:simulated:{p.name}" for p in rights]
    assert shots[-1].image == rights[0].read_bytes()
    assert all(s.eye is Eye.RIGHT and s.image.startswith(b"\xff\xd8") for s in shots)
    assert camera.capture(Eye.LEFT).source == f"camera:simulated:{camera.samples(Eye.LEFT, DEFAULT_KIND)[0].name}"


def test_each_kind_and_eye_has_its_own_rotation() -> None:
    camera = SimulatedCamera()
    blurred = camera.samples(Eye.LEFT, "blurred")
    first = camera.capture(Eye.LEFT, kind="blurred")
    assert camera.capture(Eye.LEFT, kind="healthy").source.endswith(camera.samples(Eye.LEFT, "healthy")[0].name)
    assert camera.capture(Eye.RIGHT, kind="blurred").source.endswith(camera.samples(Eye.RIGHT, "blurred")[0].name)
    second = camera.capture(Eye.LEFT, kind="blurred")
    assert [first.source, second.source] == [f"camera:simulated:{p.name}" for p in blurred[:2]]
    assert camera.capture(Eye.LEFT).source.endswith(camera.samples(Eye.LEFT, DEFAULT_KIND)[0].name)


def test_an_unknown_kind_is_a_camera_error_naming_the_kinds() -> None:
    camera = SimulatedCamera()
    with pytest.raises(CameraError, match="no 'cataract' photos: choose one of blurred, dark, healthy") as caught:
        camera.capture(Eye.RIGHT, kind="cataract")
    assert caught.value.reason_code == "camera_failed"


def test_a_folder_without_kinds_serves_every_photo_of_the_eye(tmp_path: Path) -> None:
    (tmp_path / "a_right.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "b_01_left.jpg").write_bytes(b"\xff\xd8\xfe")
    camera = SimulatedCamera(tmp_path)
    assert camera.kinds() == ("a", "b")
    assert camera.capture(Eye.RIGHT).image == b"\xff\xd8\xff"
    assert camera.capture(Eye.LEFT, kind="b").image == b"\xff\xd8\xfe"
    with pytest.raises(CameraError, match="no b right-eye sample"):
        camera.capture(Eye.RIGHT, kind="b")


def test_no_sample_for_an_eye_is_a_camera_error(tmp_path: Path) -> None:
    (tmp_path / "a_right.jpg").write_bytes(b"\xff\xd8\xff")
    camera = SimulatedCamera(tmp_path)
    assert camera.capture(Eye.RIGHT).image == b"\xff\xd8\xff"
    with pytest.raises(CameraError, match="no left-eye sample"):
        camera.capture(Eye.LEFT)
    assert not camera.connected()
    assert SimulatedCamera(tmp_path / "missing").kinds() == ()


def test_samples_have_their_attribution() -> None:
    camera = SimulatedCamera()
    text = (camera.samples_dir / "ATTRIBUTION.md").read_text()
    assert "CC BY 4.0" in text and "never used for evaluation claims" in text
    for path in camera.samples(Eye.RIGHT) + camera.samples(Eye.LEFT):
        assert path.name in text

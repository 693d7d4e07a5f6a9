"""`appliance devices [--json]` on real folders and a real pty: each kind from the config, connected or not, its
state in a sentence; the exit status says whether the devices answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serial_sim import SimulatedScanner, SimulatedSerialCamera

from appliance.cli import main
from appliance.config import load_config
from appliance.devices.registry import CAMERA_KINDS, open_camera
from appliance.errors import ConfigError


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, *extra: str) -> tuple[int, str]:
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path / "var"}"\n{toml}')
    status = main(["devices", "--config", str(config), *extra])
    return status, capsys.readouterr().out


def test_a_watch_folder_and_no_scanner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "export").mkdir()
    status, out = run(tmp_path, capsys, f'[camera]\nkind = "watch_folder"\nfolder = "{tmp_path / "export"}"\n',
                      "--json")
    found = json.loads(out)
    assert status == 0
    assert found["camera"]["kind"] == "watch_folder" and found["camera"]["connected"]
    assert found["camera"]["state"].startswith(f"Watching {tmp_path / 'export'}")
    assert found["scanner"]["configured"] is False and "keyboard-wedge" in found["scanner"]["state"]


def test_a_serial_camera_and_scanner_answering_then_not(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        fundus_jpeg: bytes) -> None:
    camera = SimulatedSerialCamera(tmp_path / "fundus-camera", fundus_jpeg)
    scanner = SimulatedScanner(tmp_path / "barcode")
    toml = (f'[camera]\nkind = "serial"\ndevice = "{camera.link}"\ntimeout_s = 0.5\n'
            f'[scanner]\nport = "{scanner.link}"\n')
    try:
        status, out = run(tmp_path, capsys, toml)
        assert status == 0, out
        assert "serial           connected" in out and "Answering: SIMCAM FUNDUS-1" in out
        assert "barcode scanner  connected" in out
        camera.unplug()
        status, out = run(tmp_path, capsys, toml)
        assert status == 3 and "serial           NOT connected" in out and "not there" in out
    finally:
        camera.unplug()
        scanner.unplug()


def test_a_missing_uvc_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(tmp_path, capsys, f'[camera]\nkind = "uvc"\ndevice = "{tmp_path / "video9"}"\n')
    assert status == 3 and "uvc              NOT connected" in out and "check its cable" in out


def test_every_kind_opens_without_its_hardware(tmp_path: Path) -> None:
    assert sorted(CAMERA_KINDS) == ["serial", "simulated", "uvc", "watch_folder"]
    for kind in CAMERA_KINDS:
        config = load_config(env={"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_CAMERA_KIND": kind})
        camera = open_camera(config)
        assert camera.name == kind and isinstance(camera.connected(), bool)
    with pytest.raises(ConfigError, match="must be positive"):
        load_config(env={"APPLIANCE_CAMERA_WAIT_S": "0"})
    with pytest.raises(ConfigError, match="not a regular expression"):
        load_config(env={"APPLIANCE_SCANNER_PATTERN": "(["})

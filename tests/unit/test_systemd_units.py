"""The unit files in systemd/: parse as INI, the appliance is a notify service with a watchdog, the kiosk
browser shows the local sign-in page in kiosk mode and is restarted whenever it dies."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def test_appliance_unit_is_a_notify_service_with_a_watchdog() -> None:
    unit = read_unit("appliance.service")
    assert unit["Service"]["Type"] == "notify"
    assert int(unit["Service"]["WatchdogSec"]) > 0


def test_kiosk_unit_shows_the_local_sign_in_page_and_restarts_always() -> None:
    unit = read_unit("appliance-kiosk.service")
    service = unit["Service"]
    assert service["Restart"] == "always"
    command = service["ExecStart"]
    assert "--kiosk" in command and "http://127.0.0.1:8080/sign-in" in command
    assert "appliance.service" in unit["Unit"]["Requires"] and "appliance.service" in unit["Unit"]["After"]
    assert unit["Install"]["WantedBy"] == "graphical.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_pass_systemd_analyze_syntax_checks(tmp_path: Path) -> None:
    for unit in sorted(UNITS.glob("*.service")):
        result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
        # Missing users and binaries on a build machine are expected; syntax errors are not.
        assert "Unknown key" not in result.stderr and "Invalid" not in result.stderr, result.stderr

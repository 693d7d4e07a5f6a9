"""The unit files in systemd/: parse as INI, the appliance is a notify service with a watchdog and hardened,
the kiosk browser shows the local sign-in page in kiosk mode and is restarted whenever it dies; every unit
passes `systemd-analyze verify` without a single warning, and the appliance's exposure by `systemd-analyze
security --offline=yes` is at most 3.0.

The units name paths of an installed box (/opt/appliance/.venv/bin/appliance, /usr/bin/cage) that a build
machine lacks, and verify warns about a missing executable. So verify runs on temporary copies in which each
such path is replaced by an executable that exists here: an `appliance` under /opt/appliance by this
checkout's own `appliance` script (beside the Python running the tests), cage (the kiosk's Wayland
compositor, not installed on build machines) by /bin/true. Any other missing executable still fails.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".target", ".mount")
#: Exposure `systemd-analyze security` may give appliance.service, at most (0 = locked down, 10 = exposed).
MAX_EXPOSURE = 3.0
needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package systemd: `make .system-deps`)")


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def unit_files() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in UNIT_SUFFIXES)


def stand_in(executable: str) -> str | None:
    """The executable that replaces an installed box's `executable` in the copies verify reads, or None."""
    if executable.startswith("/opt/appliance/") and Path(executable).name == "appliance":
        return str(Path(sys.executable).with_name("appliance"))
    if executable == "/usr/bin/cage":
        return shutil.which("cage") or "/bin/true"
    return None


def copies_for_verify(folder: Path) -> list[Path]:
    """Every unit copied into `folder`, install-only executables replaced (see the module docstring)."""
    copies = []
    for unit in unit_files():
        text = unit.read_text()
        for executable in sorted(set(re.findall(r"(?<![\w/.-])(/[\w/.-]+)", text))):
            replacement = stand_in(executable)
            if replacement is not None and not Path(executable).exists():
                text = text.replace(executable, replacement)
        copy = folder / unit.name
        copy.write_text(text)
        copies.append(copy)
    return copies


def test_appliance_unit_is_a_notify_service_with_a_watchdog() -> None:
    unit = read_unit("appliance.service")
    assert unit["Service"]["Type"] == "notify"
    assert int(unit["Service"]["WatchdogSec"]) > 0
    assert unit["Service"]["Restart"] == "on-failure"
    assert "KillSignal" not in unit["Service"]  # SIGTERM: `appliance serve` stops cleanly on it


def test_appliance_unit_is_hardened() -> None:
    service = read_unit("appliance.service")["Service"]
    for key, value in {"NoNewPrivileges": "true", "ProtectSystem": "strict", "PrivateTmp": "true",
                       "ProtectHome": "true", "DevicePolicy": "closed", "CapabilityBoundingSet": "",
                       "LockPersonality": "true", "SystemCallFilter": "~@privileged"}.items():
        assert service[key] == value, key
    assert service["RestrictAddressFamilies"].split() == ["AF_UNIX", "AF_INET", "AF_INET6"]
    text = (UNITS / "appliance.service").read_text()
    for line in ("SystemCallFilter=@system-service", "DeviceAllow=/dev/fundus-camera rw", "DeviceAllow=/dev/barcode rw",
                 "ProtectKernelTunables=true", "ProtectKernelModules=true", "ProtectKernelLogs=true"):
        assert f"\n{line}\n" in text, line
    assert "dialout" in service["SupplementaryGroups"].split()


def test_kiosk_unit_shows_the_local_sign_in_page_and_restarts_always() -> None:
    unit = read_unit("appliance-kiosk.service")
    service = unit["Service"]
    assert service["Restart"] == "always"
    command = service["ExecStart"]
    assert "--kiosk" in command and "http://127.0.0.1:8080/sign-in" in command
    assert "appliance.service" in unit["Unit"]["Requires"] and "appliance.service" in unit["Unit"]["After"]
    assert unit["Install"]["WantedBy"] == "graphical.target"


def test_stand_ins_replace_only_install_paths(tmp_path: Path) -> None:
    copies = {c.name: c.read_text() for c in copies_for_verify(tmp_path)}
    assert set(copies) == {u.name for u in unit_files()}
    assert "/opt/appliance/.venv/bin/appliance" not in copies["appliance.service"]
    assert f"{Path(sys.executable).with_name('appliance')} serve" in copies["appliance.service"]
    assert "WorkingDirectory=/opt/appliance\n" in copies["appliance.service"]  # not an executable: kept


@needs_systemd_analyze
def test_every_unit_passes_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    copies = copies_for_verify(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, copies)], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), (
        result.stdout + result.stderr)


@needs_systemd_analyze
def test_verify_catches_a_bad_key(tmp_path: Path) -> None:
    # The check above is only worth something if verify speaks up: a misspelt key is a warning.
    unit = next(c for c in copies_for_verify(tmp_path) if c.name == "appliance.service")
    unit.write_text(unit.read_text().replace("[Service]\n", "[Service]\nProtectSistem=yes\n"))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert "ProtectSistem" in result.stderr


@needs_systemd_analyze
def test_appliance_unit_exposure_is_at_most_3() -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                             str(UNITS / "appliance.service")], capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for appliance\.service: (\d+(?:\.\d+)?)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout

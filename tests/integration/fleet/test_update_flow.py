"""An update on one box, end to end, with the fake firmware under a supervisor (what systemd does): a good
bundle is installed into the inactive slot, switched to, restarted, health-checked and committed; a bundle
whose health check fails, or that crash-loops, is rolled back by itself; data outside the slots survives;
every step is in the audit log and in `appliance update status`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fleet_box import Box, Release

from appliance.fleet.journal import audited_steps

pytestmark = pytest.mark.slow  # each test installs on a box whose server it restarts

def install_first(box: Box, bundle: Path) -> None:
    done = box.install(bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert box.kiosk_version() == "1.0.0"


def test_a_good_bundle_is_installed_switched_health_checked_and_committed(make_box, v1: Path, v2: Path) -> None:
    box = make_box()
    install_first(box, v1)
    done = box.install(v2)
    assert done.returncode == 0, done.stderr
    assert "Runs version 1.1.0" in done.stdout and "committed" in done.stdout
    status = box.status()
    assert status["active"] == "b" and status["committed"] and status["running_version"] == "1.1.0"
    assert status["slots"]["a"]["version"] == "1.0.0"  # the previous version is kept for a rollback
    assert box.kiosk_version() == "1.1.0"
    steps = [step["step"] for step in status["last_update"]["history"]]
    assert steps[:3] == ["verify", "install", "install"] and steps[-2:] == ["health", "commit"]
    assert "switch" in steps and "restart" in steps
    audited = [entry["action"] for entry in audited_steps(box.data_dir) if entry["version"] == "1.1.0"]
    assert audited == [f"update_{step}" for step in steps]
    again = box.install(v2)  # the same bundle again: nothing to do (Ansible reruns are safe)
    assert again.returncode == 0 and "already installed" in again.stdout


def test_a_bundle_whose_health_check_fails_is_rolled_back_by_itself(make_box, release: Release, v1: Path) -> None:
    box = make_box(health_timeout_s=4.0)
    install_first(box, v1)
    bad = release.fake_bundle("1.2.0", behaviour="unhealthy")
    done = box.install(bad)
    assert done.returncode == 1
    assert "rolled back" in done.stdout and "expected referable" in done.stdout
    status = box.status()
    assert status["active"] == "a" and status["committed"] and status["running_version"] == "1.0.0"
    assert status["last_update"]["outcome"] == "rolled_back"
    assert box.kiosk_version() == "1.0.0"
    assert "update_rollback" in [e["action"] for e in audited_steps(box.data_dir)]


def test_a_crash_looping_bundle_is_rolled_back_by_the_boot_counter(make_box, release: Release, v1: Path) -> None:
    box = make_box(health_timeout_s=30.0, max_boot_attempts=2)
    install_first(box, v1)
    crashing = release.fake_bundle("1.3.0", behaviour="crash")
    done = box.install(crashing)
    assert done.returncode == 1, done.stderr
    status = box.status()
    assert status["active"] == "a" and status["running_version"] == "1.0.0"
    assert "crash loop" in status["last_update"]["reason"]
    assert box.kiosk_version() == "1.0.0"


def test_data_outside_the_slots_survives_update_and_rollback(make_box, release: Release, v1: Path, v2: Path) -> None:
    box = make_box(health_timeout_s=4.0)
    install_first(box, v1)
    box.data_dir.joinpath("images").mkdir(parents=True, exist_ok=True)
    photo = box.data_dir / "images" / "kept.jpg"
    photo.write_bytes(b"\xff\xd8\xff photo")
    with sqlite3.connect(box.data_dir / "exams.sqlite3") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (x)")
        conn.execute("INSERT INTO kept VALUES (1)")
    assert box.install(v2).returncode == 0
    assert box.install(release.fake_bundle("1.4.0", behaviour="unhealthy")).returncode == 1
    assert photo.read_bytes() == b"\xff\xd8\xff photo"
    with sqlite3.connect(box.data_dir / "exams.sqlite3") as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(1,)]


def test_a_rollback_by_hand_goes_back_to_the_other_slot(make_box, v1: Path, v2: Path) -> None:
    box = make_box()
    install_first(box, v1)
    assert box.install(v2).returncode == 0
    done = box.cli("update", "rollback", "--reason", "the clinic reports slow results", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "committed"
    assert box.status()["active"] == "a" and box.kiosk_version() == "1.0.0"

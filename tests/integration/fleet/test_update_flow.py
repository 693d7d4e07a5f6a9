"""An update on one box, end to end, with the fake firmware under a supervisor (what systemd does): a good
bundle is installed into the inactive slot, switched to, restarted, health-checked and committed; a bundle
whose health check fails, or that crash-loops, is rolled back by itself; data outside the slots survives;
every step is in the audit log and in `appliance update status`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fleet_box import REPO, Box, Release

from appliance.fleet.journal import audited_steps

pytestmark = pytest.mark.slow  # each test installs on a box whose server it restarts


def install_first(box: Box, bundle: Path) -> None:
    done = box.install(bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert box.kiosk_version() == "1.0.0"


def test_a_good_bundle_is_committed_and_a_rollback_by_hand_goes_back(make_box, v1: Path, v2: Path) -> None:
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
    back = box.cli("update", "rollback", "--reason", "the clinic reports slow results", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["outcome"] == "committed"
    assert box.status_here()["active"] == "a" and box.kiosk_version() == "1.0.0"


def test_a_bundle_whose_health_check_fails_is_rolled_back_and_data_outside_the_slots_survives(
        make_box, release: Release, v1: Path) -> None:
    box = make_box(health_timeout_s=4.0)
    install_first(box, v1)
    box.data_dir.joinpath("images").mkdir(parents=True, exist_ok=True)
    photo = box.data_dir / "images" / "kept.jpg"
    photo.write_bytes(b"\xff\xd8\xff photo")
    with sqlite3.connect(box.data_dir / "exams.sqlite3") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (x)")
        conn.execute("INSERT INTO kept VALUES (1)")
    done = box.install(release.fake_bundle("1.2.0", behaviour="unhealthy"))
    assert done.returncode == 1
    assert "rolled back" in done.stdout and "expected referable" in done.stdout
    status = box.status()
    assert status["active"] == "a" and status["committed"] and status["running_version"] == "1.0.0"
    assert status["last_update"]["outcome"] == "rolled_back"
    assert box.kiosk_version() == "1.0.0"
    assert "update_rollback" in [e["action"] for e in audited_steps(box.data_dir)]
    assert photo.read_bytes() == b"\xff\xd8\xff photo"
    with sqlite3.connect(box.data_dir / "exams.sqlite3") as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(1,)]


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


def test_an_update_waits_for_an_open_exam_and_gives_up_after_its_maximum_wait(make_box, release: Release,
                                                                               v1: Path) -> None:
    from appliance.domain import ExamSession, Patient, utc_now
    from appliance.store import ExamStore

    box = make_box(exam_wait_s=3.0)
    install_first(box, v1)
    with ExamStore.open(box.data_dir) as store:
        store.open_session(ExamSession(exam_id="ex-open", patient=Patient("P-1"), operator="tech",
                                       opened_at=utc_now()), actor="tech")
    gave_up = box.install(release.fake_bundle("1.1.0"))
    assert gave_up.returncode == 1 and "not applied [update_exam_open]" in gave_up.stderr
    status = box.status_here()
    assert status["running_version"] == "1.0.0" and status["last_update"]["outcome"] == "deferred"
    assert status["slots"]["b"]["version"] == "1.1.0"  # installed, not switched
    waiting = subprocess.Popen([sys.executable, "-m", "appliance", "update", "install",
                                str(release.fake_bundle("1.2.0"))], cwd=REPO,
                               env=box.env(APPLIANCE_UPDATE_EXAM_WAIT_S="120"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _waiting_for_exams(box.status_here()["last_update"], "1.2.0"):
        assert time.monotonic() < deadline and waiting.poll() is None, waiting.communicate()
        time.sleep(0.2)
    assert box.kiosk_version() == "1.0.0"  # not switched while the exam is open
    with ExamStore.open(box.data_dir) as store:
        store.cancel_session("ex-open", actor="tech", reason="patient left")
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert box.kiosk_version() == "1.2.0"
    messages = [s["message"] for s in box.status_here()["last_update"]["history"] if s["step"] == "wait"]
    assert messages[0].startswith("1 exam(s) open") and messages[-1] == "no exam open any more"


def _waiting_for_exams(update: dict[str, Any] | None, version: str) -> bool:
    return bool(update) and update["version"] == version and any(s["step"] == "wait" for s in update["history"])


def test_a_model_bundle_replaces_the_model_and_keeps_the_firmware(make_box, release: Release, v1: Path) -> None:
    box = make_box()
    install_first(box, v1)
    done = box.install(release.fake_bundle("1.0.1", kind="model", model_bytes=5000))
    assert done.returncode == 0, done.stderr
    status = box.status_here()
    assert status["active"] == "b" and status["active_version"] == "1.0.0" and status["model_version"] == "1.0.1"
    assert (box.slots_root / "b" / "models" / "dr-test.onnx").stat().st_size == 5000
    assert (box.slots_root / "b" / "app" / "appliance" / "__main__.py").read_bytes() == (
        box.slots_root / "a" / "app" / "appliance" / "__main__.py").read_bytes()
    assert box.kiosk_version() == "1.0.0"
    older = box.install(release.fake_bundle("1.0.0", kind="model"))
    assert older.returncode == 2 and "refused [bundle_downgrade]" in older.stderr
    assert "model 1.0.0 is older than the model this box runs (1.0.1)" in older.stderr

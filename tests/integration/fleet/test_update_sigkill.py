"""The update killed with SIGKILL at every step (Mender's approach): once at each point of install, switch,
restart, health check and commit of a good bundle, and of the health check and rollback of a bad one. After
each kill the box still runs the old or the new version, never neither; `appliance update recover` (what
appliance-update.service runs at boot) then finishes the job, and `update status` says which version runs
and why. UPDATE_KILL_ROUNDS repeats the whole loop (default 1: every point once)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fleet_box import REPO, Box, Release

from appliance.config import load_config
from appliance.fleet.update import KILL_POINTS, Updater

ROUNDS = int(os.environ.get("UPDATE_KILL_ROUNDS", "1"))
#: Kill points a good bundle reaches, and after which of them the new version has been switched to.
GOOD_PATH = ("verified", "installing", "installed", "exams_checked", "switched", "restarted", "health", "committed")
SWITCHED = ("switched", "restarted", "health", "committed")
#: Kill points a bundle whose health check fails reaches.
BAD_PATH = ("health", "rolling_back", "rolled_back_switched")


#: The update alone, without the CLI's start-up (the CLI's install is tested in test_update_flow.py).
UPDATE = ("import sys; from pathlib import Path; from appliance.config import load_config; "
          "from appliance.fleet.update import Updater; Updater(load_config(sys.argv[1])).install(Path(sys.argv[2]))")


def _update_killed_at(box: Box, bundle: Path, point: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", UPDATE, str(box.config_path), str(bundle)], cwd=REPO,
                          env=box.env(APPLIANCE_FAULT_KILL_AT=point), capture_output=True, text=True, timeout=120,
                          check=False)


def wait_for_an_answer(box: Box, within_s: float = 15.0) -> str | None:
    deadline = time.monotonic() + within_s
    while (version := box.kiosk_version(timeout=1.0)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return version


def test_every_kill_point_is_covered() -> None:
    assert set(GOOD_PATH) | set(BAD_PATH) == set(KILL_POINTS)


@pytest.mark.slow
def test_an_update_killed_at_every_step_leaves_the_old_or_the_new_version(make_box, release: Release, v1: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    box = make_box(health_timeout_s=10.0)
    monkeypatch.setenv("APPLIANCE_CONFIG", str(box.config_path))  # for the commands the recovery runs
    assert box.install(v1).returncode == 0
    number = 0
    for _ in range(ROUNDS):
        for behaviour, points in (("good", GOOD_PATH), ("unhealthy", BAD_PATH)):
            for point in points:
                number += 1
                old, new = box.kiosk_version(), f"2.{number}.0"
                done = _update_killed_at(box, release.fake_bundle(new, behaviour=behaviour), point)
                where = f"{behaviour} bundle killed at {point}"
                assert done.returncode == -9, (where, done.stderr)
                assert wait_for_an_answer(box) in (old, new), where  # never neither
                if number == 1:  # the command appliance-update.service runs at boot, once through the CLI
                    recovered = box.cli("update", "recover")
                    assert recovered.returncode == 0, (where, recovered.stderr)
                    assert "Runs version" in recovered.stdout, (where, recovered.stdout)
                else:  # the same code in this process: quicker
                    Updater(load_config(box.config_path, env={})).recover()
                expected = new if behaviour == "good" and point in SWITCHED else old
                assert wait_for_an_answer(box) == expected, where
                status = box.status_here()
                assert status["committed"] and status["running_version"] == expected, (where, status["summary"])
                outcome = status["last_update"]["outcome"]
                if expected == new:
                    assert outcome == "committed", (where, status["summary"])
                elif behaviour == "good":
                    assert outcome == "interrupted" and "stopped during '" in status["summary"], where
                else:
                    assert outcome == "rolled_back" and "expected referable" in status["summary"], where
                assert f"Runs version {expected}" in status["summary"], where

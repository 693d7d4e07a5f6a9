"""deploy/rollout.yml run by ansible-playbook against three "appliances" behind real sshd instances on
loopback (each its own root, port, config and keyring; the remote `appliance` is this checkout's CLI run with
that root's config): a good bundle rolls out to all in batches; a tampered bundle is refused by every box
before any installs; a bundle whose health check fails is rolled back on the first box and stops the rollout.
One playbook run per scenario."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleet_box import REPO, Box, Release, free_port, new_box
from sshd_server import SSHD, Sshd, make_key

PLAYBOOK = REPO / "deploy" / "rollout.yml"
HOSTS = 3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SSHD.is_file(), reason="sshd is not installed (Debian openssh-server: make .system-deps)"),
    pytest.mark.skipif(shutil.which("ansible-playbook", path=os.path.dirname(sys.executable)) is None,
                       reason="ansible-playbook is not installed (ansible-core, the dev extra)"),
]


@dataclass
class Fleet:
    folder: Path
    boxes: list[Box]
    client_key: Path

    def rollout(self, bundle: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLIANCE_", "ANSIBLE_"))}
        env.update({"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORKS": "5",
                    "ANSIBLE_PRIVATE_KEY_FILE": str(self.client_key), "ANSIBLE_REMOTE_USER": _user(),
                    "ANSIBLE_LOCAL_TEMP": str(self.folder / "ansible-local"),
                    "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30s -o UserKnownHostsFile=/dev/null",
                    "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_RETRY_FILES_ENABLED": "False"})
        return subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i",
                               str(self.folder / "inventory.ini"), str(PLAYBOOK), "-e", f"bundle={bundle}"],
                              cwd=self.folder, env=env, capture_output=True, text=True, timeout=600, check=False)


def _user() -> str:
    import getpass

    return getpass.getuser()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, release: Release) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("fleet")
    client_key = make_key(folder / "fleet_key")
    boxes, servers, lines = [], [], ["[appliances]"]
    try:
        for n in range(1, HOSTS + 1):
            box = new_box(folder / f"box{n}", release.keyring)
            boxes.append(box)
            server = Sshd.start(folder / f"sshd{n}", free_port(), client_key.with_suffix(".pub"))
            servers.append(server)
            command = (f"env PYTHONPATH={REPO} APPLIANCE_CONFIG={box.config_path} APPLIANCE_NO_SLOT=1 "
                       f"OMP_NUM_THREADS=1 {sys.executable} -m appliance")
            lines.append(f"box{n} ansible_host=127.0.0.1 ansible_port={server.port} "
                         f"incoming_dir={box.root / 'incoming'} appliance_command='{command}'")
        (folder / "inventory.ini").write_text("\n".join(lines) + "\n")
        yield Fleet(folder, boxes, client_key)
    finally:
        for box in boxes:
            box.stop()
        for server in servers:
            server.stop()


def test_a_good_bundle_rolls_out_to_every_box(fleet: Fleet, v1: Path) -> None:
    done = fleet.rollout(v1)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for box in fleet.boxes:
        status = box.status_here()
        assert status["committed"] and status["running_version"] == "1.0.0", status["summary"]
        assert box.kiosk_version() == "1.0.0"
    assert "Runs version 1.0.0" in done.stdout


def test_a_tampered_bundle_is_refused_by_every_box(fleet: Fleet, v2: Path, tmp_path: Path) -> None:
    tampered = tmp_path / v2.name
    with tarfile.open(v2) as archive:
        offset = archive.getmember("models/dr-test.onnx").offset_data
    data = bytearray(v2.read_bytes())
    data[offset] ^= 0xFF
    tampered.write_bytes(bytes(data))
    done = fleet.rollout(tampered)
    assert done.returncode != 0
    refusals = [line for line in done.stdout.splitlines() if "refused [bundle_tampered]" in line]
    assert sorted(line.split("]")[0] for line in refusals) == [f"fatal: [box{n}" for n in range(1, HOSTS + 1)], (
        done.stdout[-3000:])
    for box in fleet.boxes:
        status = box.status_here()
        assert status["running_version"] == "1.0.0" and status["last_update"]["outcome"] == "refused"
        assert box.kiosk_version() == "1.0.0"
        assert "slots" not in {p.name for p in (box.slots_root / "b").glob("*")}  # nothing written


def test_a_bundle_whose_health_check_fails_rolls_back_on_the_first_box_and_stops_the_rollout(
        fleet: Fleet, release: Release) -> None:
    bad = release.fake_bundle("1.2.0", behaviour="unhealthy")
    done = fleet.rollout(bad)
    assert done.returncode != 0
    first, *others = fleet.boxes
    status = first.status_here()
    assert status["last_update"]["version"] == "1.2.0" and status["last_update"]["outcome"] == "rolled_back"
    assert status["running_version"] == "1.0.0" and first.kiosk_version() == "1.0.0"
    for box in others:  # never installed: the failure budget of the first batch stopped the rollout
        status = box.status_here()
        assert (status["last_update"] or {}).get("version") != "1.2.0" and box.kiosk_version() == "1.0.0"
    assert "expected referable" in done.stdout

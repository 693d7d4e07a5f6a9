"""Test boxes for the update tests: each a folder with its config, data folder, A/B slots and keyring, whose
server is run by supervisor.py (what systemd does), updated by the repository's own `appliance` CLI; and
release bundles signed by a throwaway key, built by the real builder (build/bundle.py) from a fake firmware
(fake_app.py) or from this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_app import write_fake_app
from model_fakes import manifest_fields, to_toml

from appliance.commands.build_engine import import_build_package
from appliance.fleet.keys import generate_key
from appliance.store import ExamStore

REPO = Path(__file__).resolve().parents[3]
SUPERVISOR = Path(__file__).resolve().parent / "supervisor.py"
BOARD = "test-board"
#: What the test boxes are, as bundles name hardware.
PLATFORM = f"{BOARD}/jetpack-6"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Box:
    root: Path
    port: int

    @property
    def config_path(self) -> Path:
        return self.root / "appliance.toml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def slots_root(self) -> Path:
        return self.root / "slots"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        # This checkout's CLI updates the box: it must not hand over to the stand-in firmware in the active slot.
        env.update({"APPLIANCE_CONFIG": str(self.config_path), "APPLIANCE_NO_SLOT": "1", "OMP_NUM_THREADS": "1",
                    **extra})
        return env

    def cli(self, *args: str, timeout: float = 180, prefix: Sequence[str] = (),
            **extra: str) -> subprocess.CompletedProcess[str]:
        """The repository's `appliance` command run for this box (after `prefix`, e.g. prlimit)."""
        return subprocess.run([*prefix, sys.executable, "-m", "appliance", *args], cwd=REPO, env=self.env(**extra),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def install(self, bundle: Path, *more: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.cli("update", "install", str(bundle), *more, **extra)

    def status(self) -> dict[str, Any]:
        done = self.cli("update", "status", "--json")
        assert done.returncode == 0, done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def status_here(self) -> dict[str, Any]:
        """What `update status --json` says, computed in this process (quicker in loops)."""
        from appliance.config import load_config
        from appliance.fleet.status import update_status

        return update_status(load_config(self.config_path, env={}))

    def kiosk_version(self, timeout: float = 2.0) -> str | None:
        """The version the running server says it is, or None when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout) as answer:
                return str(json.loads(answer.read())["software_version"])
        except (OSError, ValueError, KeyError):
            return None

    def stop(self) -> None:
        subprocess.run([sys.executable, str(SUPERVISOR), "stop", str(self.root)], check=False, timeout=30)


def new_box(folder: Path, keyring: Path, **update: str | int | float) -> Box:
    """A box with its own port, config, copy of the keyring and an empty exam store (as the firmware makes it);
    nothing installed, no server running."""
    folder.mkdir(parents=True)
    shutil.copytree(keyring, folder / "keys")
    box = Box(folder, free_port())
    settings: dict[str, str | int | float] = {
        "slots_root": str(box.slots_root), "keyring_dir": str(folder / "keys"),
        "restart_command": f"{sys.executable} {SUPERVISOR} restart {folder}",
        "health_timeout_s": 20.0, "exam_wait_s": 5.0, "max_boot_attempts": 3, "hardware": BOARD, "jetpack": "6",
        **update}
    lines = [f'data_dir = "{box.data_dir}"', "[server]", f"port = {box.port}", "[update]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    box.config_path.write_text("\n".join(lines) + "\n")
    ExamStore.open(box.data_dir).close()
    return box


@dataclass
class Release:
    """A release key and the keyring (its public key) that boxes trust."""

    folder: Path

    @property
    def key(self) -> Path:
        return self.folder / "release.pem"

    @property
    def keyring(self) -> Path:
        return self.folder / "keyring"

    @classmethod
    def make(cls, folder: Path) -> Release:
        folder.mkdir(parents=True, exist_ok=True)
        release = cls(folder)
        generate_key(release.key)
        release.keyring.mkdir()
        shutil.copy(release.folder / "release.pub", release.keyring / "release.pub")
        return release

    def fake_bundle(self, version: str, *, behaviour: str = "good", min_version: str = "0",
                    compatible: tuple[str, ...] = (f"{BOARD}/*",), kind: str = "full", model_bytes: int = 4096,
                    store_schema: int | None = None, key: Path | None = None) -> Path:
        """A bundle of the fake firmware and a fake model file (random bytes, the health photos not measured)."""
        work = Path(tempfile.mkdtemp(prefix=f"{kind}-{version}-{behaviour}-", dir=self.folder))
        app = write_fake_app(work / "src", version, behaviour)
        models = work / "models"
        models.mkdir()
        data = os.urandom(model_bytes)
        (models / "dr-test.onnx").write_bytes(data)
        import hashlib

        (models / "dr-test.toml").write_text(to_toml(manifest_fields("dr-test.onnx", hashlib.sha256(data).hexdigest())))
        bundle = import_build_package("build.bundle")
        request = bundle.BundleRequest(key=key or self.key, version=version, min_version=min_version,
                                       compatible=compatible, models=(models / "dr-test.toml",), out=work / "out",
                                       kind=kind, app=str(app), repo=REPO, health=(), store_schema=store_schema)
        path: Path = bundle.build_bundle(request)
        return path

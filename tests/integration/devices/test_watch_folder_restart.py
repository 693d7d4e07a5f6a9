"""The watch folder across restarts of the appliance: a real process taking photos from the folder is killed
(SIGKILL, at random moments) while a camera keeps writing files slowly; after each restart, every photo ends up
taken exactly once: one file in done/, one `taken` line in the ledger, never handed out twice.

WATCH_RESTART_FILES (default 12) photos, WATCH_RESTART_KILLS (default 3) kills."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance.devices.simulated import SAMPLES_DIR
from appliance.devices.watch_folder.ledger import LEDGER_NAME

FILES = int(os.environ.get("WATCH_RESTART_FILES", "12"))
KILLS = int(os.environ.get("WATCH_RESTART_KILLS", "3"))

TAKER = """
import hashlib, sys
from pathlib import Path
from appliance.config import LimitsConfig
from appliance.devices.watch_folder import FolderSettings, WatchFolderCamera
from appliance.devices.errors import CameraTimeoutError
from appliance.domain import Eye
camera = WatchFolderCamera(FolderSettings(folder=Path(sys.argv[1]), ledger=Path(sys.argv[2]), limits=LimitsConfig(),
                                          wait_s=1.0, settle_s=0.2))
while True:
    try:
        capture = camera.capture(Eye.RIGHT)
    except CameraTimeoutError:
        continue
    print(hashlib.sha256(capture.image).hexdigest(), flush=True)
"""


class Taker:
    """The appliance's side: a process taking every photo from the folder, printing each one's sha256."""

    def __init__(self, folder: Path, ledger: Path, out: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", TAKER, str(folder), str(ledger)], stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        self.reader = threading.Thread(target=lambda: out.extend(line.strip() for line in self.proc.stdout or []),
                                       daemon=True)
        self.reader.start()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.mark.slow
def test_every_photo_is_taken_exactly_once_across_kills(tmp_path: Path) -> None:
    folder, ledger = tmp_path / "inbox", tmp_path / "data" / LEDGER_NAME
    folder.mkdir()
    base = (SAMPLES_DIR / "healthy_01_right.jpg").read_bytes()
    photos = [base + i.to_bytes(4, "big") for i in range(FILES)]  # distinct contents
    rng = random.Random(12)

    def camera() -> None:
        for i, photo in enumerate(photos):
            with (folder / f"IMG_{i:04d}.jpg").open("wb") as f:
                for start in range(0, len(photo), len(photo) // 3 + 1):
                    f.write(photo[start:start + len(photo) // 3 + 1])
                    f.flush()
                    time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.3))

    writer = threading.Thread(target=camera, daemon=True)
    writer.start()
    handed: list[str] = []
    taker = Taker(folder, ledger, handed)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 1.5))
        taker.kill()
        taker = Taker(folder, ledger, handed)
    writer.join()
    deadline = time.monotonic() + 30
    done = folder / "done"
    while time.monotonic() < deadline and len(list(done.glob("*.jpg"))) < FILES:
        time.sleep(0.2)
    taker.kill()

    assert sorted(p.name for p in done.iterdir()) == [f"IMG_{i:04d}.jpg" for i in range(FILES)]
    assert not (folder / "refused").exists()
    assert [p.name for p in folder.iterdir() if p.is_file()] == []
    taken = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
    assert sorted(entry["sha256"] for entry in taken) == sorted(hashlib.sha256(p).hexdigest() for p in photos)
    assert len(handed) == len(set(handed)), "a photo was handed out twice"

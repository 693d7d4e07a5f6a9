"""A real `appliance serve` process for benchmarks and fault loops: started on a data folder with the demo
users, timed to ready (its first answer on /healthz), its memory read from /proc, stopped or killed.

    users = add_technicians(data_dir, 4)   # before the start: more people to sign in at once
    with ServerProcess.start(data_dir) as box:
        kiosk = box.kiosk()            # signed in as demo-tech (tests.system.helpers.Kiosk)
        others = [box.kiosk(u, p) for u, p in users]
        box.peak_rss_mb()              # VmHWM: the most resident memory it ever held
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from appliance.auth import Accounts, Role
from appliance.config import REPO_ROOT, AuthConfig
from appliance.store import ExamStore

if str(REPO_ROOT) not in sys.path:  # run as `python bench/exam.py`
    sys.path.insert(0, str(REPO_ROOT))

from tests.system.helpers import Kiosk, box_env, free_port, request


class ServerDiedError(RuntimeError):
    """The server exited before it answered."""


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base: str
    data_dir: Path
    log: Path
    ready_s: float
    env: dict[str, str] = field(repr=False)

    @classmethod
    def start(cls, data_dir: Path, *, port: int | None = None, timeout_s: float = 60.0,
              **env_extra: str) -> ServerProcess:
        """Start `python -m appliance serve` on `data_dir` (onnxruntime, demo users, `env_extra` as more
        APPLIANCE_* variables) and wait until it answers. Raises ServerDiedError, TimeoutError."""
        port = port or free_port()
        env = box_env(data_dir, **env_extra)
        env.setdefault("OMP_NUM_THREADS", "1")
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = data_dir.parent / f"server-{data_dir.name}.log"
        start = time.perf_counter()
        with log.open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--port", str(port)],
                                       env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        base = f"http://127.0.0.1:{port}"
        while True:
            if process.poll() is not None:
                raise ServerDiedError(f"appliance serve exited with {process.returncode}; see {log}")
            try:
                if request(base + "/healthz").status in (200, 503):
                    break
            except OSError:
                pass
            if time.perf_counter() - start > timeout_s:
                process.kill()
                process.wait()
                raise TimeoutError(f"appliance serve did not answer in {timeout_s:.0f} s; see {log}")
            time.sleep(0.02)
        return cls(process=process, base=base, data_dir=data_dir, log=log, ready_s=time.perf_counter() - start,
                   env=env)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kiosk(self, user: str = "demo-tech", pin: str = "1234") -> Kiosk:
        return Kiosk(self.base, user, pin)

    def peak_rss_mb(self) -> float:
        """The most resident memory the server held since it started (VmHWM), in MiB."""
        return _status_kib(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return _status_kib(self.pid, "VmRSS") / 1024

    def kill(self) -> None:
        """SIGKILL: the process dies at once, mid-write or not."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM, as systemd stops it; SIGKILL after 30 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _status_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


#: The PIN of every technician add_technicians makes.
PIN = "4821"


def add_technicians(data_dir: Path, count: int, prefix: str = "bench-tech") -> list[tuple[str, str]]:
    """Make `count` technicians in the store of `data_dir` (before the server starts: one sign-in per user
    at a time, so concurrent kiosks need a user each); returns their (user id, PIN)."""
    with ExamStore.open(data_dir) as store:
        accounts = Accounts(store, AuthConfig())
        made = []
        for i in range(count):
            user_id = f"{prefix}-{i}"
            accounts.add_user(user_id, f"Bench technician {i}", Role.TECHNICIAN, PIN, actor="bench")
            made.append((user_id, PIN))
    return made


def cookies(kiosk: Kiosk) -> dict[str, str]:
    """The cookies of a signed-in kiosk client (its sign-in), for another HTTP client to use."""
    return {c.name: c.value or "" for c in kiosk.cookies}

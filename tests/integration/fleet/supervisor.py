"""What systemd does for appliance.service, for the update tests: `restart ROOT` stops the box's server and
starts `python -m appliance.fleet.boot start -- serve` again under a small supervisor that restarts it when
it fails (Restart=on-failure, at most MAX_STARTS starts, like StartLimitBurst), `stop ROOT` stops it.

    python supervisor.py restart ROOT     # [update] restart_command of a test box
    python supervisor.py stop ROOT
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MAX_STARTS = 8
PID_NAME = "supervisor.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(root: Path) -> None:
    pid_file = root / PID_NAME
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
            with contextlib.suppress(ChildProcessError):  # reap it when it is our child (not, normally)
                os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            break
    pid_file.unlink(missing_ok=True)


def restart(root: Path) -> None:
    stop(root)
    with (root / "server.log").open("ab") as log:
        child = subprocess.Popen([sys.executable, __file__, "run", str(root)], cwd=REPO, stdout=log, stderr=log,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    (root / PID_NAME).write_text(str(child.pid))


def run(root: Path) -> int:
    """Start the active slot's server; start it again after a failure, MAX_STARTS starts at most."""
    server: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, frame: object) -> None:
        if server is not None and server.poll() is None:
            server.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    for _ in range(MAX_STARTS):
        server = subprocess.Popen([sys.executable, "-m", "appliance.fleet.boot", "start", "--", "serve"], cwd=REPO)
        code = server.wait()
        if code == 0 or code < 0:
            return 0
        time.sleep(0.2)
    return 1


if __name__ == "__main__":
    action, folder = sys.argv[1], Path(sys.argv[2])
    if action == "restart":
        restart(folder)
    elif action == "stop":
        stop(folder)
    else:
        sys.exit(run(folder))

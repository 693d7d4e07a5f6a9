"""`appliance serve` speaks systemd's notify protocol to a real NOTIFY_SOCKET, as under Type=notify with
WatchdogSec: READY=1 once the model is loaded and the kiosk answers, WATCHDOG=1 at half the interval while
the box lives, STOPPING=1 on SIGTERM, and then a clean exit (status 0, no traceback); /metrics answers the
fleet's scraper meanwhile."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers import box_env, free_port, request

#: Asked of the box: a ping every 0.15 s.
WATCHDOG_USEC = 300_000


def receive(sock: socket.socket, until: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> list[str]:
    """The datagrams received up to and including `until`."""
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None and until != "STOPPING=1":
            raise AssertionError(f"appliance serve exited early ({proc.returncode}):\n{log.read_text()}")
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if messages[-1] == until:
            return messages
    raise AssertionError(f"no {until} in {timeout} s; got {messages}:\n{log.read_text()}")


def test_serve_notifies_ready_pings_the_watchdog_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="sd-"))  # short: a socket's path must fit in 108 bytes
    address = folder / "notify"
    log = tmp_path / "serve.log"
    port = free_port()
    env = box_env(tmp_path / "data", NOTIFY_SOCKET=str(address), WATCHDOG_USEC=str(WATCHDOG_USEC))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, log.open("wb") as out:
        sock.bind(str(address))
        sock.settimeout(0.5)
        proc = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            assert receive(sock, "READY=1", 120, proc, log) == ["READY=1"]  # nothing before it
            assert request(f"http://127.0.0.1:{port}/healthz").status == 200  # ready means answering
            metrics = request(f"http://127.0.0.1:{port}/metrics")  # no sign-in: what the fleet scrapes
            assert metrics.status == 200 and b"\nappliance_model_ready 1.0\n" in metrics.body
            started = time.monotonic()
            pings = receive(sock, "WATCHDOG=1", 5, proc, log)
            pings += receive(sock, "WATCHDOG=1", 5, proc, log)
            pings += receive(sock, "WATCHDOG=1", 5, proc, log)
            assert set(pings) == {"WATCHDOG=1"} and time.monotonic() - started < 5
            proc.send_signal(signal.SIGTERM)
            assert receive(sock, "STOPPING=1", 30, proc, log)[-1] == "STOPPING=1"
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            address.unlink(missing_ok=True)
            folder.rmdir()
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "stopping" in text and "Runner onnxruntime deactivated" in text, text

"""sd_notify over a real Unix datagram socket, and the watchdog heartbeat."""

import socket
import threading
from pathlib import Path

from appliance.service import notify, start_watchdog


def _listener(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    return sock, path


def test_notify_sends_state_to_the_socket(tmp_path: Path) -> None:
    sock, path = _listener(tmp_path)
    with sock:
        assert notify("READY=1", {"NOTIFY_SOCKET": path}) is True
        assert sock.recv(64) == b"READY=1"


def test_notify_without_systemd_does_nothing() -> None:
    assert notify("READY=1", {}) is False


def test_watchdog_pings_only_while_healthy(tmp_path: Path) -> None:
    sock, path = _listener(tmp_path)
    healthy = threading.Event()
    healthy.set()
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000"}
    with sock:
        stop = start_watchdog(healthy.is_set, env)
        assert stop is not None
        assert sock.recv(64) == b"WATCHDOG=1"
        healthy.clear()
        sock.settimeout(0.01)
        while True:  # drain pings already in flight
            try:
                sock.recv(64)
            except TimeoutError:
                break
        sock.settimeout(0.3)
        try:
            got = sock.recv(64)
        except TimeoutError:
            got = b""
        stop.set()
    assert got == b""


def test_no_watchdog_requested() -> None:
    assert start_watchdog(lambda: True, {"NOTIFY_SOCKET": "/x"}) is None

"""sd_notify over a real Unix datagram socket, the watchdog heartbeat, and what it asks before each ping."""

import socket
import threading
from pathlib import Path

import pytest

from appliance.config import Config
from appliance.kiosk.server import RunningSync
from appliance.service import Vitals, notify, start_watchdog


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


def test_watchdog_is_not_ours_when_systemd_asked_another_process() -> None:
    assert start_watchdog(lambda: True, {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "40000", "WATCHDOG_PID": "1"}) is None


def test_vitals_hold_while_every_check_holds_and_name_the_one_that_fails(caplog: pytest.LogCaptureFixture) -> None:
    done = threading.Event()
    worker = threading.Thread(target=done.wait, name="worker")
    worker.start()
    model_ready = [True]
    vitals = Vitals({"the model": lambda: model_ready[0], "the worker thread": worker.is_alive})
    assert vitals()
    model_ready[0] = False
    assert not vitals()
    assert "the model failed" in caplog.text
    model_ready[0] = True
    done.set()
    worker.join()
    assert not vitals()  # a dead thread is no box
    assert "the worker thread failed" in caplog.text


def test_a_check_that_raises_is_a_failed_check() -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    assert Vitals({"broken": broken})() is False


def test_the_sync_worker_is_alive_until_its_thread_dies_and_stops_when_called(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    assert RunningSync(config).alive()  # no destination: nothing to watch
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    running = RunningSync(config, thread, stop)
    assert running.alive()
    running()  # stops it: a stopped worker is not a dead one
    assert not thread.is_alive() and running.alive()
    crashed = threading.Thread(target=lambda: None)
    crashed.start()
    crashed.join()
    assert not RunningSync(config, crashed).alive()

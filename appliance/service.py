"""systemd integration: sd_notify READY/STOPPING and a watchdog heartbeat, without libsystemd.

Does nothing when not started by systemd (no NOTIFY_SOCKET), so the demo and tests run as is. `Vitals` is
what the heartbeat asks before each ping: the model ready, the worker threads alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify message (e.g. "READY=1"); returns whether a socket was there to take it."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify %r failed: %s", state, exc)
        return False
    return True


def start_watchdog(healthy: Callable[[], bool], env: Mapping[str, str] | None = None) -> threading.Event | None:
    """Ping WATCHDOG=1 at half the WatchdogSec interval while `healthy()` holds.

    Returns an Event that stops the heartbeat, or None when systemd asked for no watchdog (or asked it of
    another process: WATCHDOG_PID). A box whose health check fails stops pinging, so systemd restarts it.
    """
    env = os.environ if env is None else env
    usec = int(env.get("WATCHDOG_USEC", "0") or 0)
    if usec <= 0 or env.get("WATCHDOG_PID", str(os.getpid())) != str(os.getpid()):
        return None
    stop = threading.Event()
    interval = usec / 2_000_000

    def beat() -> None:
        while not stop.wait(interval):
            if healthy():
                notify("WATCHDOG=1", env)
            else:
                log.error("health check failed: withholding the watchdog ping")

    threading.Thread(target=beat, name="watchdog", daemon=True).start()
    return stop


class Vitals:
    """The watchdog's health check: true while every named check holds (the model ready, a worker thread
    alive...). Logs the first failing check when the answer turns false, and the recovery."""

    def __init__(self, checks: Mapping[str, Callable[[], bool]]) -> None:
        self._checks = dict(checks)
        self._failing: str | None = None

    def __call__(self) -> bool:
        failing = next((name for name, check in self._checks.items() if not _holds(check)), None)
        if failing != self._failing:
            if failing is None:
                log.info("watchdog: %s is back; pinging again", self._failing)
            else:
                log.error("watchdog: %s failed; withholding the ping so that systemd restarts the appliance", failing)
            self._failing = failing
        return failing is None


def _holds(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # a check that breaks is a failed check, never a dead heartbeat thread
        log.exception("watchdog check raised")
        return False

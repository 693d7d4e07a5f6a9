"""systemd integration: sd_notify READY/STOPPING and a watchdog heartbeat, without libsystemd.

Does nothing when not started by systemd (no NOTIFY_SOCKET), so the demo and tests run as is.
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

    Returns an Event that stops the heartbeat, or None when systemd asked for no watchdog.
    A box whose health check fails stops pinging, so systemd restarts it.
    """
    env = os.environ if env is None else env
    usec = int(env.get("WATCHDOG_USEC", "0") or 0)
    if usec <= 0:
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

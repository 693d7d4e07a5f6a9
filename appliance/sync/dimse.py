"""What the DIMSE clients (C-STORE, worklist C-FIND) share: a TCP probe before associating.

pynetdicom leaves its socket open when a connection is refused; probing first (and closing the probe)
keeps an offline PACS or worklist from leaking a socket per attempt, and gives a plain reason.
"""

from __future__ import annotations

import os
import socket


def unreachable(host: str, port: int, timeout_s: float) -> str:
    """Why `host:port` takes no TCP connection now ("" when it does)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return ""
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as err:
        return os.strerror(err.errno) if err.errno else type(err).__name__

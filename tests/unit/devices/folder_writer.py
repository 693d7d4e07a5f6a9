"""Writers of photo files into a watch folder as cameras and shares do: slowly in chunks, under a temporary name
renamed when complete, several at once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def write_slowly(path: Path, data: bytes, chunks: int = 6, pause_s: float = 0.15) -> None:
    """Write `data` in `chunks` pieces with pauses, fsyncing each (a camera on a slow share)."""
    step = max(1, -(-len(data) // chunks))
    with path.open("wb") as out:
        for start in range(0, len(data), step):
            out.write(data[start:start + step])
            out.flush()
            os.fsync(out.fileno())
            time.sleep(pause_s)


def write_then_rename(path: Path, data: bytes) -> None:
    """Write under `<name>.part`, then rename (the rename-on-close convention)."""
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)


def in_background(target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread

"""Which files in the watch folder are complete: a file counts once its size and modification time have not
changed for `settle_s` seconds (a camera or a network share writing slowly keeps changing them), and never while
it carries a name that writers use for files in progress (`.part`, `.tmp`, a leading dot: the rename-on-close
convention, whose final rename then makes it appear complete at once).

`watchdog` wakes a waiting capture as soon as something changes in the folder; without it (not installed, no
inotify watches left, a share that sends no events) the folder is polled every POLL_S seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Seconds between looks at the folder while waiting (also with watchdog: stability is a matter of time).
POLL_S = 0.2
#: Names of files still being written (rename-on-close writers), and the reason files this camera writes.
IN_PROGRESS_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".filepart", "~",
                        ".swp", ".reason.txt")


def in_progress(name: str) -> bool:
    lower = name.lower()
    return lower.startswith((".", "~")) or lower.endswith(IN_PROGRESS_SUFFIXES)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    changed_at: float
    first_seen: float


class Arrivals:
    """Files arriving in one folder (its top level only: the camera's done/ and refused/ are below it)."""

    def __init__(self, folder: Path, settle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self.settle_s = settle_s
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._wake = threading.Event()
        self._observer: Any = None
        self.watching = False

    def start_watching(self) -> None:
        """Ask watchdog for events (once the folder exists); polling goes on either way."""
        if self._observer is not None or not self.folder.is_dir():
            return
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            self._observer = False
            return
        wake = self._wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                wake.set()

        observer = Observer()
        try:
            observer.schedule(_Wake(), str(self.folder), recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:  # e.g. no inotify watches left: polling alone
            log.warning("watch folder %s: no change events (%s); polling every %.1f s", self.folder, exc, POLL_S)
            self._observer = False
            return
        self._observer, self.watching = observer, True

    def stop(self) -> None:
        if self._observer:
            self._observer.stop()
            self._observer.join(timeout=2)
        self._observer, self.watching = None, False

    def complete(self) -> list[Path]:
        """The complete files now, the first to arrive first. Raises OSError: the folder cannot be listed."""
        now = self._clock()
        present: set[str] = set()
        ready: list[tuple[float, str]] = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if in_progress(entry.name):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    info = entry.stat(follow_symlinks=False)
                except OSError:  # gone between the listing and the look
                    continue
                present.add(entry.name)
                seen = self._seen.get(entry.name)
                if seen is None or (seen.size, seen.mtime_ns) != (info.st_size, info.st_mtime_ns):
                    first = now if seen is None else seen.first_seen
                    self._seen[entry.name] = seen = _Seen(info.st_size, info.st_mtime_ns, now, first)
                if info.st_size > 0 and now - seen.changed_at >= self.settle_s:
                    ready.append((seen.first_seen, entry.name))
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return [self.folder / name for _, name in sorted(ready)]

    def waited_s(self, path: Path) -> float:
        """Seconds since `path` was first seen in the folder (0 when not seen)."""
        seen = self._seen.get(path.name)
        return 0.0 if seen is None else self._clock() - seen.first_seen

    def forget(self, path: Path) -> None:
        self._seen.pop(path.name, None)

    def wait(self, seconds: float) -> None:
        """Sleep until something changes in the folder or `seconds` (at most POLL_S) have passed."""
        self._wake.wait(max(0.0, min(seconds, POLL_S)))
        self._wake.clear()

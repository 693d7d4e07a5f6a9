"""The watch folder's memory of the photo files it took, kept in the data folder so that a restart never takes
a file twice: one JSON line per event, keyed by the file's content hash (sha256), fsynced before it counts.

A file is `taken` (handed to an exam; written BEFORE the file is moved aside, so a crash in between leaves a
file the next start recognises) or `refused` (moved to refused photos with a reason; the same bytes dropped
again later are a deliberate new try and are read again). A line cut short by a power cut is skipped.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appliance.domain import utc_now
from appliance.store.files import ensure_dir, fsync_dir

LEDGER_NAME = "watch-folder-ledger.jsonl"
TAKEN = "taken"
REFUSED = "refused"


@dataclass(frozen=True)
class LedgerEntry:
    sha256: str
    name: str
    outcome: str
    at: str
    reason: str = ""


class Ledger:
    """The processed-files ledger at `path` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._latest: dict[str, LedgerEntry] = {}
        self._load()

    def latest(self, sha256: str) -> LedgerEntry | None:
        """The last outcome recorded for a file's content, None when never seen."""
        with self._lock:
            return self._latest.get(sha256)

    def counts(self) -> dict[str, int]:
        """How many distinct files were last taken / refused."""
        with self._lock:
            outcomes = [e.outcome for e in self._latest.values()]
        return {TAKEN: outcomes.count(TAKEN), REFUSED: outcomes.count(REFUSED)}

    def record(self, sha256: str, name: str, outcome: str, reason: str = "", at: datetime | None = None) -> None:
        """Append one outcome durably (fsynced). Raises OSError: the data folder cannot be written."""
        entry = LedgerEntry(sha256=sha256, name=name, outcome=outcome, at=(at or utc_now()).isoformat(),
                            reason=reason)
        line = json.dumps(entry.__dict__, ensure_ascii=True) + "\n"
        with self._lock:
            new = not self.path.exists()
            ensure_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
            try:
                os.write(fd, line.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            if new:
                fsync_dir(self.path.parent)
            self._latest[sha256] = entry

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            try:
                values = json.loads(line)
                entry = LedgerEntry(**{k: str(values[k]) for k in ("sha256", "name", "outcome", "at")},
                                    reason=str(values.get("reason", "")))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a power cut
            self._latest[entry.sha256] = entry

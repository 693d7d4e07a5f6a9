"""A simulated power cut: the box's disk as it would be after one, rebuilt from what the server made durable.

A process killed with SIGKILL loses nothing the kernel already holds: its writes sit in the page cache and
reach the disk later. A power cut loses every write that was not made durable. The server runs with the
LD_PRELOAD shim powercut/fsync_snapshot.c, which copies a file's bytes aside after each fsync/fdatasync of it
(its data is durable from then on) and a directory's entries after each fsync of the directory (its names
are durable from then on), under the data folder only. After the kill, `rebuild` makes the disk a power cut
would leave:
- `durable`: only what was made durable: each name a synced directory holds, with the bytes its file had
  when last synced (empty when never synced, as a delayed allocation leaves it); nothing else;
- `mixed`: as if the kernel had also written some of the rest back before the cut: each directory's names
  and each file's bytes are, independently, either the durable ones or the ones in the page cache.

What this does not simulate: a write torn inside a file (part of a page or sector written), writes to one
file reaching the disk out of order, a disk or controller that acknowledges a flush it has not done, and
the filesystem's own journal; those are the storage's promises, tested by its makers, not by this project.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SHIM_SOURCE = Path(__file__).resolve().parent / "powercut" / "fsync_snapshot.c"
ROOT = "@"  # the shim's name for the data folder's own listing


def build_shim(out_dir: Path) -> Path:
    """Compile the shim with the system's C compiler. Raises FileNotFoundError (no cc), CalledProcessError."""
    library = out_dir / "fsync_snapshot.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(library), str(SHIM_SOURCE), "-ldl"],
                   check=True, capture_output=True, text=True)
    return library


def _key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_dev}-{st.st_ino}"


def _listing_name(relative: str) -> str:
    return relative.replace("/", "%") if relative else ROOT


@dataclass
class Shadow:
    """The shim's records for one run: `inodes/<device>-<inode>` (synced bytes), `dirs/<path>` (synced names)."""

    path: Path

    def env(self, library: Path, data_dir: Path) -> dict[str, str]:
        return {"LD_PRELOAD": str(library), "POWERCUT_DATA_DIR": os.path.realpath(data_dir),
                "POWERCUT_SHADOW": str(self.path)}

    @classmethod
    def of(cls, data_dir: Path, path: Path) -> Shadow:
        """Records saying every byte and name already in `data_dir` is durable (a disk at rest)."""
        shadow = cls(path)
        (path / "inodes").mkdir(parents=True)
        (path / "dirs").mkdir()
        if data_dir.is_dir():
            for folder, dirs, files in os.walk(data_dir):
                here = Path(folder)
                relative = here.relative_to(data_dir).as_posix()
                lines = [f"d\t{_key(here / d)}\t{d}" for d in dirs]
                for name in files:
                    shutil.copyfile(here / name, path / "inodes" / _key(here / name))
                    lines.append(f"f\t{_key(here / name)}\t{name}")
                (path / "dirs" / _listing_name("" if relative == "." else relative)).write_text(
                    "".join(line + "\n" for line in lines))
        return shadow

    def listing(self, relative: str) -> dict[str, tuple[str, str]] | None:
        """The durable names of a folder: name -> (kind "f"/"d", key); None when it was never synced."""
        record = self.path / "dirs" / _listing_name(relative)
        if not record.is_file():
            return None
        entries = {}
        for line in record.read_text().splitlines():
            kind, key, name = line.split("\t", 2)
            entries[name] = (kind, key)
        return entries

    def content(self, key: str) -> bytes | None:
        record = self.path / "inodes" / key
        return record.read_bytes() if record.is_file() else None


@dataclass
class Rebuilt:
    files: int = 0
    never_synced: int = 0  # files whose name survived but not one synced byte
    differ_from_live: list[str] = field(default_factory=list)  # what the cut lost, besides SQLite's -shm
    live_choices: int = 0  # mixed: names or bytes taken from the page cache


def rebuild(shadow: Shadow, live: Path, out: Path, rng: random.Random | None) -> Rebuilt:
    """The disk after the cut, written to `out` (see the module); `rng` None: `durable`, else `mixed`."""
    report = Rebuilt()

    def live_listing(relative: str) -> dict[str, tuple[str, str]] | None:
        folder = live / relative if relative else live
        if not folder.is_dir():
            return None
        return {p.name: ("d" if p.is_dir() else "f", _key(p)) for p in folder.iterdir()
                if p.is_dir() or p.is_file()}

    def build(relative: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        entries = shadow.listing(relative)
        current = live_listing(relative)
        if rng is not None and current is not None and rng.random() < 0.5:
            entries, report.live_choices = current, report.live_choices + 1
        for name, (kind, key) in sorted((entries or {}).items()):
            child = f"{relative}/{name}" if relative else name
            if kind == "d":
                build(child, target / name)
                continue
            data = shadow.content(key)
            live_file = live / child
            live_same = live_file.is_file() and _key(live_file) == key
            if rng is not None and live_same and rng.random() < 0.5:
                data, report.live_choices = live_file.read_bytes(), report.live_choices + 1
            if data is None:
                report.never_synced += 1
                data = b""
            (target / name).write_bytes(data)
            report.files += 1
            if not name.endswith("-shm") and (not live_same or live_file.read_bytes() != data):
                report.differ_from_live.append(child)

    build("", out)
    return report


def lost_names(live: Path, out: Path) -> list[str]:
    """Files in the page cache (live) that the rebuilt disk has no name for (SQLite's -shm aside)."""
    return sorted(p.relative_to(live).as_posix() for p in live.rglob("*")
                  if p.is_file() and not p.name.endswith("-shm") and not (out / p.relative_to(live)).exists())

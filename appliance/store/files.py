"""Image files: content-addressed, written atomically, fsynced before anything points at them.

An image lives at `images/<sha[:2]>/<sha256>.<ext>` under the data folder. It is written to a temp
file in the same folder, fsynced, renamed over the final name, and the folder is fsynced, so after a
crash the final name holds either nothing or the whole image, never a torn one.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from appliance.checksum import sha256_file

IMAGES_DIR = "images"
_TEMP_NAME = re.compile(r"^\.tmp-(?P<pid>\d+)-[0-9a-f]{16}$")


class CorruptFileError(Exception):
    """A stored image's bytes no longer match its sha256."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    relative_path: str  # POSIX, relative to the data folder
    byte_size: int


def extension_for(data: bytes) -> str:
    """File extension from the magic bytes: jpg, png, tif, pdf, or bin for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tif"
    if data.startswith(b"%PDF-"):
        return "pdf"
    return "bin"


def is_temp_name(name: str) -> bool:
    """True for the name of a temp file this module writes (`.tmp-<pid>-<16 hex>`)."""
    return _TEMP_NAME.match(name) is not None


class ImageFiles:
    """The image folder of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.images_dir = data_dir / IMAGES_DIR

    def write(self, data: bytes) -> StoredFile:
        """Store `data` durably under its content address; reuse an identical file already there.

        Raises:
            OSError: the file could not be written (ENOSPC, EACCES, EIO); no temp file is left.
        """
        sha = hashlib.sha256(data).hexdigest()
        relative = f"{IMAGES_DIR}/{sha[:2]}/{sha}.{extension_for(data)}"
        final = self.data_dir / relative
        if final.is_file() and sha256_file(final) == sha:
            # A crash between rename and folder fsync leaves a file that may not survive a power
            # cut; fsync both again before the exam row points at it.
            fsync_file(final)
            fsync_dir(final.parent)
        else:
            ensure_dir(final.parent)
            atomic_write(final, data)
        return StoredFile(sha256=sha, relative_path=relative, byte_size=len(data))

    def read(self, relative_path: str, sha256: str) -> bytes:
        """The bytes of a stored image, checked against its hash.

        Raises:
            OSError: the file is missing or unreadable. CorruptFileError: its hash differs.
        """
        data = (self.data_dir / relative_path).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptFileError(f"{relative_path} does not match sha256 {sha256}")
        return data

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete temp files left by processes that died mid-write; returns what was removed.

        A temp file whose writer is still alive (this or another process sharing the store) is
        kept: it is about to be renamed.
        """
        removed: list[Path] = []
        if not self.images_dir.is_dir():
            return removed
        for shard in self.images_dir.iterdir():
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                match = _TEMP_NAME.match(entry.name)
                if match and not _pid_alive(int(match["pid"])):
                    with suppress(FileNotFoundError):
                        entry.unlink()
                        removed.append(entry)
        return removed


def atomic_write(final: Path, data: bytes) -> None:
    """Write `data` to `final` via a fsynced temp file and a rename; fsync the folder after.

    Raises:
        OSError: nothing was renamed and the temp file is removed, or the folder fsync failed
        (the file is then complete but its name may not survive a power cut).
    """
    temp = final.parent / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
    except BaseException:
        with suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(final.parent)


def ensure_dir(path: Path) -> None:
    """Create `path` and any missing parents, fsyncing each new folder's parent so it persists."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    with suppress(FileExistsError):  # another process may create it at the same moment
        path.mkdir(mode=0o750)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # os.kill(0, ...) would address our own process group
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by another user
        return True
    return True

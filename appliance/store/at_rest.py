"""Is the data folder (photos, the database, the audit log: patient data) encrypted at rest?

The appliance does not encrypt its files itself: the OS image puts the data folder on a LUKS (dm-crypt)
volume, unlocked at boot by the TPM (SECURITY.md says why). This module checks that it did, from what the
kernel publishes, with no privilege and no external command:

1. the mount holding the folder, from /proc/self/mountinfo (the longest mount point above it);
2. a folder under a filesystem-level encryption policy (fscrypt: ext4, f2fs) is encrypted;
3. the mount's block device in /sys/dev/block/MAJ:MIN (for btrfs, whose mounts show an anonymous 0:N,
   the device of the mount source), and down its stack (LVM, RAID: `slaves/`): a device-mapper device whose
   uuid starts with `CRYPT-` (cryptsetup's mark, as lsblk reads it) means dm-crypt (LUKS or plain);
4. in-memory, overlay, network or FUSE filesystems, loop devices, ZFS, or no /proc or /sys: unknown.

Returns facts only (device names, filesystem type), never a path or anything about a patient.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

log = logging.getLogger(__name__)

ENCRYPTED = "encrypted"
NOT_ENCRYPTED = "not_encrypted"
UNKNOWN = "unknown"

#: Filesystems whose encryption is decided somewhere this check cannot see.
_CANNOT_TELL = {"tmpfs": "in memory", "ramfs": "in memory", "overlay": "an overlay of other filesystems",
                "nfs": "a network share", "nfs4": "a network share", "cifs": "a network share",
                "smb3": "a network share", "9p": "a host share", "virtiofs": "a host share",
                "zfs": "ZFS (check its own encryption property)", "squashfs": "a read-only image"}
#: FS_IOC_GET_ENCRYPTION_POLICY (linux/fscrypt.h): _IOW('f', 21, struct fscrypt_policy_v1), 12 bytes.
_FS_IOC_GET_ENCRYPTION_POLICY = 0x400C6615
_DEPTH = 8  # a device stack deeper than this is not a real one


@dataclass(frozen=True)
class AtRest:
    """How the data folder's patient data is kept on disk.

    `state`: ENCRYPTED, NOT_ENCRYPTED or UNKNOWN; `how`: the layer that encrypts (e.g. "dm-crypt
    (CRYPT-LUKS2) on dm-0", "fscrypt"), or why not / why it cannot tell, as a sentence part.
    """

    state: str
    how: str
    filesystem: str = ""
    device: str = ""

    @property
    def sentence(self) -> str:
        if self.state == ENCRYPTED:
            return f"Patient data is encrypted at rest: {self.how}."
        if self.state == NOT_ENCRYPTED:
            return (f"Patient data is NOT encrypted at rest ({self.how}): a stolen box or disk gives away every "
                    "photo and result. Put the data folder on the OS image's encrypted volume.")
        return f"Whether patient data is encrypted at rest is unknown ({self.how}): check the OS image's volume."

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "how": self.how, "filesystem": self.filesystem, "device": self.device}


def check_data_folder(folder: Path, *, required: bool) -> AtRest:
    """`phi_at_rest` of the data folder (or, before it is made, of its nearest existing parent), logged at INFO
    (`appliance serve` repeats it as a WARNING when not encrypted: one-shot commands keep stderr for their error).

    Raises:
        ConfigError: `required` (config `require_encrypted_data`) and the folder is not found encrypted, so that
            no patient data is written to it.
    """
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    found = phi_at_rest(existing)
    if found.state == ENCRYPTED:
        log.info("%s", found.sentence)
        return found
    if required:
        raise ConfigError(f"{found.sentence} The appliance will not start: require_encrypted_data is on.",
                          reason_code="data_not_encrypted")
    log.info("SECURITY: %s", found.sentence)
    return found


def phi_at_rest(folder: Path, *, proc: Path = Path("/proc"), sys: Path = Path("/sys")) -> AtRest:
    """Whether `folder` (which must exist) lies on encrypted storage; never raises for what it cannot read.

    Args:
        proc, sys: where procfs and sysfs are mounted (tests give a made-up tree: dm-crypt cannot be set up
            on a kernel without device-mapper).
    """
    try:
        real = folder.resolve(strict=True)
        mount = _mount_of(real, (proc / "self" / "mountinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        return AtRest(UNKNOWN, f"cannot read the mount table: {os.strerror(exc.errno or 0)}")
    if mount is None:
        return AtRest(UNKNOWN, "no mount holds the data folder")
    device_number, fstype, source = mount
    if _under_fscrypt(real):
        return AtRest(ENCRYPTED, "fscrypt (the filesystem encrypts the folder)", fstype, source)
    kind = _CANNOT_TELL.get(fstype) or ("a FUSE filesystem" if fstype.startswith("fuse") else "")
    if kind:
        return AtRest(UNKNOWN, f"{fstype}: {kind}", fstype, source)
    if device_number.startswith("0:") and source.startswith("/dev/"):
        try:  # btrfs and others show an anonymous device number: ask the mount source
            rdev = os.stat(source).st_rdev
            device_number = f"{os.major(rdev)}:{os.minor(rdev)}"
        except OSError:
            pass
    block = sys / "dev" / "block" / device_number
    if device_number.startswith("0:") or not block.is_dir():
        return AtRest(UNKNOWN, f"{fstype} on no block device this check can see", fstype, source)
    found = _crypt_below(block, _DEPTH)
    if found is None:
        return AtRest(UNKNOWN, f"{fstype} on a loop device or a device stack too deep to follow", fstype, source)
    if found:
        return AtRest(ENCRYPTED, found, fstype, source)
    return AtRest(NOT_ENCRYPTED, f"{fstype} on {block.resolve().name}, no dm-crypt layer below it", fstype, source)


def _mount_of(path: Path, mountinfo: str) -> tuple[str, str, str] | None:
    """(MAJ:MIN, filesystem type, mount source) of the last-mounted, longest mount point holding `path`."""
    best: tuple[int, tuple[str, str, str]] | None = None
    target = str(path)
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            after = line.split(" - ", 1)[1].split()
            best = (len(point), (fields[2], after[0] if after else "", _unescape(after[1]) if len(after) > 1 else ""))
    return None if best is None else best[1]


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _under_fscrypt(folder: Path) -> bool:
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.ioctl(descriptor, _FS_IOC_GET_ENCRYPTION_POLICY, bytearray(12))
        return True
    except OSError as exc:
        return exc.errno == errno.EINVAL  # encrypted under a v2 policy, which the v1 call cannot describe
    finally:
        os.close(descriptor)


def _crypt_below(device: Path, depth: int) -> str | None:
    """"dm-crypt (...) on NAME" for the first dm-crypt device in the stack from `device` down, "" for none,
    None for a loop device (its backing file lies on another filesystem) or a stack deeper than `depth`."""
    if depth == 0 or (device / "loop").is_dir():
        return None
    uuid = _read(device / "dm" / "uuid")
    if uuid.startswith("CRYPT-"):
        name = _read(device / "dm" / "name") or "unnamed"
        return f"dm-crypt (CRYPT-{uuid.split('-')[1]}) on {device.resolve().name} ({name})"
    slaves = device / "slaves"
    below = sorted(slaves.iterdir()) if slaves.is_dir() else []
    found: str | None = ""
    for lower in below:
        result = _crypt_below(lower, depth - 1)
        if result:
            return result
        if result is None:
            found = None
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""

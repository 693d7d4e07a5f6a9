"""Reading a bundle: one tar file whose first two members are `bundle.json` (the manifest) and `bundle.sig`
(its Ed25519 signature), followed by every member the manifest lists (`app/…`, `models/…`).

The signature is checked before any member is read; each member is then streamed to its place while it is
hashed, and refused at once when it is not listed, not a plain file, longer or shorter than listed, or when
its sha256 differs. A bundle cut short anywhere is refused as truncated.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from appliance.fleet.errors import BundleRefusedError, UpdateError
from appliance.fleet.keys import Keyring, Signature
from appliance.fleet.manifest import MANIFEST_NAME, SIGNATURE_NAME, BundleManifest
from appliance.store.files import ensure_dir

_CHUNK = 1024 * 1024
#: The manifest and signature are small; a bigger one is not a bundle of ours.
MAX_HEADER_BYTES = 4 * 1024 * 1024
#: errno values that mean the disk (or the quota, or the file-size limit) is full.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True)
class SignedManifest:
    manifest: BundleManifest
    raw: bytes
    signature: Signature

    @property
    def key_id(self) -> str:
        return self.signature.key_id

    @property
    def bundle_id(self) -> str:
        """The sha256 of the signed manifest: the same id means the same content."""
        return hashlib.sha256(self.raw).hexdigest()


def read_signed_manifest(path: Path, keyring: Keyring) -> SignedManifest:
    """The bundle's manifest, after its signature was checked against `keyring`.

    Raises:
        BundleRefusedError: not a bundle, truncated, no or a bad signature, an untrusted or revoked key,
            an unreadable manifest.
    """
    with _open(path) as archive:
        raw, signature = _header(archive)
    keyring.verify(raw, signature)
    return SignedManifest(BundleManifest.from_bytes(raw), raw, signature)


def extract_members(path: Path, signed: SignedManifest, dest: Path | None,
                    progress: Callable[[str, int], None] | None = None) -> None:
    """Stream every member into `dest` (or only hash it when `dest` is None), checking each against the
    manifest; files are fsynced. `progress(name, count)` is called after each member.

    Raises:
        BundleRefusedError: the bundle differs from its signed manifest or is truncated (nothing under
            `dest` is used then; the caller throws the folder away).
        UpdateError: the disk is full (update_disk_full) or `dest` cannot be written.
    """
    listed = signed.manifest.members
    seen: set[str] = set()
    with _open(path) as archive:
        raw, _ = _header(archive)
        if raw != signed.raw:
            raise _refused("The bundle changed while it was being installed; refused.", "bundle_tampered")
        for info in _members(archive):
            name = info.name
            if name not in listed or name in seen:
                raise _refused(f"The bundle holds {name!r}, which its signed manifest does not list (or lists once); "
                               "it was changed after signing: refused.", "bundle_tampered")
            if not info.isreg():
                raise _refused(f"The bundle member {name!r} is not a plain file; refused.", "bundle_tampered")
            member = listed[name]
            if info.size != member.size:
                raise _refused(f"The bundle member {name} is {info.size} bytes, its manifest says {member.size}: "
                               "it was changed after signing; refused.", "bundle_tampered")
            stream = archive.extractfile(info)
            if stream is None:
                raise _refused(f"The bundle member {name!r} cannot be read; refused.", "bundle_tampered")
            digest = _copy(stream, None if dest is None else dest / name, name)
            if digest != member.sha256:
                raise _refused(f"The bundle member {name} does not match its sha256 in the signed manifest: it was "
                               "changed after signing; refused.", "bundle_tampered")
            seen.add(name)
            if progress is not None:
                progress(name, len(seen))
    missing = sorted(set(listed) - seen)
    if missing:
        raise _refused(f"The bundle ends before {missing[0]} ({len(missing)} member(s) missing): it is truncated; "
                       "copy it again.", "bundle_truncated")


@contextmanager
def _open(path: Path) -> Iterator[tarfile.TarFile]:
    try:
        archive = tarfile.open(path, mode="r|")  # noqa: SIM115 (closed below, after the caller's block)
    except FileNotFoundError as exc:
        raise _refused(f"No bundle at {path}.", "bundle_missing") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise _refused(f"{path.name} is not a bundle (not a tar file) or is truncated; refused.",
                       "bundle_truncated") from exc
    try:
        yield archive
    except (tarfile.TarError, EOFError) as exc:  # "unexpected end of data": cut short
        raise _refused(f"The bundle {path.name} is truncated (it ends inside a member); copy it again.",
                       "bundle_truncated") from exc
    finally:
        archive.close()


def _header(archive: tarfile.TarFile) -> tuple[bytes, Signature]:
    parts: dict[str, bytes] = {}
    for expected in (MANIFEST_NAME, SIGNATURE_NAME):
        info = archive.next()
        if info is None:
            raise _refused("The bundle ends before its manifest and signature: truncated or not a bundle.",
                           "bundle_truncated")
        if info.name != expected or not info.isreg() or info.size > MAX_HEADER_BYTES:
            raise _refused(f"The bundle does not start with {MANIFEST_NAME} and {SIGNATURE_NAME}: it is unsigned "
                           "or not a bundle; refused.", "bundle_unsigned")
        stream = archive.extractfile(info)
        data = stream.read() if stream is not None else b""
        if len(data) != info.size:
            raise _refused("The bundle is truncated inside its manifest.", "bundle_truncated")
        parts[expected] = data
    return parts[MANIFEST_NAME], Signature.from_text(parts[SIGNATURE_NAME].decode("ascii", "replace"))


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (info := archive.next()) is not None:
        yield info


def _copy(stream: IO[bytes], target: Path | None, name: str) -> str:
    digest = hashlib.sha256()
    if target is None:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
        return digest.hexdigest()
    try:
        ensure_dir(target.parent)
        with target.open("wb") as out:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise UpdateError(f"The disk is full: {name} could not be written to the update slot. Nothing was "
                              "switched; free space and try again.", reason_code="update_disk_full",
                              detail=str(exc)) from exc
        raise UpdateError(f"The update slot cannot be written ({exc.strerror}): {target}.",
                          reason_code="update_slot_unwritable", detail=str(exc)) from exc
    return digest.hexdigest()


def _refused(message: str, reason: str) -> BundleRefusedError:
    return BundleRefusedError(message, reason_code=reason)

"""Checking a bundle against this box and writing it into a slot.

`admit` decides whether a verified bundle may replace what runs (hardware, anti-rollback, minimum version,
store schema); `write_slot` streams its members into the slot folder, checking every hash, and lays the
firmware out (a wheel unpacked into app/, a tree as is; a model bundle takes the running firmware's app/).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.fleet.bundle import DISK_FULL, SignedManifest, extract_members
from appliance.fleet.errors import BundleRefusedError, UpdateError
from appliance.fleet.hardware import is_compatible
from appliance.fleet.manifest import MANIFEST_NAME, SIGNATURE_NAME
from appliance.fleet.slots import SlotRecord, now_iso
from appliance.fleet.versions import older
from appliance.store.files import fsync_dir


@dataclass(frozen=True)
class Admission:
    """A bundle this box may install: what it replaces, and the notes to record (a downgrade allowed)."""

    from_version: str
    notes: tuple[str, ...] = ()
    already_installed: bool = False


def admit(signed: SignedManifest, active: SlotRecord | None, platform: str, store_schema: int | None, *,
          allow_downgrade: bool) -> Admission:
    """Whether this bundle may replace the active slot's content.

    Raises:
        BundleRefusedError: other hardware (bundle_wrong_hardware), older than what runs or the same version
            with other content (bundle_downgrade, unless `allow_downgrade`), too old a running version for it
            (bundle_needs_newer), a model bundle on a box with no firmware slot, or firmware that cannot read
            the store (bundle_store_too_new).
    """
    bundle = signed.manifest
    if not is_compatible(platform, bundle.compatible):
        raise BundleRefusedError(
            f"This bundle is for {', '.join(bundle.compatible)}; this box is {platform}: refused.",
            reason_code="bundle_wrong_hardware")
    if bundle.kind == "model" and active is None:
        raise BundleRefusedError("A model bundle needs installed firmware to go with: install a full bundle first.",
                                 reason_code="bundle_needs_newer")
    if active is None:
        return Admission(from_version="")
    current = active.model_version if bundle.kind == "model" else active.version
    what = "model" if bundle.kind == "model" else "firmware"
    notes: list[str] = []
    if older(active.version, bundle.min_version):
        raise BundleRefusedError(
            f"This bundle needs firmware {bundle.min_version} or later installed first; this box runs "
            f"{active.version}: refused.", reason_code="bundle_needs_newer")
    if not older(current, bundle.version):
        if bundle.version == current and signed.bundle_id == active.bundle_id:
            return Admission(from_version=current, already_installed=True)
        if not allow_downgrade:
            same = "the same version as" if not older(bundle.version, current) else "older than"
            raise BundleRefusedError(
                f"This bundle's {what} {bundle.version} is {same} the {what} this box runs ({current}): refused "
                f"(a downgrade needs --allow-downgrade, which is recorded in the audit log).",
                reason_code="bundle_downgrade")
        notes.append(f"downgrade of the {what} from {current} to {bundle.version} allowed by --allow-downgrade")
    if (bundle.store_schema is not None and store_schema is not None and bundle.store_schema < store_schema):
        raise BundleRefusedError(
            f"The firmware in this bundle reads exam store schema {bundle.store_schema}, but this box's store is "
            f"at schema {store_schema}: it could not open the store; refused.", reason_code="bundle_store_too_new")
    return Admission(from_version=current, notes=tuple(notes))


def write_slot(bundle_path: Path, signed: SignedManifest, slot_dir: Path, active_dir: Path | None,
               active: SlotRecord | None, *, on_member: Callable[[str, int], None] | None = None) -> SlotRecord:
    """Empty `slot_dir`, stream the bundle into it with every hash checked, lay out app/ and return its record.

    Raises:
        BundleRefusedError: a member differs from the manifest, or the bundle is truncated.
        UpdateError: the disk is full, or the slot cannot be written.
    On any error the half-written slot folder is removed.
    """
    bundle = signed.manifest
    try:
        _empty(slot_dir)
        extract_members(bundle_path, signed, slot_dir, progress=on_member)
        if bundle.kind == "full":
            _lay_out_app(slot_dir, bundle.app)
        else:
            if active_dir is None:
                raise UpdateError("No installed firmware to put the new model beside.", reason_code="update_failed")
            shutil.copytree(active_dir / "app", slot_dir / "app", symlinks=True)
        (slot_dir / MANIFEST_NAME).write_bytes(signed.raw)
        (slot_dir / SIGNATURE_NAME).write_text(signed.signature.to_text(), encoding="ascii")
        _sync_tree(slot_dir)
    except OSError as exc:
        _remove(slot_dir)
        if exc.errno in DISK_FULL:
            raise UpdateError("The disk is full: the update slot could not be written. Nothing was switched; "
                              "free space and try again.", reason_code="update_disk_full", detail=str(exc)) from exc
        raise UpdateError(f"The update slot {slot_dir} cannot be written ({exc.strerror}).",
                          reason_code="update_slot_unwritable", detail=str(exc)) from exc
    except BaseException:
        _remove(slot_dir)
        raise
    firmware = bundle.version if bundle.kind == "full" or active is None else active.version
    return SlotRecord(version=firmware, model_version=bundle.version, kind=bundle.kind, bundle_id=signed.bundle_id,
                      key_id=signed.key_id, installed_at=now_iso(),
                      store_schema=bundle.store_schema if bundle.kind == "full" or active is None
                      else active.store_schema)


def _lay_out_app(slot_dir: Path, app: str) -> None:
    """A wheel member is unpacked into app/ beside the other app/ members (a pure-Python wheel is a zip of the
    import tree) and removed; a tree member already is app/."""
    if not app.endswith(".whl"):
        return
    wheel = slot_dir / app
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(slot_dir / "app")  # zipfile drops absolute and ".." parts of member names
    wheel.unlink()


def _empty(folder: Path) -> None:
    _remove(folder)
    folder.mkdir(parents=True, mode=0o755)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder` (the extracted members were fsynced as written)."""
    for root, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))
    fsync_dir(folder.parent)

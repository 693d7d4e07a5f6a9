"""Bundles a box must refuse, each with a clear sentence, leaving the active slot untouched: a tampered
member, a wrong signature, an unknown or revoked key, a truncated file, other hardware, an older version
(unless --allow-downgrade, which is audited), and a disk that fills up during the install."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_box import Box, Release

from appliance.fleet.journal import audited_steps
from appliance.fleet.keys import Keyring, key_id, load_private_key

pytestmark = pytest.mark.slow  # each test installs on a box whose server it restarts

def _flip_byte_in(bundle: Path, member: str, out: Path) -> Path:
    with tarfile.open(bundle) as archive:
        offset = archive.getmember(member).offset_data
    data = bytearray(bundle.read_bytes())
    data[offset + 10] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


def _unchanged(box: Box, slot_a: dict[str, bytes]) -> None:
    status = box.status_here()
    assert status["active"] == "a" and status["committed"] and status["running_version"] == "1.0.0"
    assert box.kiosk_version() == "1.0.0"
    assert {p.relative_to(box.slots_root / "a").as_posix(): p.read_bytes()
            for p in (box.slots_root / "a").rglob("*") if p.is_file()} == slot_a


@pytest.fixture
def box_on_v1(make_box, v1: Path) -> Iterator[tuple[Box, dict[str, bytes]]]:
    box = make_box()
    assert box.install(v1).returncode == 0
    yield box, {p.relative_to(box.slots_root / "a").as_posix(): p.read_bytes()
                for p in (box.slots_root / "a").rglob("*") if p.is_file()}


def test_bad_bundles_and_revoked_keys_are_refused_with_a_clear_sentence(box_on_v1, release: Release, v2: Path,
                                                                        tmp_path: Path) -> None:
    box, slot_a = box_on_v1
    stranger = Release.make(tmp_path / "stranger")
    truncated = tmp_path / "truncated.bundle"
    truncated.write_bytes(v2.read_bytes()[: v2.stat().st_size // 2])
    bad_signature = tmp_path / "bad-signature.bundle"
    _flip_byte_in(v2, "bundle.json", bad_signature)
    cases = {
        "bundle_tampered": (_flip_byte_in(v2, "models/dr-test.onnx", tmp_path / "tampered.bundle"),
                            "does not match its sha256"),
        "bundle_signature_invalid": (bad_signature, "changed after signing"),
        "bundle_key_unknown": (release.fake_bundle("1.5.0", key=stranger.key), "not in this box's keyring"),
        "bundle_truncated": (truncated, "truncated"),
        "bundle_wrong_hardware": (release.fake_bundle("1.6.0", compatible=("jetson-agx-orin*/jetpack-6*",)),
                                  "this box is test-board/jetpack-6"),
        "bundle_downgrade": (release.fake_bundle("0.9.0"), "needs --allow-downgrade"),
        "bundle_needs_newer": (release.fake_bundle("2.0.0", min_version="1.5.0"), "1.5.0 or later"),
    }
    for reason, (bundle, words) in cases.items():
        done = box.install(bundle)
        assert done.returncode == 2, (reason, done.stdout, done.stderr)
        assert f"refused [{reason}]" in done.stderr and words in done.stderr, (reason, done.stderr)
        assert box.status_here()["last_update"]["outcome"] == "refused", reason
        _unchanged(box, slot_a)
    refusals = [e for e in audited_steps(box.data_dir) if e["action"] == "update_refused"]
    assert len(refusals) == len(cases)
    # A revoked key is refused even though its public key is still in the keyring.
    revoked_id = key_id(load_private_key(release.key).public_key())
    (box.root / "keys" / "revoked.txt").write_text(f"# leaked laptop, 2025-03\n{revoked_id}\n")
    assert revoked_id in Keyring.load(box.root / "keys").revoked
    done = box.install(v2)
    assert done.returncode == 2 and "refused [bundle_key_revoked]" in done.stderr
    _unchanged(box, slot_a)


def test_a_downgrade_with_allow_downgrade_is_installed_and_audited(box_on_v1, release: Release) -> None:
    box, _ = box_on_v1
    done = box.install(release.fake_bundle("0.8.0"), "--allow-downgrade", "--actor", "support-desk")
    assert done.returncode == 0, done.stderr
    assert box.kiosk_version() == "0.8.0"
    allowed = [e for e in audited_steps(box.data_dir) if e["action"] == "update_downgrade_allowed"]
    assert len(allowed) == 1 and "support-desk" in allowed[0]["message"] and "1.0.0 to 0.8.0" in allowed[0]["message"]


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          check=False)
    return done.returncode == 0


def test_a_disk_full_during_the_install_is_refused_and_the_active_slot_untouched(make_box, release: Release,
                                                                                   v1: Path, tmp_path: Path) -> None:
    slots = tmp_path / "tiny-disk"
    mounted = _mount_tmpfs(slots, "600k")
    box = make_box(slots_root=str(slots / "slots"))
    try:
        assert box.install(v1).returncode == 0
        slot_a = {p.relative_to(box.slots_root / "a").as_posix(): p.read_bytes()
                  for p in (box.slots_root / "a").rglob("*") if p.is_file()}
        big = release.fake_bundle("1.7.0", model_bytes=900_000)
        if mounted:  # a real full disk: a 600 KiB tmpfs
            done = box.install(big)
        else:  # no mount here (not root): the kernel's file-size limit makes the same write fail (EFBIG)
            done = box.cli("update", "install", str(big), prefix=("prlimit", "--fsize=600000"))
        assert done.returncode == 3, done.stderr
        assert "error [update_disk_full]: The disk is full" in done.stderr
        assert box.status()["last_update"]["outcome"] == "failed"
        _unchanged(box, slot_a)
        assert not (box.slots_root / "b").exists()  # the half-written slot was removed
    finally:
        box.stop()
        if mounted:
            subprocess.run(["umount", str(slots)], check=False)

"""phi_at_rest: on this machine's real /proc and /sys, and on made-up kernel trees for the stacks this kernel
cannot build (it has no device-mapper: `dmsetup create` fails here, so dm-crypt cannot exist in a test)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.store.at_rest import ENCRYPTED, NOT_ENCRYPTED, UNKNOWN, check_data_folder, phi_at_rest


def test_this_machines_own_disk(tmp_path: Path) -> None:
    found = phi_at_rest(tmp_path)
    assert found.state in (NOT_ENCRYPTED, UNKNOWN, ENCRYPTED)
    assert found.how and found.filesystem
    dev = os.stat(tmp_path).st_dev
    block = Path("/sys/dev/block") / f"{os.major(dev)}:{os.minor(dev)}"
    if block.is_dir() and not (block / "dm").is_dir() and not list((block / "slaves").glob("*")):
        assert found.state == NOT_ENCRYPTED, found  # a plain disk (the CI machine's ext4 on /dev/vda)
        assert "NOT encrypted" in found.sentence and str(tmp_path) not in found.sentence


def test_in_memory_and_kernel_filesystems_are_unknown() -> None:
    for folder in (Path("/dev/shm"), Path("/proc/self")):
        if folder.is_dir():
            assert phi_at_rest(folder).state == UNKNOWN


class Kernel:
    """A made-up /proc/self/mountinfo and /sys/dev/block under tmp_path."""

    def __init__(self, root: Path) -> None:
        self.proc, self.sys = root / "proc", root / "sys"
        (self.proc / "self").mkdir(parents=True)
        (self.sys / "dev" / "block").mkdir(parents=True)
        self.devices = root / "sys" / "devices" / "virtual" / "block"
        self.lines: list[str] = ["1 0 8:2 / / rw - ext4 /dev/sda2 rw"]
        (self.proc / "self" / "mountinfo").write_text(self.lines[0] + "\n")

    def mount(self, point: Path, number: str, fstype: str, source: str) -> None:
        escaped = str(point).replace(" ", "\\040")
        self.lines.append(f"{len(self.lines) + 30} 1 {number} / {escaped} rw,relatime - {fstype} {source} rw")
        (self.proc / "self" / "mountinfo").write_text("\n".join(self.lines) + "\n")

    def device(self, name: str, number: str, *, dm_uuid: str | None = None, below: tuple[str, ...] = (),
               loop: bool = False) -> None:
        folder = self.devices / name
        (folder / "slaves").mkdir(parents=True)
        if dm_uuid is not None:
            (folder / "dm").mkdir()
            (folder / "dm" / "uuid").write_text(dm_uuid + "\n")
            (folder / "dm" / "name").write_text(f"{name}-mapped\n")
        if loop:
            (folder / "loop").mkdir()
        for lower in below:
            (folder / "slaves" / lower).symlink_to(self.devices / lower)
        (self.sys / "dev" / "block" / number).symlink_to(folder)

    def check(self, folder: Path) -> tuple[str, str]:
        found = phi_at_rest(folder, proc=self.proc, sys=self.sys)
        return found.state, found.how


@pytest.fixture
def kernel(tmp_path: Path) -> Kernel:
    return Kernel(tmp_path / "kernel")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data dir" / "var"  # a space: mountinfo escapes it
    folder.mkdir(parents=True)
    return folder


def test_luks_directly_under_the_data_folder(kernel: Kernel, data: Path) -> None:
    kernel.device("sda3", "8:3")
    kernel.device("dm-0", "253:0", dm_uuid="CRYPT-LUKS2-0123456789abcdef0123456789abcdef-appliance_data",
                  below=("sda3",))
    kernel.mount(data.parent, "253:0", "ext4", "/dev/mapper/appliance_data")
    state, how = kernel.check(data)
    assert state == ENCRYPTED and how == "dm-crypt (CRYPT-LUKS2) on dm-0 (dm-0-mapped)"


def test_lvm_on_luks_is_followed_down_the_stack(kernel: Kernel, data: Path) -> None:
    kernel.device("nvme0n1p3", "259:3")
    kernel.device("dm-0", "253:0", dm_uuid="CRYPT-LUKS2-feed-cryptroot", below=("nvme0n1p3",))
    kernel.device("dm-1", "253:1", dm_uuid="LVM-abcdef", below=("dm-0",))
    kernel.mount(data, "253:1", "xfs", "/dev/mapper/vg-data")
    assert kernel.check(data)[0] == ENCRYPTED


def test_plain_disk_and_plain_lvm_are_not_encrypted(kernel: Kernel, data: Path) -> None:
    kernel.device("sda2", "8:2")
    assert kernel.check(data) == (NOT_ENCRYPTED, "ext4 on sda2, no dm-crypt layer below it")
    kernel.device("sdb1", "8:17")
    kernel.device("dm-2", "253:2", dm_uuid="LVM-plain", below=("sdb1",))
    kernel.mount(data, "253:2", "ext4", "/dev/mapper/vg-plain")
    assert kernel.check(data)[0] == NOT_ENCRYPTED


def test_the_longest_and_latest_mount_point_wins(kernel: Kernel, data: Path) -> None:
    kernel.device("sda2", "8:2")
    kernel.device("dm-0", "253:0", dm_uuid="CRYPT-PLAIN-data", below=("sda2",))
    kernel.mount(data.parent.parent, "8:2", "ext4", "/dev/sda2")
    kernel.mount(data.parent, "253:0", "ext4", "/dev/mapper/data")
    assert kernel.check(data)[0] == ENCRYPTED
    kernel.mount(data.parent, "8:2", "ext4", "/dev/sda2")  # mounted over again, unencrypted
    assert kernel.check(data)[0] == NOT_ENCRYPTED


@pytest.mark.parametrize(("fstype", "number"), [("tmpfs", "0:40"), ("overlay", "0:41"), ("nfs4", "0:42"),
                                                ("fuse.sshfs", "0:43"), ("zfs", "0:44"), ("btrfs", "0:45")])
def test_what_it_cannot_see_is_unknown(kernel: Kernel, data: Path, fstype: str, number: str) -> None:
    kernel.mount(data, number, fstype, "somewhere")
    state, how = kernel.check(data)
    assert state == UNKNOWN and fstype in how


def test_a_loop_device_and_a_missing_device_are_unknown(kernel: Kernel, data: Path) -> None:
    kernel.device("loop3", "7:3", loop=True)
    kernel.mount(data, "7:3", "ext4", "/dev/loop3")
    assert kernel.check(data)[0] == UNKNOWN
    kernel.mount(data, "9:9", "ext4", "/dev/md9")
    assert kernel.check(data)[0] == UNKNOWN


def test_no_mount_table_is_unknown_never_an_error(tmp_path: Path, data: Path) -> None:
    found = phi_at_rest(data, proc=tmp_path / "no-proc", sys=tmp_path / "no-sys")
    assert found.state == UNKNOWN and "mount table" in found.how
    assert found.to_dict() == {"state": UNKNOWN, "how": found.how, "filesystem": "", "device": ""}


def test_check_data_folder_refuses_when_required_and_warns_otherwise(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "not" / "made" / "yet"  # judged by its nearest existing parent, before it is made
    found = phi_at_rest(tmp_path)
    if found.state == ENCRYPTED:
        pytest.skip("this machine's temporary folder is encrypted")
    with caplog.at_level(logging.INFO, logger="appliance.store.at_rest"):
        assert check_data_folder(folder, required=False) == found
    assert [r.getMessage() for r in caplog.records] == [f"SECURITY: {found.sentence}"]
    with pytest.raises(ConfigError) as refused:
        check_data_folder(folder, required=True)
    assert refused.value.reason_code == "data_not_encrypted" and "require_encrypted_data" in refused.value.message
    assert not folder.exists()

"""The boot selector's counter: a slot on trial that keeps failing to start goes back to the previous one."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from appliance.fleet.boot import count_start
from appliance.fleet.slots import SlotRecord, SlotState, UpdateRecord


def record(version: str) -> SlotRecord:
    return SlotRecord(version=version, model_version=version, kind="full", bundle_id="x", key_id="k",
                      store_schema=4, installed_at="")


def on_trial() -> SlotState:
    return SlotState(active="b", committed=False, previous="a", slots={"a": record("1.0"), "b": record("1.1")},
                     update=UpdateRecord(version="1.1", from_version="1.0", kind="full", slot="b"))


def test_a_committed_slot_boots_without_counting() -> None:
    state = SlotState(active="a", slots={"a": record("1.0")})
    assert count_start(state, 3) == "a" and state.boot_count == 0 and state.booted == "a"


def test_a_slot_on_trial_is_counted_then_rolled_back_after_its_starts() -> None:
    state = on_trial()
    assert [count_start(state, 3) for _ in range(3)] == ["b", "b", "b"] and state.boot_count == 3
    assert count_start(state, 3) == "a"
    assert state.active == "a" and state.committed and state.previous is None and state.boot_count == 0
    assert state.update is not None and state.update.outcome == "rolled_back"
    assert "started 3 times" in state.update.reason and "back to 1.0" in state.update.reason


def test_a_first_install_that_crash_loops_goes_back_to_the_factory_firmware() -> None:
    state = on_trial()
    state.previous = None
    state.boot_count = 3
    assert count_start(state, 3) is None and state.active is None and "factory firmware" in state.update.reason


def test_the_state_file_reads_back(tmp_path: Path) -> None:
    from appliance.fleet.slots import Slots

    slots = Slots(tmp_path)
    assert slots.read() == SlotState()
    state = on_trial()
    state.update.note("switch", "to b")  # type: ignore[union-attr]
    slots.write(state)
    assert slots.read() == state


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the update runs as root, the service as its own user")
def test_the_service_user_can_count_its_starts_in_a_state_written_by_root(request: pytest.FixtureRequest) -> None:
    """The update (root) writes the state; the appliance service (its own user, owner of the data folder)
    must still read it and write its boot counter there."""
    from appliance.fleet.slots import Slots

    service_uid = 65534  # nobody
    box = Path(tempfile.mkdtemp(prefix="box-"))  # pytest's own tmp folders are root's alone (0700)
    box.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(box, ignore_errors=True))
    data = box / "data"
    data.mkdir()
    os.chown(data, service_uid, service_uid)
    slots = Slots(box / "slots", data / "update")
    slots.write(on_trial())  # as root, like the update
    assert (data / "update" / "state.json").stat().st_uid == service_uid
    os.setegid(service_uid)
    os.seteuid(service_uid)  # the kernel checks the files as the service user from here
    try:
        with slots.changing() as state:
            booted = count_start(state, 3)
    finally:
        os.seteuid(0)
        os.setegid(0)
    assert booted == "b"
    assert slots.read().boot_count == 1

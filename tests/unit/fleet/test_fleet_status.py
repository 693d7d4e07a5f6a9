"""What `update status` says, from the state file alone."""

from __future__ import annotations

from pathlib import Path

from appliance.fleet.slots import SlotRecord, Slots, SlotState, UpdateRecord
from appliance.fleet.status import summary


def record(version: str) -> SlotRecord:
    return SlotRecord(version, version, "full", "id", "k", 4, "")


def test_a_box_without_updates_runs_its_factory_firmware(tmp_path: Path) -> None:
    assert summary(SlotState()) == "No update installed: the box runs its factory firmware."


def test_the_summary_says_which_version_runs_and_why(tmp_path: Path) -> None:
    update = UpdateRecord(version="1.1.0", from_version="1.0.0", kind="full", slot="b", outcome="rolled_back",
                          reason="photo: referable_01_right.jpg: not referable, expected referable")
    state = SlotState(active="a", slots={"a": record("1.0.0"), "b": record("1.1.0")}, update=update)
    words = summary(state)
    assert words.startswith("Runs version 1.0.0 (model 1.0.0) from slot a, committed.")
    assert "(full 1.0.0 → 1.1.0) was rolled back: photo: referable_01_right.jpg" in words
    state.committed, state.active = False, "b"
    assert "on trial (not yet committed)" in summary(state)
    Slots(tmp_path / "slots", tmp_path / "data" / "update").write(state)
    assert (tmp_path / "data" / "update" / "state.json").is_file() and not (tmp_path / "slots").exists()

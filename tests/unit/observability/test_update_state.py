"""The update state /metrics reports, read from a real slots state file as appliance/fleet writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.fleet.errors import UpdateError
from appliance.fleet.slots import SlotRecord, Slots, SlotState, UpdateRecord
from appliance.observability.update_state import slot_update_state

RECORD = SlotRecord(version="1.4.0", model_version="0.3.0", kind="full", bundle_id="b1", key_id="k1",
                    store_schema=4, installed_at="2026-03-01T09:00:00+00:00")


def state_of(tmp_path: Path, state: SlotState | None) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    if state is not None:
        Slots(tmp_path).write(state)
    return slot_update_state(tmp_path)()


@pytest.mark.parametrize(("state", "expected"), [
    (None, "factory"),
    (SlotState(), "factory"),
    (SlotState(active="b", committed=False, previous="a", slots={"b": RECORD},
               update=UpdateRecord(version="1.4.0", from_version="1.3.0", kind="full", slot="b", step="health")),
     "in_progress"),
    (SlotState(active="b", committed=False, previous="a", slots={"b": RECORD},
               update=UpdateRecord(version="1.4.0", from_version="1.3.0", kind="full", slot="b", outcome="deferred")),
     "on_trial"),
    (SlotState(active="b", slots={"b": RECORD},
               update=UpdateRecord(version="1.4.0", from_version="1.3.0", kind="full", slot="b", outcome="committed")),
     "committed"),
    (SlotState(active="a", slots={"a": RECORD},
               update=UpdateRecord(version="1.4.0", from_version="1.3.0", kind="full", slot="b",
                                   outcome="rolled_back", reason="health check failed")),
     "rolled_back"),
])
def test_the_state_file_says_where_the_update_stands(tmp_path: Path, state: SlotState | None, expected: str) -> None:
    assert state_of(tmp_path / "slots", state) == expected


def test_an_unreadable_state_file_raises_for_the_metrics_to_say_unknown(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(UpdateError):
        slot_update_state(tmp_path)()

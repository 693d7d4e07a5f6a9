"""The fleet update's state, as /metrics reports it (`appliance_update_state{state=...}`), read from the slots'
state file (appliance/fleet/slots.py) at each scrape.

"factory" (the box never installed a bundle), "in_progress" (an update runs), "on_trial" (a new version runs
and waits for its health check), else how the last update ended: "committed", "rolled_back", "refused",
"failed", "deferred", "interrupted", "unchanged". "unknown" when the state file cannot be read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from appliance.fleet.slots import Slots

#: What /metrics says when the state cannot be read.
UNKNOWN = "unknown"


def slot_update_state(slots_root: Path) -> Callable[[], str]:
    """What reads the update state of the slots under `slots_root` (raises UpdateError: the metrics then say
    "unknown")."""
    slots = Slots(slots_root)

    def read() -> str:
        state = slots.read()
        if state.update is not None and not state.update.outcome:
            return "in_progress"
        if not state.committed:
            return "on_trial"
        if state.update is None:
            return "factory"
        return state.update.outcome

    return read

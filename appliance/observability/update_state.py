"""The fleet update's state, as /metrics reports it (`appliance_update_state{state=...}`).

appliance/fleet owns the update's state file; until the box has one to read, the state is "unknown".
"""

from __future__ import annotations

UNKNOWN = "unknown"


def unknown_update_state() -> str:
    """The state of a box whose update machinery records none (yet)."""
    return UNKNOWN

"""What `appliance update status` says: which version the box runs and why (the last update and its steps)."""

from __future__ import annotations

import dataclasses
from typing import Any

from appliance.config import Config
from appliance.fleet.slots import SlotState, slots_of


def update_status(config: Config) -> dict[str, Any]:
    """The slots, which one is active and committed, which one runs, and the last update (with its steps)."""
    slots = slots_of(config)
    state = slots.read()
    running = state.booted if state.booted in state.slots else None
    active = state.active_record()
    return {
        "slots_root": str(slots.root),
        "active": state.active,
        "active_version": active.version if active else None,
        "model_version": active.model_version if active else None,
        "committed": state.committed,
        "on_trial": not state.committed,
        "previous": state.previous,
        "boot_count": state.boot_count,
        "running_slot": running,
        "running_version": state.slots[running].version if running else None,
        "slots": {name: dataclasses.asdict(record) for name, record in sorted(state.slots.items())},
        "last_update": None if state.update is None else dataclasses.asdict(state.update),
        "summary": summary(state),
    }


def summary(state: SlotState) -> str:
    """One or two sentences for a person: what runs, and what became of the last update."""
    active = state.active_record()
    if active is None:
        runs = "No update installed: the box runs its factory firmware."
    else:
        trial = "on trial (not yet committed)" if not state.committed else "committed"
        runs = (f"Runs version {active.version} (model {active.model_version}) from slot {state.active}, {trial}.")
    update = state.update
    if update is None:
        return runs
    what = f"The last update ({update.kind} {update.from_version or '(none)'} → {update.version})"
    words = {
        "committed": f"{what} was committed at {update.finished_at}.",
        "rolled_back": f"{what} was rolled back: {update.reason}.",
        "refused": f"{what} was refused: {update.reason}",
        "failed": f"{what} failed: {update.reason}.",
        "deferred": f"{what} was not switched: {update.reason}.",
        "interrupted": f"{what} was interrupted: {update.reason}.",
        "unchanged": f"{what}: already installed, nothing done.",
        "": f"{what} is in progress: {update.step}.",
    }
    return f"{runs} {words.get(update.outcome, what + ': ' + update.outcome)}"


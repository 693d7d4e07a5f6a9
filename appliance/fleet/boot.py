"""The boot selector: the one small piece outside the slots (like a bootloader's A/B script), run by
systemd to start the active slot's firmware, and by the `appliance` wrapper on PATH.

    python -m appliance.fleet.boot start -- serve     # systemd ExecStart: counts a start of a slot on trial
    python -m appliance.fleet.boot run -- health --json   # the active slot's CLI, nothing counted
    python -m appliance.fleet.boot run --slot b -- health  # a named slot's CLI (the update's health check)

`start` is where a crash-looping new version is caught: while the active slot is on trial (not committed)
each start adds one to the boot counter in the state file; the start after `[update] max_boot_attempts`
switches back to the previous slot (the same one atomic state write as any switch), records why, and
boots that instead. A box with no installed slot runs the firmware this module came with.

`enter_active_slot` makes the `appliance` command itself do this: run from the firmware the box was installed
with (/opt/appliance/.venv, what the systemd units start), it hands over to the active slot's firmware —
`appliance serve` as `start`, any other command as `run` — so the units and the PATH need no change.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from appliance.config import Config, load_config
from appliance.errors import ApplianceError
from appliance.fleet.launch import slot_command, slot_env, this_firmware_slot
from appliance.fleet.slots import Slots, SlotState, slots_of

#: Set (non-empty) to run this firmware even where a slot is active (support; tests of a stand-in firmware).
NO_SLOT_VARIABLE = "APPLIANCE_NO_SLOT"


def enter_active_slot(argv: Sequence[str]) -> None:
    """Hand `appliance ARGV` over to the active slot's firmware (exec; does not return), unless this firmware
    is a slot's, NO_SLOT_VARIABLE is set, no slot is active, or the config cannot be read (the command then
    reports it itself)."""
    if os.environ.get(NO_SLOT_VARIABLE) or this_firmware_slot() is not None:
        return
    try:
        config = load_config(_config_argument(argv) or os.environ.get("APPLIANCE_CONFIG") or None)
        slots = slots_of(config)
        if not slots.state_path.is_file():
            return
        slot = start(config) if list(argv[:1]) == ["serve"] else slots.read().active
    except ApplianceError:
        return
    if slot is not None:
        command = slot_command(slots.slot_dir(slot), argv)
        sys.stdout.flush()
        # The active slot's own firmware: an absolute path inside the hash-checked slot, no shell.
        os.execve(command[0], command, slot_env(slots.slot_dir(slot)))  # nosec B606 # see above


def _config_argument(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def count_start(state: SlotState, max_boot_attempts: int) -> str | None:
    """Count one start of the active slot; go back to the previous slot once a slot on trial has used its
    starts. Returns the slot to boot (None: no slot installed). Changes `state` only."""
    if state.active is not None and not state.committed:
        if state.boot_count >= max_boot_attempts:
            failed = state.slots.get(state.active)
            back = state.slots.get(state.previous) if state.previous else None
            reason = (f"the new version {failed.version if failed else '?'} started {state.boot_count} times "
                      f"without passing its health check (a crash loop): back to "
                      f"{back.version if back else 'the factory firmware'}")
            state.active, state.previous, state.committed, state.boot_count = state.previous, None, True, 0
            if state.update is not None:
                state.update.note("rolled_back", reason)
                state.update.outcome, state.update.reason = "rolled_back", reason
        else:
            state.boot_count += 1
    state.booted = state.active
    return state.active


def start(config: Config) -> str | None:
    """Count this start (see count_start); the slot to boot."""
    with slots_of(config).changing() as state:
        return count_start(state, config.update.max_boot_attempts)


def _argv(slots: Slots, slot: str | None, args: Sequence[str]) -> list[str]:
    if slot is None:
        return [sys.executable, "-m", "appliance", *args]
    return slot_command(slots.slot_dir(slot), args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.fleet.boot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("start", "run"))
    parser.add_argument("--slot", choices=("a", "b"), help="run this slot, not the active one (run only)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the appliance command line, after --")
    ns = parser.parse_args(argv)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    try:
        config = load_config(os.environ.get("APPLIANCE_CONFIG") or None)
        slots = slots_of(config)
        slot = start(config) if ns.mode == "start" else ns.slot or slots.read().active
        command = _argv(slots, slot, args)
    except ApplianceError as exc:
        print(f"error [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return 3
    env = slot_env(slots.slot_dir(slot)) if slot is not None else dict(os.environ)
    sys.stdout.flush()
    os.execve(command[0], command, env)  # nosec B606 # the installed slot's own entry point, never input


if __name__ == "__main__":
    sys.exit(main())

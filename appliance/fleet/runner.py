"""Running a slot's firmware from the update: its CLI (the health check, the engine build, the store check on
a copy), and the service restart that boots the active slot."""

from __future__ import annotations

import json
import os
import shlex
import subprocess  # nosec B404 # runs slots' own firmware and the configured restart command, never a shell
import sys
from dataclasses import dataclass
from typing import Any

from appliance.fleet.launch import slot_command, slot_env
from appliance.fleet.slots import Slots

#: The faults tests' kill switch (see update.checkpoint) is never passed on to what the update runs.
FAULT_VARIABLE = "APPLIANCE_FAULT_KILL_AT"
RESTART_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SlotRunner:
    slots: Slots
    restart_command: str

    def run(self, slot: str | None, args: list[str], *, timeout: float,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`appliance ARGS` of a slot's firmware (None: the factory firmware this code came with).

        Raises:
            subprocess.TimeoutExpired: it ran past `timeout` (it is killed).
        """
        if slot is None:
            command, environment = [sys.executable, "-m", "appliance", *args], dict(os.environ)
        else:
            folder = self.slots.slot_dir(slot)
            command, environment = slot_command(folder, args), slot_env(folder)
        environment.pop(FAULT_VARIABLE, None)
        environment.update(env or {})
        # bandit B603: a slot's firmware (installed from a bundle whose signature was checked), no shell
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment,  # nosec B603
                              check=False)

    def health(self, slot: str | None, *, timeout: float) -> dict[str, Any]:
        """The slot's own `appliance health --json` (its firmware, its model), as a dict; never raises."""
        try:
            done = self.run(slot, ["health", "--json"], timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "problem": f"the health check did not answer within {timeout:.0f} s"}
        try:
            found = json.loads(done.stdout)
            if not isinstance(found, dict):
                raise ValueError("not an object")
            return found
        except ValueError:
            return {"ok": False, "problem": f"the health check failed: {last_line(done.stderr) or done.returncode}"}

    def restart(self) -> str:
        """Run the restart command; "" when it succeeded, else why not."""
        try:
            # bandit B603: the configured restart command, split without a shell
            done = subprocess.run(shlex.split(self.restart_command), capture_output=True, text=True,  # nosec B603
                                  timeout=RESTART_TIMEOUT_S, check=False)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            return f"the service could not be restarted ({exc})"
        if done.returncode != 0:
            return f"the restart command failed ({done.returncode}): {last_line(done.stderr)}"
        return ""


def failures(health: dict[str, Any]) -> list[str]:
    """"check: problem" for each failed check of a health report."""
    found = [f"{name}: {check.get('problem', 'failed')}" for name, check in health.items()
             if isinstance(check, dict) and check.get("ok") is False]
    if not found and health.get("problem"):
        found.append(str(health["problem"]))
    return found


def is_verdict(health: dict[str, Any]) -> bool:
    """Whether a failed report is a verdict (a check failed while the kiosk answered), not a server still
    starting: waiting would change nothing."""
    failing = [name for name, check in health.items() if isinstance(check, dict) and check.get("ok") is False]
    return bool(failing) and "kiosk" not in failing


def passed_words(health: dict[str, Any]) -> str:
    return ", ".join(name for name, check in health.items() if isinstance(check, dict) and check.get("ok")) or "ok"


def last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""

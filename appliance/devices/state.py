"""What a device says about itself for `appliance devices`, the status page and /healthz: its kind, whether it
answers now, and one sentence of state (no patient data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class DeviceState:
    """`kind` is the configured kind; `connected` whether it answers now; `state` one operator sentence;
    `settings` the configured keys that locate it (folder, device, port), never a secret."""

    kind: str
    connected: bool
    state: str
    settings: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "connected": self.connected, "state": self.state, "settings": self.settings}


@runtime_checkable
class DescribesItself(Protocol):
    """A device that can say more than connected or not."""

    def state(self) -> DeviceState: ...


class HasName(Protocol):
    name: str

    def connected(self) -> bool: ...


def device_state(device: HasName) -> DeviceState:
    """The device's own state when it gives one, else its connected() with a plain sentence. Never raises:
    a driver failing here must not break the status page."""
    try:
        if isinstance(device, DescribesItself):
            return device.state()
        connected = bool(device.connected())
    except Exception as exc:  # a driver failing must not break the health check
        return DeviceState(kind=device.name, connected=False, state=f"It could not be asked ({type(exc).__name__}).")
    return DeviceState(kind=device.name, connected=connected,
                       state="Ready." if connected else "Not answering.")

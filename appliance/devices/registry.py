"""The camera kinds the box knows, behind one interface: `open_camera(config)` gives the configured one.

The devices issue adds watch-folder, UVC and serial-triggered kinds here; the rest of the box only sees
`Camera` (appliance.devices).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from appliance.config import CameraConfig
from appliance.devices import Camera
from appliance.devices.simulated import SimulatedCamera
from appliance.errors import ConfigError


def _simulated(config: CameraConfig) -> Camera:
    return SimulatedCamera(Path(config.samples_dir) if config.samples_dir else None)


#: Camera kinds by their `[camera] kind` name.
CAMERA_KINDS: dict[str, Callable[[CameraConfig], Camera]] = {"simulated": _simulated}


def open_camera(config: CameraConfig) -> Camera:
    """The configured camera. Raises ConfigError for an unknown kind."""
    make = CAMERA_KINDS.get(config.kind)
    if make is None:
        raise ConfigError(f"Unknown camera kind '{config.kind}' (known: {', '.join(sorted(CAMERA_KINDS))}).")
    return make(config)

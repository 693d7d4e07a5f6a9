"""The camera kinds the box knows, behind one interface: `open_camera(config)` gives the configured one.

simulated (the demo's sample photos), watch_folder (files a camera exports to a folder), uvc (a USB video
camera through OpenCV), serial (a camera fired over a serial line, docs/serial-protocol.md). The rest of the box
only sees `Camera` (appliance.devices). Opening never touches the hardware: a camera that is not there yet is
reported by connected() and by its capture's CameraError, so the box starts without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from appliance.config import Config
from appliance.devices import Camera
from appliance.devices.simulated import SimulatedCamera
from appliance.errors import ConfigError


def _simulated(config: Config) -> Camera:
    return SimulatedCamera(Path(config.camera.samples_dir) if config.camera.samples_dir else None)


def _watch_folder(config: Config) -> Camera:
    from appliance.devices.watch_folder import WatchFolderCamera

    return WatchFolderCamera.from_config(config)


def _uvc(config: Config) -> Camera:
    from appliance.devices.uvc import UvcCamera

    return UvcCamera.from_config(config)


def _serial(config: Config) -> Camera:
    from appliance.devices.serial_camera.camera import SerialCamera

    return SerialCamera.from_config(config)


#: Camera kinds by their `[camera] kind` name.
CAMERA_KINDS: dict[str, Callable[[Config], Camera]] = {
    "simulated": _simulated, "watch_folder": _watch_folder, "uvc": _uvc, "serial": _serial}


def open_camera(config: Config) -> Camera:
    """The configured camera. Raises ConfigError for an unknown kind or a kind without its keys."""
    make = CAMERA_KINDS.get(config.camera.kind)
    if make is None:
        raise ConfigError(f"Unknown camera kind '{config.camera.kind}' (known: {', '.join(sorted(CAMERA_KINDS))}).")
    return make(config)

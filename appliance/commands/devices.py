"""`appliance devices [--json]`: the camera and the barcode scanner as configured, whether each answers now, and
its state in one sentence.

The devices are asked as the kiosk would ask them (a serial camera is sent READY?); a port the running appliance
holds is reported as in use. Exit status: 0 when the camera answers (and the scanner, when one is configured),
3 otherwise.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from appliance.config import Config

EXIT_NOT_CONNECTED = 3


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser("devices", parents=[common], help="show the camera and the barcode scanner",
                              description="Show the configured camera ([camera] kind) and barcode scanner "
                                          "([scanner] port): connected or not, and their state.")
    cmd.add_argument("--json", action="store_true", help="machine-readable JSON")
    cmd.set_defaults(handler=run)


def devices(config: Config) -> dict[str, Any]:
    """The camera's and the scanner's state. Raises ConfigError: an unknown camera kind, a bad scanner pattern."""
    from appliance.devices import close_device
    from appliance.devices.registry import open_camera
    from appliance.devices.scanner import BarcodeScanner
    from appliance.devices.state import device_state

    camera = open_camera(config)
    scanner = BarcodeScanner(config.scanner.port, config.scanner.baud, config.scanner.pattern)
    try:
        camera_state = device_state(camera).as_dict()
        scanner_state = {**scanner.state().as_dict(), "configured": scanner.configured}
    finally:
        close_device(camera)
        close_device(scanner)
    return {"camera": camera_state, "scanner": scanner_state}


def run(config: Config, args: argparse.Namespace) -> int:
    found = devices(config)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for role, state in found.items():
            settings = ", ".join(f"{k} {v}" for k, v in state["settings"].items() if v)
            mark = "connected" if state["connected"] else "NOT connected"
            if role == "scanner" and not state["configured"]:
                mark = "keyboard wedge only"
            print(f"{role:8} {state['kind']:16} {mark}{f' ({settings})' if settings else ''}")
            print(f"         {state['state']}")
    scanner_ok = found["scanner"]["connected"] or not found["scanner"]["configured"]
    return 0 if found["camera"]["connected"] and scanner_ok else EXIT_NOT_CONNECTED

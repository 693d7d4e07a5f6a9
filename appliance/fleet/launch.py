"""Running the firmware installed in a slot: the command line that starts a slot's `appliance`.

A slot's firmware runs on the box's Python environment (its dependencies live outside the slots), in
isolated mode (`-I`: no current folder, no PYTHON* variables on the import path), with the slot's `app/`
first on the path and `[model] models_dir` pointed at the slot's `models/`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Put the slot's app folder first on the path and run its `appliance` package as `python -m appliance`.
_BOOTSTRAP = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'appliance'; "
              "runpy.run_module('appliance', run_name='__main__', alter_sys=True)")
MODELS_DIR_VARIABLE = "APPLIANCE_MODEL_MODELS_DIR"


def slot_command(slot_dir: Path, args: Sequence[str], *, python: str | None = None) -> list[str]:
    """The argv that runs `appliance ARGS` from the firmware in `slot_dir`."""
    return [python or sys.executable, "-I", "-c", _BOOTSTRAP, str(slot_dir / "app"), *args]


def slot_env(slot_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a slot runs in: the caller's, with the models folder set to the slot's."""
    env = dict(os.environ if base is None else base)
    env[MODELS_DIR_VARIABLE] = str(slot_dir / "models")
    return env


def this_firmware_slot() -> Path | None:
    """The slot folder this firmware was installed in (it holds the bundle's manifest), or None (a checkout,
    or the firmware the box was installed with)."""
    import appliance
    from appliance.fleet.manifest import MANIFEST_NAME

    slot = Path(appliance.__file__).resolve().parent.parent.parent
    return slot if (slot / MANIFEST_NAME).is_file() and (slot / "app").is_dir() else None

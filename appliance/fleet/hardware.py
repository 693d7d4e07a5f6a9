"""Which hardware this box is, as bundles name it: "<board>/jetpack-<release>".

A bundle lists the boxes it is for as shell-style patterns (`compatible = ["jetson-orin-nano/jetpack-6*"]`);
`[update] hardware` and `[update] jetpack` say what this box is, or are found from the device tree and
/etc/nv_tegra_release on a Jetson ("<machine>-generic" and "none" elsewhere).
"""

from __future__ import annotations

import fnmatch
import platform
import re
from collections.abc import Sequence
from pathlib import Path

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
TEGRA_RELEASE = Path("/etc/nv_tegra_release")
#: L4T major release -> JetPack major release.
_JETPACK_OF_L4T = {"32": "4", "35": "5", "36": "6", "38": "7"}


def box_platform(hardware: str = "", jetpack: str = "") -> str:
    """This box as bundles name it, e.g. "jetson-orin-nano-developer-kit/jetpack-6" or "x86_64-generic/jetpack-none"."""
    return f"{hardware or detect_board()}/jetpack-{jetpack or detect_jetpack()}"


def detect_board() -> str:
    try:
        model = DEVICE_TREE_MODEL.read_text(encoding="utf-8", errors="replace").strip("\0 \n")
    except OSError:
        model = ""
    if model:
        return re.sub(r"[^a-z0-9]+", "-", model.lower().removeprefix("nvidia ")).strip("-")
    return f"{platform.machine().lower() or 'unknown'}-generic"


def detect_jetpack() -> str:
    try:
        text = TEGRA_RELEASE.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "none"
    found = re.search(r"#\s*R(\d+)", text)
    return _JETPACK_OF_L4T.get(found.group(1), f"l4t-r{found.group(1)}") if found else "none"


def is_compatible(platform_name: str, patterns: Sequence[str]) -> bool:
    """Whether this box (`platform_name`) matches one of a bundle's `compatible` patterns."""
    return any(fnmatch.fnmatchcase(platform_name, pattern) for pattern in patterns)

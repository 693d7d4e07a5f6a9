"""The application member of a full bundle: a wheel built from the repository, or a source tree.

A wheel is built with `pip wheel . --no-deps` (hatchling, from pyproject.toml) and goes into the bundle as
`app/<name>.whl`; the box unpacks it into its slot's app/. A tree (`--app tree`, or a folder holding an
`appliance/` package) goes in as `app/appliance/…` file by file: quicker to build, the same on the box.
Either way the repository's `build/` (the TensorRT engine builder) goes in as `app/build/…`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from appliance.fleet.errors import UpdateError

#: Left out of a tree: bytecode and editor leftovers.
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


def stage_app(app: str, repo: Path, staging: Path) -> str:
    """Put the application under `staging/app`; return the manifest's `app` member ("app/<wheel>" or "app").

    Args:
        app: "wheel" (built from `repo`), "tree" (`repo`'s appliance/ package), or a folder holding an
            `appliance/` package (a tree built elsewhere).

    Raises:
        UpdateError: the wheel does not build, or the folder holds no `appliance` package.
    """
    target = staging / "app"
    target.mkdir(parents=True)
    source = repo if app in ("wheel", "tree") else Path(app)
    _stage_builder(source, target)
    if app == "wheel":
        return "app/" + build_wheel(repo, target).name
    if not (source / "appliance" / "__init__.py").is_file():
        raise UpdateError(f"{source} holds no appliance/ package to bundle.", reason_code="bundle_build_failed")
    shutil.copytree(source / "appliance", target / "appliance", ignore=IGNORED)
    return "app"


def _stage_builder(source: Path, target: Path) -> None:
    """The device-side builder (build/: the TensorRT engine build) goes beside the firmware, which finds it
    there (appliance.commands.build_engine imports <firmware root>/build): the wheel holds appliance/ only."""
    if (source / "build" / "engine.py").is_file():
        shutil.copytree(source / "build", target / "build", ignore=IGNORED)


def build_wheel(repo: Path, out: Path) -> Path:
    """Build the firmware's wheel from `repo` into `out`; its path.

    Raises:
        UpdateError: pip failed (its last line says why).
    """
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(repo), "--no-deps", "--quiet",
                           "--disable-pip-version-check", "-w", str(out)], capture_output=True, text=True, check=False)
    wheels = sorted(out.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = [line for line in done.stderr.splitlines() if line.strip() and "WARNING" not in line][-1:]
        raise UpdateError(f"The firmware's wheel did not build: {last[0] if last else done.returncode}",
                          reason_code="bundle_build_failed")
    return wheels[0]

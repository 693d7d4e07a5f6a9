"""The CycloneDX SBOM of the firmware (`make sbom`): every pinned runtime package of requirements.lock (name,
version, PyPI package URL, the sha256 of each of its distribution files) under the appliance as the root
component (type firmware, with its version), validated against the CycloneDX 1.6 schema by cyclonedx-py.

    python -m build.sbom [--lock requirements.lock] [--out dist/sbom.cdx.json]

Components are the lock's: the packages installed from PyPI. Not in it: the OS image's packages (Debian,
JetPack, TensorRT), which the OS image's own SBOM lists, and the shipped model files (models/*.toml give
their sha256).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404 # runs cyclonedx-py from this virtual environment, no shell
import sys
from pathlib import Path

from appliance import __version__

REPO = Path(__file__).resolve().parent.parent


def make_sbom(lock: Path, out: Path) -> dict[str, object]:
    """Write the SBOM of `lock` to `out` and return it. Raises subprocess.CalledProcessError."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tool = Path(sys.executable).with_name("cyclonedx-py")
    env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "0")}
    subprocess.run([str(tool), "requirements", str(lock), "--pyproject", str(REPO / "pyproject.toml"),  # nosec B603
                    "--mc-type", "firmware", "--output-reproducible", "--output-format", "JSON", "-o", str(out)],
                   check=True, env=env)
    sbom = json.loads(out.read_text())
    sbom["metadata"]["component"]["version"] = __version__  # pyproject's version is dynamic (appliance/__init__)
    out.write_text(json.dumps(sbom, indent=2) + "\n")
    return dict(sbom)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=REPO / "requirements.lock")
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "sbom.cdx.json")
    args = parser.parse_args()
    sbom = make_sbom(args.lock, args.out)
    components = sbom.get("components")
    print(f"{args.out}: CycloneDX {sbom['specVersion']}, {len(components) if isinstance(components, list) else 0} "
          f"components, firmware version {__version__}")


if __name__ == "__main__":
    main()

"""The lock files pin, with hashes, every package pyproject.toml asks for; the SBOM lists every pinned runtime
package under the firmware's version (`make lock`, `make sbom`; SECURITY.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance import __version__
from build.sbom import make_sbom

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return canonical(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0])


def pinned(lock: Path) -> dict[str, list[str]]:
    """Package name -> the versions the lock pins (one per Python-version branch), each with a hash."""
    text = lock.read_text()
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?: ;[^\\\n]*)? \\\n\s+--hash=sha256:[0-9a-f]{64}",
                             text, re.M):
        found.setdefault(canonical(match.group(1)), []).append(match.group(2))
    return found


@pytest.mark.parametrize(("lock", "groups"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))])
def test_every_dependency_is_pinned_with_hashes(lock: str, groups: tuple[str, ...]) -> None:
    wanted = list(PYPROJECT["project"]["dependencies"])
    for group in groups:
        wanted += PYPROJECT["project"]["optional-dependencies"][group]
    locked = pinned(REPO / lock)
    missing = {requirement_name(spec) for spec in wanted} - set(locked)
    assert not missing, f"{lock} lacks {sorted(missing)}: run `make lock`"
    # Nothing unpinned or unhashed slipped in: every requirement line of the file is a pin with a hash.
    lines = [ln for ln in (REPO / lock).read_text().splitlines() if ln and not ln.startswith((" ", "#"))]
    assert len(lines) == sum(len(v) for v in locked.values())


def test_the_sbom_lists_every_pinned_runtime_package(tmp_path: Path) -> None:
    sbom = make_sbom(REPO / "requirements.lock", tmp_path / "sbom.cdx.json")
    assert sbom["bomFormat"] == "CycloneDX" and str(sbom["specVersion"]).startswith("1.")
    root = sbom["metadata"]["component"]  # type: ignore[index]
    assert (root["name"], root["version"], root["type"]) == ("dr-screening-appliance", __version__, "firmware")
    components = {(canonical(c["name"]), c["version"]) for c in sbom["components"]}  # type: ignore[union-attr]
    locked = {(name, version) for name, versions in pinned(REPO / "requirements.lock").items() for version in versions}
    assert components == locked
    for component in sbom["components"]:  # type: ignore[union-attr]
        assert component["purl"].startswith(f"pkg:pypi/{component['name'].lower()}@")
        assert component["externalReferences"][0]["hashes"], component["name"]

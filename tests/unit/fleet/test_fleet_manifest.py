"""The bundle manifest, versions and hardware patterns: pure rules."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.fleet.errors import BundleRefusedError
from appliance.fleet.hardware import box_platform, is_compatible
from appliance.fleet.manifest import BundleManifest, ExpectedPhoto, Member
from appliance.fleet.versions import older, parse_version

SHA = "ab" * 32


def manifest(**changes: object) -> BundleManifest:
    base = BundleManifest(kind="full", version="1.2.0", min_version="1.0", compatible=("board/jetpack-6",),
                          members={"app/appliance/__init__.py": Member(SHA, 10), "models/m.toml": Member(SHA, 5)},
                          app="app", store_schema=4, health_model_sha256=SHA,
                          health_photos=(ExpectedPhoto("referable_01_right.jpg", True, True, 0.8),))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_signed_bytes_read_back_to_the_same_manifest() -> None:
    original = manifest()
    assert BundleManifest.from_bytes(original.to_bytes()) == original
    assert original.to_bytes() == BundleManifest.from_bytes(original.to_bytes()).to_bytes()


@pytest.mark.parametrize("changes", [
    {"kind": "firmware"}, {"version": "1.2-beta"}, {"compatible": ()},
    {"members": {"../etc/passwd": Member(SHA, 1), "models/m": Member(SHA, 1)}},
    {"members": {"app/x": Member("nothex", 1), "models/m": Member(SHA, 1)}},
    {"members": {"app/x": Member(SHA, 1)}},  # no models
    {"app": ""}, {"store_schema": None},
])
def test_a_manifest_out_of_its_rules_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(BundleRefusedError) as caught:
        BundleManifest.from_bytes(manifest(**changes).to_bytes())
    assert caught.value.reason_code == "bundle_manifest_invalid"


def test_garbage_is_not_a_manifest() -> None:
    for raw in (b"", b"[]", b'{"format": 2}', b"\xff"):
        with pytest.raises(BundleRefusedError):
            BundleManifest.from_bytes(raw)


def test_versions_compare_number_by_number() -> None:
    assert older("1.9.0", "1.10.0") and not older("1.10", "1.9.9") and not older("1.4", "1.4.0")
    assert parse_version("2.0.0") == (2,)
    with pytest.raises(ValueError):
        parse_version("1.2.3-rc1")


def test_hardware_patterns() -> None:
    assert is_compatible("jetson-orin-nano-developer-kit/jetpack-6", ["jetson-orin-nano*/jetpack-6*"])
    assert not is_compatible("jetson-orin-nano-developer-kit/jetpack-5", ["jetson-orin-nano*/jetpack-6*"])
    assert box_platform("test-board", "6") == "test-board/jetpack-6"
    assert box_platform().endswith(("/jetpack-none", "/jetpack-4", "/jetpack-5", "/jetpack-6", "/jetpack-7"))

"""Reading bundles: built by the real builder (build/bundle.py) from a small tree, then cut and changed."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from model_fakes import manifest_fields, to_toml

from appliance.commands.build_engine import import_build_package
from appliance.fleet.bundle import extract_members, read_signed_manifest
from appliance.fleet.errors import BundleRefusedError
from appliance.fleet.install import admit
from appliance.fleet.keys import Keyring, generate_key
from appliance.fleet.slots import SlotRecord


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Keyring]:
    generate_key(tmp_path / "k.pem")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "k.pub").write_bytes((tmp_path / "k.pub").read_bytes())
    app = tmp_path / "src" / "appliance"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text('__version__ = "1.1.0"\n')
    models = tmp_path / "models"
    models.mkdir()
    data = b"model bytes" * 100
    (models / "m.onnx").write_bytes(data)
    (models / "m.toml").write_text(to_toml(manifest_fields("m.onnx", hashlib.sha256(data).hexdigest())))
    bundle = import_build_package("build.bundle")
    path = bundle.build_bundle(bundle.BundleRequest(
        key=tmp_path / "k.pem", version="1.1.0", min_version="1.0.0", compatible=("board/*",),
        models=(models / "m.toml",), out=tmp_path / "out", app=str(tmp_path / "src"), health=()))
    return path, Keyring.load(keys)


def test_a_built_bundle_verifies_and_extracts(built: tuple[Path, Keyring], tmp_path: Path) -> None:
    path, keyring = built
    signed = read_signed_manifest(path, keyring)
    assert signed.manifest.version == "1.1.0" and set(signed.manifest.members) == {
        "app/appliance/__init__.py", "models/m.onnx", "models/m.toml"}
    extract_members(path, signed, tmp_path / "slot")
    assert (tmp_path / "slot" / "models" / "m.onnx").read_bytes() == b"model bytes" * 100


@pytest.mark.parametrize("cut", [0, 100, 512, 1024, 2048, 3000, -1])
def test_a_bundle_cut_anywhere_is_refused_as_truncated_or_unsigned(built: tuple[Path, Keyring], tmp_path: Path,
                                                                    cut: int) -> None:
    """Anywhere up to the last byte of the last member (-1); the tar's end blocks after it are not needed:
    every signed member is complete without them."""
    path, keyring = built
    with tarfile.open(path) as archive:
        last = archive.getmembers()[-1]
    end = last.offset_data + last.size
    short = tmp_path / "short.bundle"
    short.write_bytes(path.read_bytes()[: cut if cut >= 0 else end + cut])
    with pytest.raises(BundleRefusedError) as caught:
        extract_members(short, read_signed_manifest(short, keyring), None)
    assert caught.value.reason_code in ("bundle_truncated", "bundle_unsigned", "bundle_signature_invalid")


def test_an_extra_member_is_refused(built: tuple[Path, Keyring], tmp_path: Path) -> None:
    path, keyring = built
    extended = tmp_path / "extra.bundle"
    extended.write_bytes(path.read_bytes())
    with tarfile.open(extended, "a") as archive:
        info = tarfile.TarInfo("app/appliance/evil.py")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"boom"))
    with pytest.raises(BundleRefusedError, match="does not list"):
        extract_members(extended, read_signed_manifest(extended, keyring), tmp_path / "slot")


def test_admission_rules(built: tuple[Path, Keyring]) -> None:
    path, keyring = built
    signed = read_signed_manifest(path, keyring)

    def slot(version: str, schema: int = 4) -> SlotRecord:
        return SlotRecord(version, version, "full", "other", "k", schema, "")

    assert admit(signed, slot("1.0.0"), "board/jetpack-6", 4, allow_downgrade=False).from_version == "1.0.0"
    assert admit(signed, None, "board/jetpack-6", None, allow_downgrade=False).from_version == ""
    refusals = {
        "bundle_wrong_hardware": (slot("1.0.0"), "other/jetpack-6", 4, False),
        "bundle_downgrade": (slot("1.2.0"), "board/jetpack-6", 4, False),
        "bundle_needs_newer": (slot("0.9.0"), "board/jetpack-6", 4, False),
        "bundle_store_too_new": (slot("1.2.0"), "board/jetpack-6", 9, True),
    }
    for reason, (active, platform, schema, allow) in refusals.items():
        with pytest.raises(BundleRefusedError) as caught:
            admit(signed, active, platform, schema, allow_downgrade=allow)
        assert caught.value.reason_code == reason
    allowed = admit(signed, slot("1.2.0"), "board/jetpack-6", 4, allow_downgrade=True)
    assert allowed.notes and "1.2.0 to 1.1.0" in allowed.notes[0]

"""Release keys: a signature counts only under a trusted, unrevoked key and over the exact bytes signed."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.fleet.errors import BundleRefusedError, SigningKeyError
from appliance.fleet.keys import Keyring, Signature, generate_key, load_private_key, sign


@pytest.fixture
def keyring(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "release.pem"
    generate_key(key)
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "release.pub").write_bytes((tmp_path / "release.pub").read_bytes())
    return key, folder


def test_a_signature_by_a_trusted_key_verifies(keyring: tuple[Path, Path]) -> None:
    key, folder = keyring
    signature = sign(load_private_key(key), b"manifest")
    assert Keyring.load(folder).verify(b"manifest", Signature.from_text(signature.to_text())) == signature.key_id


def test_changed_bytes_unknown_and_revoked_keys_are_refused(keyring: tuple[Path, Path], tmp_path: Path) -> None:
    key, folder = keyring
    signature = sign(load_private_key(key), b"manifest")
    with pytest.raises(BundleRefusedError) as changed:
        Keyring.load(folder).verify(b"manifest!", signature)
    assert changed.value.reason_code == "bundle_signature_invalid"
    generate_key(tmp_path / "other.pem")
    with pytest.raises(BundleRefusedError) as unknown:
        Keyring.load(folder).verify(b"m", sign(load_private_key(tmp_path / "other.pem"), b"m"))
    assert unknown.value.reason_code == "bundle_key_unknown" and "not in this box's keyring" in unknown.value.message
    (folder / "revoked.txt").write_text(f"# lost laptop\n{signature.key_id}  # since 2025-03\n")
    with pytest.raises(BundleRefusedError) as revoked:
        Keyring.load(folder).verify(b"manifest", signature)
    assert revoked.value.reason_code == "bundle_key_revoked"


def test_an_empty_keyring_trusts_nothing(keyring: tuple[Path, Path], tmp_path: Path) -> None:
    key, _ = keyring
    with pytest.raises(BundleRefusedError):
        Keyring.load(tmp_path / "none").verify(b"m", sign(load_private_key(key), b"m"))


def test_a_key_is_never_overwritten_and_a_garbled_signature_is_refused(keyring: tuple[Path, Path]) -> None:
    key, _ = keyring
    with pytest.raises(SigningKeyError, match="never overwritten"):
        generate_key(key)
    for text in ("", "rsa 0123456789abcdef AAAA", "ed25519 0123456789abcdef not-base64!"):
        with pytest.raises(BundleRefusedError):
            Signature.from_text(text)


def test_a_non_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM private key"):
        load_private_key(tmp_path / "x.pem")

"""Ed25519 release keys: signing a bundle's manifest, and the box's keyring of trusted keys with revocation.

A key is named by its id: the first 16 hex digits of the sha256 of its raw 32-byte public key. The keyring
is a folder of public keys (`<name>.pub`, PEM); the revocation list is a text file of key ids, one a line
(`#` starts a comment). A signature counts only when its key is in the keyring and not revoked.
`cryptography` is imported here only, when a key is used.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.fleet.errors import BundleRefusedError, SigningKeyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ID_LENGTH = 16


def key_id(public: Ed25519PublicKey) -> str:
    """The key's id: 16 hex digits of the sha256 of its raw public bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:ID_LENGTH]


def generate_key(private_path: Path) -> str:
    """Write a new private key (PEM, mode 0600) and its public key beside it (`<name>.pub`); return its id.

    Raises:
        SigningKeyError: the file exists already (a key is never overwritten) or cannot be written.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public_path = public_key_path(private_path)
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise SigningKeyError(f"{private_path} exists already: a signing key is never overwritten.") from exc
    except OSError as exc:
        raise SigningKeyError(f"Cannot write the signing key {private_path}: {exc.strerror}.") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_id(key.public_key())


def public_key_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name.removesuffix(".pem").removesuffix(".key") + ".pub")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Raises SigningKeyError: missing, unreadable, or not an unencrypted Ed25519 PEM key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningKeyError(f"Cannot read the signing key {path}: {exc.strerror}.") from exc
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key; bundles are signed with Ed25519 only.")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Raises SigningKeyError: unreadable, or not an Ed25519 public key in PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SigningKeyError(f"Cannot read the public key {path}: {exc.strerror}.") from exc
    except ValueError as exc:
        raise SigningKeyError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 public key.")
    return key


@dataclass(frozen=True)
class Signature:
    """A detached Ed25519 signature over a bundle manifest's exact bytes, and the id of its key."""

    key_id: str
    value: bytes

    def to_text(self) -> str:
        return f"ed25519 {self.key_id} {base64.b64encode(self.value).decode()}\n"

    @classmethod
    def from_text(cls, text: str) -> Signature:
        """Raises BundleRefusedError: not a signature line."""
        parts = text.split()
        try:
            if len(parts) != 3 or parts[0] != "ed25519" or len(parts[1]) != ID_LENGTH:
                raise ValueError(text[:80])
            value = base64.b64decode(parts[2], validate=True)
            if len(value) != 64:
                raise ValueError("not 64 bytes")
        except ValueError as exc:
            raise BundleRefusedError("The bundle's signature is unreadable: the bundle is damaged; refused.",
                                     reason_code="bundle_signature_invalid", detail=str(exc)) from exc
        return cls(parts[1], value)


def sign(private: Ed25519PrivateKey, data: bytes) -> Signature:
    return Signature(key_id(private.public_key()), private.sign(data))


@dataclass(frozen=True)
class Keyring:
    """The release keys this box trusts (by id) and the ids it refuses even when trusted."""

    trusted: dict[str, Ed25519PublicKey]
    revoked: frozenset[str]

    @classmethod
    def load(cls, folder: Path, revoked_file: Path | None = None) -> Keyring:
        """Every `*.pub` in `folder`, and the revocation list (default `folder/revoked.txt`; absent = none).

        Raises:
            SigningKeyError: a key file or the list cannot be read.
        """
        trusted = {}
        if folder.is_dir():
            for path in sorted(folder.glob("*.pub")):
                key = load_public_key(path)
                trusted[key_id(key)] = key
        revoked_file = revoked_file or folder / "revoked.txt"
        try:
            lines = revoked_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        except OSError as exc:
            raise SigningKeyError(f"Cannot read the revoked-keys list {revoked_file}: {exc.strerror}.") from exc
        revoked = frozenset(line.split("#", 1)[0].strip().lower()[:ID_LENGTH] for line in lines) - {""}
        return cls(trusted, revoked)

    def verify(self, data: bytes, signature: Signature) -> str:
        """Check `signature` over `data`; return the key id.

        Raises:
            BundleRefusedError: revoked key (bundle_key_revoked), a key not in the keyring
                (bundle_key_unknown), or a signature that does not match (bundle_signature_invalid).
        """
        from cryptography.exceptions import InvalidSignature

        if signature.key_id in self.revoked:
            raise BundleRefusedError(
                f"The bundle is signed with key {signature.key_id}, which this box has revoked; refused. "
                "Sign it with a current release key.", reason_code="bundle_key_revoked")
        key = self.trusted.get(signature.key_id)
        if key is None:
            raise BundleRefusedError(
                f"The bundle is signed with key {signature.key_id}, which is not in this box's keyring; refused.",
                reason_code="bundle_key_unknown")
        try:
            key.verify(signature.value, data)
        except InvalidSignature as exc:
            raise BundleRefusedError(
                "The bundle's signature does not match its manifest: it was changed after signing; refused.",
                reason_code="bundle_signature_invalid") from exc
        return signature.key_id

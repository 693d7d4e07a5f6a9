"""The bundle manifest: what a bundle is (full firmware or a model alone), which version, what it may
replace, which boxes it is for, and the sha256 and size of every member. Its exact bytes are signed.

    {"format": 1, "kind": "full", "version": "1.4.0", "min_version": "1.2.0",
     "compatible": ["jetson-orin-nano*/jetpack-6*"], "store_schema": 4, "app": "app/....whl",
     "health": {"model_sha256": "…", "photos": [{"file": "referable_01_right.jpg", "passed": true,
                "over_threshold": true, "score": 0.81}]},
     "members": {"app/....whl": {"sha256": "…", "size": 123}, "models/dr-reference.toml": {…}}, …}
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.fleet.errors import BundleRefusedError
from appliance.fleet.versions import is_valid_version

FORMAT = 1
KINDS = ("full", "model")
MANIFEST_NAME = "bundle.json"
SIGNATURE_NAME = "bundle.sig"
#: Members live under these folders; a member path is relative POSIX without "..".
MEMBER_ROOTS = ("app/", "models/")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Member:
    sha256: str
    size: int


@dataclass(frozen=True)
class ExpectedPhoto:
    """What a shipped sample photo (appliance/devices/samples) screens to with the bundle's model."""

    file: str
    passed: bool
    over_threshold: bool | None
    score: float | None


@dataclass(frozen=True)
class BundleManifest:
    kind: str
    version: str
    min_version: str
    compatible: tuple[str, ...]
    members: dict[str, Member]
    created: str = ""
    #: The store schema version the firmware of a full bundle reads and writes (None for a model bundle).
    store_schema: int | None = None
    #: The application member: a wheel ("app/<name>.whl") or a source tree ("app"); "" for a model bundle.
    app: str = ""
    #: The sha256 of the model the health photos were measured with, and their expected outcomes.
    health_model_sha256: str = ""
    health_photos: tuple[ExpectedPhoto, ...] = field(default_factory=tuple)
    notes: str = ""

    def to_bytes(self) -> bytes:
        """The canonical JSON that is signed (sorted keys, no spaces)."""
        data: dict[str, Any] = {
            "format": FORMAT, "kind": self.kind, "version": self.version, "min_version": self.min_version,
            "compatible": list(self.compatible), "created": self.created, "store_schema": self.store_schema,
            "app": self.app, "notes": self.notes,
            "health": {"model_sha256": self.health_model_sha256, "photos": [asdict(p) for p in self.health_photos]},
            "members": {name: asdict(m) for name, m in sorted(self.members.items())},
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> BundleManifest:
        """Raises BundleRefusedError (bundle_manifest_invalid): not a manifest this firmware can read."""
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format') if isinstance(data, dict) else None!r}, "
                                 f"this firmware reads {FORMAT}")
            health = data.get("health") or {}
            manifest = cls(
                kind=_text(data, "kind"), version=_text(data, "version"), min_version=_text(data, "min_version"),
                compatible=tuple(str(p) for p in data["compatible"]),
                members={str(k): Member(str(v["sha256"]), int(v["size"])) for k, v in data["members"].items()},
                created=str(data.get("created", "")), store_schema=data.get("store_schema"),
                app=str(data.get("app", "")), notes=str(data.get("notes", "")),
                health_model_sha256=str(health.get("model_sha256", "")),
                health_photos=tuple(ExpectedPhoto(str(p["file"]), bool(p["passed"]), p.get("over_threshold"),
                                                  p.get("score")) for p in health.get("photos", [])),
            )
            manifest.check()
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleRefusedError(f"The bundle's manifest cannot be read ({exc}); refused.",
                                     reason_code="bundle_manifest_invalid") from exc
        return manifest

    def check(self) -> None:
        """Raises ValueError: a field out of its rules (kind, versions, member names and hashes)."""
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        for name in ("version", "min_version"):
            if not is_valid_version(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} is not dotted whole numbers")
        if not self.compatible:
            raise ValueError("compatible lists no hardware")
        for name, member in self.members.items():
            if not is_member_name(name):
                raise ValueError(f"member name {name!r} is not under {MEMBER_ROOTS} or leaves its folder")
            if not _SHA256.match(member.sha256) or member.size < 0:
                raise ValueError(f"member {name!r} has no valid sha256 and size")
        if self.kind == "full" and not (self.app and any(n == self.app or n.startswith(self.app + "/")
                                                         for n in self.members)):
            raise ValueError("a full bundle needs its application member")
        if self.kind == "full" and not isinstance(self.store_schema, int):
            raise ValueError("a full bundle names the store schema its firmware uses")
        if not any(n.startswith("models/") for n in self.members):
            raise ValueError("a bundle ships its models")


def is_member_name(name: str) -> bool:
    parts = name.split("/")
    return (name.startswith(MEMBER_ROOTS) and "" not in parts and "." not in parts and ".." not in parts
            and "\\" not in name and "\0" not in name)


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text")
    return value

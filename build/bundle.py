"""`appliance bundle build`: one signed file holding the firmware, its models and a manifest for the box.

    appliance bundle build --key release.pem --version 1.4.0 --min-version 1.2.0 \
        --compatible 'jetson-orin-nano*/jetpack-6*' [--model models/dr-reference.toml] [--out DIR]

Steps: stage the application (bundle_app.py) and each model manifest with the files it names (hashes
checked); screen the health photos with the (first) model, so the box can check it gets the same outcome;
write the manifest (version, minimum version, compatible hardware, store schema, sha256 and size of every
member), sign its exact bytes with the Ed25519 key, and write the tar: bundle.json, bundle.sig, the members.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from appliance.checksum import sha256_file
from appliance.errors import ManifestError
from appliance.fleet.errors import UpdateError
from appliance.fleet.keys import load_private_key, sign
from appliance.fleet.manifest import MANIFEST_NAME, SIGNATURE_NAME, BundleManifest, ExpectedPhoto, Member
from appliance.inference.manifest import ModelManifest, load_manifest
from build.bundle_app import stage_app

#: Fixed member times and owners: the same inputs give the same tar.
_MTIME = 1_700_000_000


@dataclass(frozen=True)
class BundleRequest:
    key: Path
    version: str
    min_version: str
    compatible: tuple[str, ...]
    models: tuple[Path, ...]
    out: Path
    kind: str = "full"
    app: str = "wheel"
    repo: Path = Path(".")
    notes: str = ""
    #: Health photo outcomes to sign instead of measuring them (tests of a fake firmware only).
    health: tuple[ExpectedPhoto, ...] | None = None
    #: The store schema the firmware reads (default: this checkout's; give it for a tree built elsewhere).
    store_schema: int | None = None


def build_bundle(request: BundleRequest, progress: Callable[[str], None] = lambda line: None) -> Path:
    """Build, sign and write the bundle; its path (`<out>/appliance-<kind>-<version>.bundle`).

    Raises:
        SigningKeyError, ManifestError / ModelIntegrityError (a model does not match its manifest),
        UpdateError (the wheel did not build), ValueError (a version or name out of the manifest's rules).
    """
    private = load_private_key(request.key)
    if not request.models:
        raise ManifestError("A bundle needs at least one model manifest (--model).")
    with tempfile.TemporaryDirectory(prefix="bundle-") as temp:
        staging = Path(temp)
        app = ""
        if request.kind == "full":
            progress(f"staging the application ({request.app})")
            app = stage_app(request.app, request.repo, staging)
        manifests = [_stage_models(path, staging) for path in request.models]
        progress(f"staged {len(manifests)} model(s); measuring the health photos with {manifests[0].name}")
        photos = request.health if request.health is not None else _measure(manifests[0])
        members = {name: Member(sha256_file(staging / name), (staging / name).stat().st_size)
                   for name in _member_names(staging)}
        manifest = BundleManifest(
            kind=request.kind, version=request.version, min_version=request.min_version,
            compatible=request.compatible, members=members, app=app, notes=request.notes,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            store_schema=(request.store_schema or _store_schema()) if request.kind == "full" else None,
            health_model_sha256=manifests[0].sha256, health_photos=tuple(photos))
        manifest.check()
        raw = manifest.to_bytes()
        signature = sign(private, raw)
        request.out.mkdir(parents=True, exist_ok=True)
        final = request.out / f"appliance-{request.kind}-{request.version}.bundle"
        progress(f"writing {final} ({len(members)} members, signed by key {signature.key_id})")
        _write_tar(final, raw, signature.to_text().encode(), staging, sorted(members))
    return final


def _stage_models(manifest_path: Path, staging: Path) -> ModelManifest:
    """Copy a manifest and the files it names under staging/models/, hash-checked first."""
    manifest = load_manifest(manifest_path)  # raises when the model does not match its hash
    folder = manifest_path.parent.resolve()
    files = [manifest_path.resolve(), manifest.model_path.resolve()]
    if manifest.heatmap is not None:
        files.append(manifest.heatmap.path.resolve())
    for source in files:
        try:
            relative = source.relative_to(folder)
        except ValueError as exc:
            raise ManifestError(f"{source} is outside its manifest's folder {folder}; a bundle keeps models beside "
                                "their manifest.") from exc
        target = staging / "models" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return manifest


def _measure(manifest: ModelManifest) -> list[ExpectedPhoto]:
    from appliance.fleet import photos
    from appliance.inference.model import Model
    from appliance.inference.onnx_runner import OnnxRunner

    runner = OnnxRunner(manifest, intra_op_threads=1)
    runner.activate()
    model = Model(manifest=manifest, runner=runner)
    try:
        found = photos.measure(model)
    finally:
        model.close()
    samples = photos.Samples.load()
    if samples.model_sha256 == manifest.sha256:
        problems = [p for f in found if f.file in samples.photos for p in photos.differences(samples.photos[f.file], f)]
        if problems:
            raise UpdateError("The health photos no longer screen as SAMPLES.toml says: " + "; ".join(problems),
                              reason_code="bundle_build_failed")
    return found


def _store_schema() -> int:
    from appliance.store.schema import SCHEMA_VERSION

    return SCHEMA_VERSION


def _member_names(staging: Path) -> list[str]:
    return sorted(path.relative_to(staging).as_posix() for path in staging.rglob("*") if path.is_file())


def _write_tar(final: Path, manifest: bytes, signature: bytes, staging: Path, names: Sequence[str]) -> None:
    temp = final.with_name(final.name + ".partial")
    with tarfile.open(temp, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in ((MANIFEST_NAME, manifest), (SIGNATURE_NAME, signature)):
            archive.addfile(_info(name, len(data)), io.BytesIO(data))
        for name in names:
            path = staging / name
            with path.open("rb") as f:
                archive.addfile(_info(name, path.stat().st_size), f)
    os.replace(temp, final)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = size, _MTIME, 0o644, 0, 0
    return info

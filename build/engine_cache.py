"""The engine cache: where an engine lives, what it was built for, and writing it without half-files.

The file name comes from appliance.inference.registry.engine_path (model sha256, TensorRT version,
GPU, precision, input size), so the runtime finds exactly the engine that fits it and a change of
any of those means another file. Beside each engine, `<engine>.json` records the full key (adding
the batch profile and network typing, which change the engine but not its name), the engine's own
sha256, the build time and the parity figures. An engine is reused only when that record matches.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from appliance.checksum import sha256_file
from appliance.inference.manifest import ModelManifest
from appliance.inference.registry import TensorRTDevice, engine_path

log = logging.getLogger(__name__)

SIDECAR_FORMAT = 1


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; a different key means a rebuild."""

    model_name: str
    model_version: str
    onnx_sha256: str
    trt_version: str
    gpu_name: str
    precision: str
    #: One sample's shape, (3, S, S).
    input_shape: tuple[int, ...]
    #: The requested [min, opt, max] batch.
    batch_profile: tuple[int, int, int]
    #: "strong" or "weak" network typing.
    typing: str

    @classmethod
    def for_model(
        cls, manifest: ModelManifest, device: TensorRTDevice, *, precision: str,
        batch_profile: tuple[int, int, int], typing: str,
    ) -> EngineKey:
        size = manifest.input.size
        return cls(
            model_name=manifest.name, model_version=manifest.version, onnx_sha256=manifest.sha256,
            trt_version=device.trt_version, gpu_name=device.gpu_name, precision=precision,
            input_shape=(3, size, size), batch_profile=batch_profile, typing=typing,
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["batch_profile"] = list(self.batch_profile)
        return data


def engine_file(manifest: ModelManifest, engine_dir: Path, key: EngineKey) -> Path:
    """The engine's path in the cache (the registry's naming, so the runtime finds it)."""
    return engine_path(manifest, engine_dir, trt_version=key.trt_version, gpu_name=key.gpu_name,
                       precision=key.precision)


def sidecar_path(engine: Path) -> Path:
    """`<engine>.json`, the record beside an engine."""
    return engine.with_name(engine.name + ".json")


def read_sidecar(engine: Path) -> dict[str, Any] | None:
    """The engine's record, or None when it is missing or unreadable."""
    try:
        data = json.loads(sidecar_path(engine).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_current(engine: Path, key: EngineKey) -> bool:
    """True when `engine` exists, its record has exactly `key`, and the file hashes to the recorded sha256.

    Anything else (no file, no or another record, a damaged file) means the engine must be rebuilt.
    """
    if not engine.is_file():
        return False
    record = read_sidecar(engine)
    if record is None:
        log.info("Engine %s has no readable record; rebuilding", engine.name)
        return False
    if record.get("key") != key.as_dict():
        log.info("Engine %s was built for another key; rebuilding", engine.name)
        return False
    try:
        intact = record.get("engine_sha256") == sha256_file(engine)
    except OSError:
        intact = False
    if not intact:
        log.warning("Engine %s does not match its recorded sha256; rebuilding", engine.name)
    return intact


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part.

    Temp file in the same folder, fsync, rename over the target, fsync the folder.

    Raises:
        OSError: the folder cannot be created or written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = stage_file(path.parent, data, prefix=f".{path.name}.")
    try:
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def stage_file(folder: Path, data: bytes, *, prefix: str) -> Path:
    """Write `data` to a new, fsynced temp file in `folder` and return its path (the caller renames or deletes it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def install_engine(staged: Path, engine: Path, record: dict[str, Any]) -> None:
    """Move a staged (already fsynced) engine into place, then write its record atomically.

    The engine goes first: a crash in between leaves an engine without a record, which the next
    build replaces; never a record describing bytes that are not there.
    """
    os.replace(staged, engine)
    fsync_dir(engine.parent)
    payload = {"format": SIDECAR_FORMAT, **record}
    write_atomic(sidecar_path(engine), (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

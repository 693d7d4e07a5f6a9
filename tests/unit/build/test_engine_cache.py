"""The engine cache: key -> file name, the JSON record, and writes that never leave half a file."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from appliance.inference.manifest import ModelManifest
from appliance.inference.registry import TensorRTDevice, find_engine
from build import engine_cache
from build.engine_cache import EngineKey, engine_file, install_engine, is_current, read_sidecar, write_atomic

ORIN = TensorRTDevice(trt_version="10.3.0", gpu_name="Orin")


def key_for(manifest: ModelManifest, **changes: object) -> EngineKey:
    key = EngineKey.for_model(manifest, ORIN, precision="int8", batch_profile=(1, 4, 8), typing="strong")
    return dataclasses.replace(key, **changes)  # type: ignore[arg-type]


def installed(manifest: ModelManifest, folder: Path, key: EngineKey, data: bytes = b"engine") -> Path:
    target = engine_file(manifest, folder, key)
    staged = engine_cache.stage_file(folder, data, prefix=".x.")
    install_engine(staged, target, {"key": key.as_dict(), "engine_sha256": hashlib.sha256(data).hexdigest()})
    return target


def test_the_file_name_changes_with_sha_trt_gpu_precision_and_input_size(
    fp32_model: ModelManifest, tmp_path: Path
) -> None:
    base = key_for(fp32_model)
    names = {engine_file(fp32_model, tmp_path, base)}
    for change in [{"trt_version": "8.6.2"}, {"gpu_name": "Xavier NX"}, {"precision": "fp16"}]:
        names.add(engine_file(fp32_model, tmp_path, dataclasses.replace(base, **change)))  # type: ignore[arg-type]
    names.add(engine_file(dataclasses.replace(fp32_model, sha256="e" * 64), tmp_path, base))
    bigger = dataclasses.replace(fp32_model, input=dataclasses.replace(fp32_model.input, size=224))
    names.add(engine_file(bigger, tmp_path, base))
    assert len(names) == 6


def test_the_runtime_finds_what_the_cache_installs(fp32_model: ModelManifest, tmp_path: Path) -> None:
    target = installed(fp32_model, tmp_path, key_for(fp32_model))
    assert find_engine(fp32_model, tmp_path, ORIN) == target
    record = read_sidecar(target)
    assert record is not None and record["format"] == engine_cache.SIDECAR_FORMAT
    assert target.with_name(target.name + ".json").is_file()


def test_current_only_with_the_same_full_key_and_intact_bytes(fp32_model: ModelManifest, tmp_path: Path) -> None:
    key = key_for(fp32_model)
    target = installed(fp32_model, tmp_path, key)
    assert is_current(target, key)
    # Same file name, but the batch profile or the typing changed: the engine differs, so rebuild.
    assert not is_current(target, dataclasses.replace(key, batch_profile=(1, 2, 16)))
    assert not is_current(target, dataclasses.replace(key, typing="weak"))
    target.write_bytes(b"engin3")  # damaged or swapped
    assert not is_current(target, key)


def test_not_current_without_a_record_or_without_the_engine(fp32_model: ModelManifest, tmp_path: Path) -> None:
    key = key_for(fp32_model)
    target = installed(fp32_model, tmp_path, key)
    target.with_name(target.name + ".json").write_text("{not json")
    assert read_sidecar(target) is None
    assert not is_current(target, key)
    target.unlink()
    assert not is_current(target, key)


def test_write_atomic_replaces_the_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "file.bin"
    write_atomic(path, b"old")
    write_atomic(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.bin"]


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.bin"
    write_atomic(path, b"old")

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_staged_files_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    engine_cache.stage_file(tmp_path, b"data", prefix=".e.")
    assert synced

"""One typed configuration: embedded defaults, then a TOML file, then APPLIANCE_* variables.

Every key can be overridden from the environment: top-level keys as APPLIANCE_<KEY>
(e.g. APPLIANCE_DATA_DIR), section keys as APPLIANCE_<SECTION>_<KEY>
(e.g. APPLIANCE_SYNC_DICOMWEB_URL for `[sync] dicomweb_url`). The defaults run the demo:
SQLite under ./var, onnxruntime on the CPU, the reference model, the simulated camera.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "APPLIANCE_"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4
    max_upload_bytes: int = 64 * 1024 * 1024


@dataclass
class ModelConfig:
    #: Manifest of the model to load; relative paths are taken from the repository root.
    manifest: str = "models/dr-reference.toml"
    #: "auto" (TensorRT when an engine and the libraries exist, else onnxruntime),
    #: "onnxruntime" or "tensorrt".
    runner: str = "auto"
    #: Where TensorRT engines are cached; relative to data_dir.
    engine_dir: str = "engines"
    intra_op_threads: int = 2


@dataclass
class LimitsConfig:
    max_image_bytes: int = 30 * 1024 * 1024
    max_image_megapixels: float = 50.0
    min_image_side: int = 128


@dataclass
class QualityConfig:
    """Thresholds of the image-quality gate (pure checks in appliance/quality)."""

    #: Field of view: share of the image's shorter side that the fundus circle's diameter must span.
    min_fov_diameter_fraction: float = 0.5
    #: Field of view: share of the image that must be inside the fundus disc, at least.
    min_fov_area_fraction: float = 0.25
    #: Exposure: mean of the green channel inside the field, 0..255.
    too_dark_mean: float = 25.0
    overexposed_mean: float = 200.0
    #: Exposure: share of pixels inside the field that are saturated (any channel >= 250).
    max_saturated_fraction: float = 0.15
    #: Focus: variance of the Laplacian of the green channel at 512 px, inside the eroded field.
    min_focus: float = 6.0


@dataclass
class CameraConfig:
    #: "simulated" serves the shipped sample photos.
    kind: str = "simulated"
    #: Folder of sample photos for the simulated camera; "" = the samples shipped in the package.
    samples_dir: str = ""


@dataclass
class SyncConfig:
    dicomweb_url: str = ""
    fhir_url: str = ""


@dataclass
class Config:
    #: Where the store keeps its database and images; relative paths are taken from the cwd.
    data_dir: str = "./var"
    log_level: str = "INFO"
    server: ServerConfig = field(default_factory=ServerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def manifest_path(self) -> Path:
        path = Path(self.model.manifest)
        return path if path.is_absolute() else REPO_ROOT / path


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the config from defaults, an optional TOML file and the environment.

    Raises:
        ConfigError: unreadable file, unknown key, or a value of the wrong type.
    """
    env = os.environ if env is None else env
    config = Config()
    if path is not None:
        _apply_mapping(config, _read_toml(Path(path)), where=str(path))
    _apply_env(config, env)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            values: dict[str, Any] = tomllib.load(f)
            return values
    except FileNotFoundError as exc:
        raise ConfigError(f"Configuration file not found: {path}") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Configuration file {path} cannot be read: {exc}") from exc


def _apply_mapping(target: Any, values: Mapping[str, Any], where: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"Unknown configuration key '{key}' in {where}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{key}' in {where} must be a [section]")
            _apply_mapping(current, value, where=f"{where} [{key}]")
        else:
            setattr(target, key, _coerce(value, type(current), f"{key} in {where}"))


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    for top in dataclasses.fields(config):
        value = getattr(config, top.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                name = f"{ENV_PREFIX}{top.name}_{sub.name}".upper()
                if name in env:
                    current = getattr(value, sub.name)
                    setattr(value, sub.name, _coerce(env[name], type(current), name))
        else:
            name = f"{ENV_PREFIX}{top.name}".upper()
            if name in env:
                setattr(config, top.name, _coerce(env[name], type(value), name))


def _coerce(value: Any, kind: type, where: str) -> Any:
    """Turn a TOML or environment value into the default's type, or raise ConfigError."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if kind is int and isinstance(value, float):
            raise ValueError(value)
        if kind in (int, float, str):
            return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Configuration value for {where} must be {kind.__name__}: {value!r}") from exc
    return value

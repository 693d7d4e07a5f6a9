"""Settings an administrator changes at the kiosk: the camera kind and the quality gate's profile.

They live in `settings.toml` in the data folder (written atomically, audited by the caller) and apply at
the next start: `load_config` reads them over the configuration file, under APPLIANCE_* variables.
The model's thresholds are not settings: they are locked in its manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError
from appliance.tomlfile import read_toml

SETTINGS_NAME = "settings.toml"


@dataclass(frozen=True)
class SiteSettings:
    camera_kind: str | None = None
    quality_profile: str | None = None

    def as_config(self) -> dict[str, Any]:
        """The settings as configuration tables (only those set)."""
        tables: dict[str, Any] = {}
        if self.camera_kind is not None:
            tables["camera"] = {"kind": self.camera_kind}
        if self.quality_profile is not None:
            tables["quality"] = {"profile": self.quality_profile}
        return tables


def settings_path(data_dir: Path) -> Path:
    return Path(data_dir) / SETTINGS_NAME


def read_settings(data_dir: Path) -> SiteSettings:
    """The data folder's settings; none set when the file is absent. Raises ConfigError: unreadable file."""
    path = settings_path(data_dir)
    if not path.is_file():
        return SiteSettings()
    values = read_toml(path, ConfigError, f"Settings file not found: {path}", f"Settings file {path} cannot be read")
    camera = values.get("camera", {})
    quality = values.get("quality", {})
    if set(values) - {"camera", "quality"} or not isinstance(camera, dict) or not isinstance(quality, dict) \
            or set(camera) - {"kind"} or set(quality) - {"profile"}:
        raise ConfigError(f"Settings file {path} may hold only [camera] kind and [quality] profile.")
    kind, profile = camera.get("kind"), quality.get("profile")
    if not isinstance(kind, (str, type(None))) or not isinstance(profile, (str, type(None))):
        raise ConfigError(f"Settings file {path}: kind and profile must be text.")
    return SiteSettings(camera_kind=kind, quality_profile=profile)


def settings_text(settings: SiteSettings) -> str:
    """TOML for the settings (JSON string escapes are valid TOML basic strings)."""
    lines = ["# Written by the kiosk's admin screen; applies at the next start."]
    for table, values in settings.as_config().items():
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {json.dumps(value, ensure_ascii=True)}" for key, value in values.items())
    return "\n".join(lines) + "\n"

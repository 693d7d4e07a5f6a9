"""What an administrator may change at the kiosk: users (appliance.auth.Accounts) and the camera kind and
quality profile (saved to the data folder, applied at the next start, audited). The model's thresholds
are shown, never changed: they are locked in its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.config import PROFILE_DIR, Config
from appliance.devices.registry import CAMERA_KINDS
from appliance.errors import ConfigError, StorageError
from appliance.inference.model import Model
from appliance.site_settings import SiteSettings, read_settings, settings_path, settings_text
from appliance.store import ExamStore
from appliance.store.files import atomic_write


class SettingsError(ConfigError):
    """An administrator asked for a camera kind or quality profile the box does not have."""

    reason_code = "settings_invalid"
    http_status = 400


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


@dataclass
class Administration:
    config: Config
    store: ExamStore
    model: Model

    def settings(self) -> dict[str, Any]:
        """In force now, saved for the next start, the choices, and the model's locked thresholds."""
        saved = read_settings(self.config.data_path)
        info = self.model.info
        return {
            "camera": {"kind": self.config.camera.kind, "saved": saved.camera_kind, "choices": sorted(CAMERA_KINDS)},
            "quality": {"profile": self.config.quality.profile, "saved": saved.quality_profile,
                        "choices": shipped_profiles(), "max_attempts": self.config.quality.max_attempts},
            "model": {"name": info.name, "version": info.version, "sha256": info.sha256, "runner": info.runner,
                      "locked_threshold": self.model.threshold, "read_only": True},
            "applies": "at the next start",
        }

    def save_settings(self, settings: SiteSettings, *, actor: str) -> dict[str, Any]:
        """Validate, save atomically and audit ('settings_changed'). Raises SettingsError, StorageError."""
        if settings.camera_kind is not None and settings.camera_kind not in CAMERA_KINDS:
            raise SettingsError(f"Unknown camera kind: choose one of {', '.join(sorted(CAMERA_KINDS))}.")
        if settings.quality_profile is not None and settings.quality_profile not in shipped_profiles():
            raise SettingsError(f"Unknown quality profile: choose one of {', '.join(shipped_profiles())}.")
        before = read_settings(self.config.data_path)
        merged = SiteSettings(camera_kind=settings.camera_kind or before.camera_kind,
                              quality_profile=settings.quality_profile or before.quality_profile)
        try:
            atomic_write(settings_path(self.config.data_path), settings_text(merged).encode())
        except OSError as err:
            raise StorageError("The appliance could not save its settings: storage is full or failing. "
                               "Call support.", detail=str(err)) from err
        self.store.record_audit("settings_changed", actor=actor, detail={
            "camera_kind": merged.camera_kind, "quality_profile": merged.quality_profile,
            "before": {"camera_kind": before.camera_kind, "quality_profile": before.quality_profile}})
        return self.settings()

"""Settings an administrator saves in the data folder: read back, applied by load_config over the file and
under the environment, refused when malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.errors import ConfigError
from appliance.site_settings import SiteSettings, read_settings, settings_path, settings_text


def test_no_file_means_nothing_set(tmp_path: Path) -> None:
    assert read_settings(tmp_path) == SiteSettings()


def test_saved_settings_read_back(tmp_path: Path) -> None:
    saved = SiteSettings(camera_kind="simulated", quality_profile="eyepacs-natural")
    settings_path(tmp_path).write_text(settings_text(saved))
    assert read_settings(tmp_path) == saved


def test_load_config_applies_them_over_the_file_but_under_the_environment(tmp_path: Path) -> None:
    settings_path(tmp_path).write_text(settings_text(SiteSettings(quality_profile="eyepacs-natural")))
    config_file = tmp_path / "appliance.toml"
    config_file.write_text('[quality]\nprofile = "default"\n')
    env = {"APPLIANCE_DATA_DIR": str(tmp_path)}
    assert load_config(config_file, env=env).quality.profile == "eyepacs-natural"
    assert load_config(config_file, env={**env, "APPLIANCE_QUALITY_PROFILE": "default"}).quality.profile == "default"
    other = tmp_path / "elsewhere"
    assert load_config(config_file, env={"APPLIANCE_DATA_DIR": str(other)}).quality.profile == "default"


def test_the_profile_thresholds_come_with_the_saved_profile(tmp_path: Path) -> None:
    settings_path(tmp_path).write_text(settings_text(SiteSettings(quality_profile="eyepacs-enhanced")))
    with_saved = load_config(env={"APPLIANCE_DATA_DIR": str(tmp_path)}).quality
    direct = load_config(env={"APPLIANCE_DATA_DIR": str(tmp_path / "x"),
                              "APPLIANCE_QUALITY_PROFILE": "eyepacs-enhanced"}).quality
    assert with_saved == direct


@pytest.mark.parametrize("text", ['[model]\nmanifest = "evil.toml"\n', '[camera]\nkind = 3\n', "not toml ["])
def test_anything_else_in_the_file_is_refused(tmp_path: Path, text: str) -> None:
    settings_path(tmp_path).write_text(text)
    with pytest.raises(ConfigError):
        read_settings(tmp_path)

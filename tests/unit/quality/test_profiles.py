"""Camera profiles: shipped files load, the default equals QualityConfig(), overrides apply in order."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from appliance.config import PROFILE_DIR, QualityConfig, load_config, quality_profile
from appliance.errors import ConfigError
from appliance.quality.profile_format import profile_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SHIPPED = sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def test_the_shipped_profiles() -> None:
    assert {"default", "eyepacs-natural", "eyepacs-enhanced"} <= set(SHIPPED)


def test_the_default_profile_is_the_dataclass_default() -> None:
    assert quality_profile("default") == QualityConfig()
    assert load_config(env={}).quality == QualityConfig()


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_and_records_where_it_came_from(name: str) -> None:
    thresholds = quality_profile(name)
    assert thresholds.profile == name
    about = tomllib.loads((PROFILE_DIR / f"{name}.toml").read_text())["profile"]
    assert about["name"] == name and "command" in about and "fitted_on" in about


def test_a_profile_is_selected_in_the_config_file_and_single_keys_still_override(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    path.write_text('[quality]\nprofile = "eyepacs-natural"\nmin_focus = 3.5\n')
    natural = quality_profile("eyepacs-natural")
    config = load_config(path, env={"APPLIANCE_QUALITY_TOO_DARK_MEAN": "41"})
    assert config.quality.profile == "eyepacs-natural"
    assert config.quality.score_model == natural.score_model
    assert config.quality.max_reject_probability == natural.max_reject_probability
    assert config.quality.min_focus == 3.5  # the file's key over the profile
    assert config.quality.too_dark_mean == 41.0  # the environment over both


def test_the_environment_selects_a_profile() -> None:
    config = load_config(env={"APPLIANCE_QUALITY_PROFILE": "eyepacs-enhanced"})
    assert config.quality == quality_profile("eyepacs-enhanced")


def test_a_profile_file_written_by_calibration_is_a_profile(tmp_path: Path) -> None:
    thresholds = dataclasses.replace(QualityConfig(), min_focus=1.234567891, too_dark_mean=40.0,
                                     score_model={"focus": [1.0, 0.5, -2.0], "intercept": [0.25]},
                                     max_reject_probability=0.4)
    path = tmp_path / "my-camera.toml"
    path.write_text(profile_toml(thresholds, {"name": "my-camera", "photos": 12, "note": 'say "hi"'}))
    loaded = quality_profile(str(path))
    assert loaded.profile == str(path)
    assert loaded.min_focus == pytest.approx(1.234567891, rel=1e-5)
    assert dataclasses.replace(loaded, profile="default", min_focus=thresholds.min_focus) == thresholds
    assert load_config(env={"APPLIANCE_QUALITY_PROFILE": str(path)}).quality.too_dark_mean == 40.0


def test_non_finite_thresholds_are_not_written() -> None:
    with pytest.raises(ValueError, match="min_focus"):
        profile_toml(QualityConfig(min_focus=float("inf")), {})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[quality]\nmin_focus = 'sharp'\n", "min_focus"),
        ("[quality]\nno_such_threshold = 1.0\n", "no_such_threshold"),
        ("[quality]\nprofile = 'other'\n", "without 'profile'"),
        ("[thresholds]\nmin_focus = 1.0\n", "Unknown table"),
        ("[quality.score_model]\nfocus = [1.0, 0.0, 1.0]\nintercept = [0.0]\n", "scale"),
        ("[quality]\nscore_model = 3\n", "score_model"),
    ],
)
def test_bad_profiles_are_config_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        quality_profile(str(path))


def test_unknown_profile_names_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="eyepacs-natural"):
        load_config(env={"APPLIANCE_QUALITY_PROFILE": "no-such-camera"})


def test_the_score_model_cannot_come_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="APPLIANCE_QUALITY_SCORE_MODEL"):
        load_config(env={"APPLIANCE_QUALITY_SCORE_MODEL": "{}"})


def test_a_profile_without_a_score_has_none_not_the_defaults(tmp_path: Path) -> None:
    assert QualityConfig().score_model  # the default profile carries a combined score
    path = tmp_path / "thresholds-only.toml"
    path.write_text("[quality]\nmin_focus = 1.5\nmax_reject_probability = 1000.0\n")
    assert quality_profile(str(path)).score_model == {}
    assert quality_profile("default").score_model == QualityConfig().score_model

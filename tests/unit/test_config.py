"""Config: defaults, TOML file, APPLIANCE_* overrides, clear errors."""

from pathlib import Path

import pytest

from appliance.config import REPO_ROOT, load_config
from appliance.errors import ConfigError


def test_defaults_are_the_embedded_demo() -> None:
    config = load_config(env={})
    assert config.data_dir == "./var"
    assert config.server.host == "127.0.0.1" and config.server.port == 8080
    assert config.model.runner == "auto"
    assert config.camera.kind == "simulated"
    assert config.manifest_path == REPO_ROOT / "models" / "dr-reference.toml"


def test_toml_file_then_environment_override(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    path.write_text('data_dir = "/srv/box"\n[server]\nport = 9000\n[sync]\ndicomweb_url = "http://pacs/dicom-web"\n')
    config = load_config(path, env={"APPLIANCE_SERVER_PORT": "9100", "APPLIANCE_DATA_DIR": "/data",
                                    "APPLIANCE_SYNC_FHIR_URL": "http://ehr/fhir",
                                    "APPLIANCE_QUALITY_TOO_DARK_MEAN": "30.5"})
    assert config.server.port == 9100
    assert config.data_dir == "/data"
    assert config.sync.dicomweb_url == "http://pacs/dicom-web"
    assert config.sync.fhir_url == "http://ehr/fhir"
    assert config.quality.too_dark_mean == 30.5


def test_every_key_has_an_environment_name() -> None:
    """Each section key is reachable as APPLIANCE_<SECTION>_<KEY>."""
    env = {"APPLIANCE_MODEL_RUNNER": "onnxruntime", "APPLIANCE_LIMITS_MAX_IMAGE_BYTES": "1000",
           "APPLIANCE_CAMERA_SAMPLES_DIR": "/x", "APPLIANCE_LOG_LEVEL": "debug"}
    config = load_config(env=env)
    assert (config.model.runner, config.limits.max_image_bytes, config.camera.samples_dir, config.log_level) == (
        "onnxruntime", 1000, "/x", "debug")


@pytest.mark.parametrize(
    ("text", "env", "match"),
    [
        ("[server]\nport = 'eighty'\n", {}, "server"),
        ("[server]\nportt = 80\n", {}, "Unknown configuration key 'portt'"),
        ("nonsense = 1\n", {}, "Unknown configuration key 'nonsense'"),
        ("server = 3\n", {}, "must be a \\[section\\]"),
        ("[server\n", {}, "cannot be read"),
        ("", {"APPLIANCE_SERVER_PORT": "many"}, "APPLIANCE_SERVER_PORT"),
        ("[limits]\nmax_image_bytes = 1.5\n", {}, "max_image_bytes"),
    ],
)
def test_bad_config_raises_config_error(tmp_path: Path, text: str, env: dict[str, str], match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path, env=env)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", env={})

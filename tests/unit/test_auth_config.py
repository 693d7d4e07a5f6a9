"""The [auth] section: defaults, file and environment, range checks."""

from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.errors import ConfigError


def test_auth_defaults() -> None:
    auth = load_config(env={}).auth
    assert (auth.idle_timeout_s, auth.idle_warning_s, auth.max_failed_attempts, auth.lockout_s) == (180, 30, 5, 300)
    assert auth.require_sign_in and not auth.demo_users and not auth.secure_cookie and auth.allowed_hosts == ""


def test_auth_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    path.write_text("[auth]\nidle_timeout_s = 600\nlockout_s = 60\n")
    auth = load_config(path, env={"APPLIANCE_AUTH_DEMO_USERS": "1", "APPLIANCE_AUTH_MAX_FAILED_ATTEMPTS": "3"}).auth
    assert (auth.idle_timeout_s, auth.lockout_s, auth.demo_users, auth.max_failed_attempts) == (600, 60, True, 3)


@pytest.mark.parametrize("env", [
    {"APPLIANCE_AUTH_IDLE_TIMEOUT_S": "0"},
    {"APPLIANCE_AUTH_IDLE_WARNING_S": "-1"},
    {"APPLIANCE_AUTH_MAX_FAILED_ATTEMPTS": "0"},
    {"APPLIANCE_AUTH_LOCKOUT_S": "0"},
    {"APPLIANCE_AUTH_IDLE_WARNING_S": "180"},
    {"APPLIANCE_AUTH_REQUIRE_SIGN_IN": "maybe"},
])
def test_auth_values_out_of_range(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"\[auth\]|APPLIANCE_AUTH"):
        load_config(env=env)

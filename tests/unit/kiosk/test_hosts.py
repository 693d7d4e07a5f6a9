"""Allowed Host headers and the exposure check of a kiosk served on a network address."""

from __future__ import annotations

import logging

import pytest

from appliance.config import AuthConfig
from appliance.errors import ConfigError
from appliance.kiosk.hosts import allowed_hosts_for, check_exposure, host_matches, parse_host


@pytest.mark.parametrize(("value", "parsed"), [
    ("localhost", ("localhost", None)), ("LOCALHOST:8080", ("localhost", 8080)), ("[::1]:8080", ("::1", 8080)),
    ("10.0.0.5:80", ("10.0.0.5", 80)), ("", None), ("a b", None), ("x@y", None), ("x:99999", None),
    ("x:port", None), ("x/y", None), ("x\r\ny", None),
])
def test_parse_host(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert parse_host(value) == parsed


def test_default_ports() -> None:
    assert host_matches(("localhost", None), [("localhost", 80)], "http")
    assert host_matches(("localhost", 80), [("localhost", None)], "http")
    assert not host_matches(("localhost", None), [("localhost", 80)], "https")


def test_allowed_hosts_for() -> None:
    assert allowed_hosts_for("127.0.0.1", 8080) == ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"]
    assert allowed_hosts_for("10.0.0.5", 80, " box.local, other:9000 ")[-3:] == [
        "10.0.0.5:80", "box.local:80", "other:9000"]
    assert allowed_hosts_for("fd00::5", 80)[-1] == "[fd00::5]:80"
    assert allowed_hosts_for("0.0.0.0", 80) == ["127.0.0.1:80", "localhost:80", "[::1]:80"]
    with pytest.raises(ConfigError):
        allowed_hosts_for("127.0.0.1", 80, "bad host")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_is_quiet(host: str) -> None:
    assert check_exposure(host, AuthConfig()) == []
    assert len(check_exposure(host, AuthConfig(require_sign_in=False, demo_users=True))) == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "box.local", "::"])
def test_network_address_warns_loudly(host: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        warnings = check_exposure(host, AuthConfig())
    assert any("reachable from the network" in w for w in warnings)
    assert any("unencrypted" in w for w in warnings)
    assert all(r.levelno == logging.WARNING and "SECURITY" in r.getMessage() for r in caplog.records)
    assert not any("unencrypted" in w for w in check_exposure(host, AuthConfig(secure_cookie=True)))


@pytest.mark.parametrize("config", [AuthConfig(require_sign_in=False), AuthConfig(demo_users=True)])
def test_network_address_refused_without_sign_in_or_with_demo_users(config: AuthConfig) -> None:
    with pytest.raises(ConfigError):
        check_exposure("10.0.0.5", config)

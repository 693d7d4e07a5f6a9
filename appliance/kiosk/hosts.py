"""Which Host headers the kiosk answers (against DNS rebinding), and the warnings for a kiosk that a
network can reach."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from appliance.config import AuthConfig
from appliance.errors import ConfigError

log = logging.getLogger(__name__)

#: (host name or address, port); port None: the default port of the request's scheme.
HostPort = tuple[str, int | None]
DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_ALL_INTERFACES = {"", "0.0.0.0", "::"}  # nosec B104 # to recognise (and warn about) them; binds nothing


def parse_host(value: str) -> HostPort | None:
    """`host`, `host:port`, `[v6]:port` as in a Host header, lower-cased; None when malformed."""
    text = value.strip()
    if not text or any(c in text for c in "/\\@?# \t\r\n"):
        return None
    try:
        parts = urlsplit(f"//{text}")
        return (parts.hostname or "", parts.port) if parts.hostname else None
    except ValueError:  # a port out of range or not a number, unbalanced brackets
        return None


def host_matches(given: HostPort, allowed: Iterable[HostPort], scheme: str) -> bool:
    default = DEFAULT_PORTS.get(scheme)
    port = given[1] if given[1] is not None else default
    return any(name == given[0] and (allowed_port if allowed_port is not None else default) == port
               for name, allowed_port in allowed)


def allowed_hosts_for(host: str, port: int, extra: str = "") -> list[str]:
    """The Host headers of a kiosk served on `host`:`port`: that address, the loopback names, and the
    comma-separated `extra` names (`[auth] allowed_hosts`; the served port unless one is given)."""
    names = [f"{name}:{port}" for name in _LOOPBACK_NAMES]
    if host not in _ALL_INTERFACES and not is_loopback(host):
        names.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    for name in (n.strip() for n in extra.split(",")):
        parsed = parse_host(name) if name else None
        if parsed is None:
            if name:
                raise ConfigError(f"[auth] allowed_hosts: {name!r} is not a host name or address")
            continue
        names.append(name if parsed[1] is not None else f"{name}:{port}")
    return names


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, auth_config: AuthConfig) -> list[str]:
    """Warnings (also logged) for serving the kiosk on `host`.

    Raises:
        ConfigError: a non-loopback address with `[auth] require_sign_in` off, or with the demo users
            (whose PINs are public) on.
    """
    warnings: list[str] = []
    if is_loopback(host):
        if not auth_config.require_sign_in:
            warnings.append("Sign-in is off ([auth] require_sign_in = false): whoever stands at the kiosk can use it.")
    else:
        if not auth_config.require_sign_in:
            raise ConfigError(f"The kiosk will not serve the network address {host!r} without sign-in: "
                              "set [auth] require_sign_in = true, or serve on 127.0.0.1.")
        if auth_config.demo_users:
            raise ConfigError(f"The kiosk will not serve the network address {host!r} with the demo users on "
                              "(their PINs are public): set [auth] demo_users = false.")
        warnings.append(f"The kiosk is served on {host!r}, reachable from the network: only users who sign in "
                        "can use it, but keep the box on the clinic's own network.")
        if not auth_config.secure_cookie:
            warnings.append("PINs and sign-in cookies cross the network unencrypted (http): serve it behind TLS "
                            "and set [auth] secure_cookie = true.")
        if host in _ALL_INTERFACES:
            warnings.append("Served on every interface: requests are answered only for localhost and the names "
                            "in [auth] allowed_hosts.")
    for warning in warnings:
        log.warning("SECURITY: %s", warning)
    return warnings

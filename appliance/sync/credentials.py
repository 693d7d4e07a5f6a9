"""The credentials the box presents to the PACS and the EHR, and keeping them out of every message.

They come from `[sync]`: a bearer token read from `token_file`, else HTTP basic with `username` and the
password read from `password_file` (or `password`). They are never logged, audited, stored with an
outbox item or shown by `/healthz`: `redact()` scrubs them from any text that leaves this package.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import SyncConfig
from appliance.errors import ConfigError

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)

    @property
    def kind(self) -> str:
        """'bearer', 'basic' or 'none' (what /healthz may say)."""
        return "bearer" if self.token else "basic" if self.username else "none"

    def headers(self) -> dict[str, str]:
        """The Authorization header, or none."""
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username:
            pair = f"{self.username}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        return {}

    def redact(self, text: str) -> str:
        """`text` without the password, the token, their basic-auth encoding or any URL's user:password@."""
        text = _USERINFO.sub(r"\g<scheme>***@", text)
        secrets = [s for s in (self.password, self.token) if s]
        if self.username:
            secrets.append(self.headers()["Authorization"].split(" ", 1)[1])
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def load_credentials(config: SyncConfig) -> Credentials:
    """Read the token or password file named in `[sync]`.

    Raises:
        ConfigError: a named file cannot be read or is empty (the message names the file, never its content).
    """
    if config.token_file:
        return Credentials(token=_read_secret(config.token_file, "token_file"))
    if config.password_file:
        return Credentials(username=config.username, password=_read_secret(config.password_file, "password_file"))
    return Credentials(username=config.username, password=config.password)


def _read_secret(path: str, key: str) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"[sync] {key} {path} cannot be read: {type(err).__name__}.") from err
    if not secret or "\n" in secret:
        raise ConfigError(f"[sync] {key} {path} must hold the secret on one line.")
    return secret

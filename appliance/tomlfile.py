"""Read a TOML file (configuration, model manifest) into a dict, or raise the caller's typed error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_toml(path: Path, error: type[ApplianceError], missing: str, unreadable: str) -> dict[str, Any]:
    """The parsed TOML at `path`.

    Args:
        error: the ApplianceError subclass to raise (ConfigError, ManifestError...).
        missing: operator message when the file does not exist.
        unreadable: message prefix when it cannot be read or parsed; the cause is appended.
    Raises:
        error: the file is missing, unreadable, not UTF-8 or not valid TOML.
    """
    try:
        with path.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
            return data
    except FileNotFoundError as exc:
        raise error(missing) from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{unreadable}: {exc}") from exc

"""Release versions of bundles: dotted integers ("1.4.2"), compared number by number."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")

Version = tuple[int, ...]


def parse_version(text: str) -> Version:
    """"1.4.2" -> (1, 4, 2); trailing zeros do not count ("1.4" == "1.4.0").

    Raises:
        ValueError: not one to four dot-separated whole numbers.
    """
    if not _VERSION.match(text):
        raise ValueError(f"version {text!r} is not dotted whole numbers such as 1.4.2")
    numbers = [int(part) for part in text.split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def is_valid_version(text: str) -> bool:
    return _VERSION.match(text) is not None


def older(a: str, b: str) -> bool:
    """Whether version `a` is older than version `b`."""
    return parse_version(a) < parse_version(b)

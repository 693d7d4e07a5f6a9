"""Text from a client, made safe to write into a log line (no forged lines, bounded length)."""

from __future__ import annotations

MAX_SHOWN = 64


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` quoted, with control and non-ASCII characters escaped (a newline cannot start a forged
    log line), cut to `limit` characters ("..." marks a cut)."""
    return ascii(text[:limit]) + ("..." if len(text) > limit else "")

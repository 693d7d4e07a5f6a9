"""How long each step of an exam took: decode, gate, model, decision, store.

The pipeline wraps each step in `stage(name)`. The seconds go to the request being served (the kiosk
calls `start_recording()` for each exam request and answers the sums in a `Server-Timing` header, which the
end-to-end benchmark reads) and to every observer added with `add_observer` (a metrics exporter).
Costs two clock reads per step; nothing is kept when no one records or observes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The steps of an exam, in the order they run. `decode`: photo bytes to pixels (at finish, the stored
#: photo read back and checked against its hash first); `gate`: the quality checks; `model`: preprocess
#: and inference; `decision`: the exam's outcome; `store`: durable writes.
STAGES = ("decode", "gate", "model", "decision", "store")

Observer = Callable[[str, float], None]

_observers: list[Observer] = []
_recorded: ContextVar[dict[str, float] | None] = ContextVar("stage_seconds", default=None)


def add_observer(observer: Observer) -> None:
    """Call `observer(stage, seconds)` after every stage from now on (from the thread that ran it)."""
    _observers.append(observer)


def remove_observer(observer: Observer) -> None:
    """Stop calling `observer` (a box that closes); nothing happens if it was not added."""
    if observer in _observers:
        _observers.remove(observer)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as the step `name` (one of STAGES); a block that raises is timed too."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        recorded = _recorded.get()
        if recorded is not None:
            recorded[name] = recorded.get(name, 0.0) + seconds
        for observer in _observers:
            observer(name, seconds)


def start_recording() -> None:
    """Sum the stages run from here on in this thread (or task) until `take_recorded`."""
    _recorded.set({})


def take_recorded() -> dict[str, float]:
    """The seconds per stage since `start_recording` (empty if it was not called), and stop recording."""
    recorded = _recorded.get()
    _recorded.set(None)
    return recorded or {}


def server_timing(seconds: dict[str, float]) -> str:
    """A `Server-Timing` header value (milliseconds), e.g. "decode;dur=12.3, gate;dur=40.1"."""
    return ", ".join(f"{name};dur={1000 * value:.1f}" for name, value in seconds.items())


def parse_server_timing(header: str) -> dict[str, float]:
    """Seconds per stage from a `Server-Timing` header value written by `server_timing`."""
    seconds: dict[str, float] = {}
    for item in header.split(","):
        name, _, duration = item.strip().partition(";dur=")
        if name and duration:
            seconds[name] = float(duration) / 1000
    return seconds

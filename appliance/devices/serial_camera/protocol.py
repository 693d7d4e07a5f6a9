"""The serial camera's line protocol (docs/serial-protocol.md), pure: the host's commands and the camera's
replies as values. No I/O here.

Lines are ASCII, ended by LF (a CR before it is dropped), at most serial_link.MAX_LINE bytes. A line the host does not
understand (a boot banner, noise on the wire) parses as `Noise` and is skipped by the host.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from appliance.domain import Eye

PROTOCOL_VERSION = 1

IDENTIFY = "IDENTIFY"
READY_QUERY = "READY?"
ACK = "ACK"
RESEND = "RESEND"


def fire(eye: Eye) -> str:
    return f"FIRE {'R' if eye is Eye.RIGHT else 'L'}"


@dataclass(frozen=True)
class Identity:
    text: str


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class Busy:
    pass


@dataclass(frozen=True)
class Accepted:
    """`OK`: the camera took the command (FIRE) and will send the photo."""


@dataclass(frozen=True)
class ImageFollows:
    """`IMAGE <length> <crc32>`: exactly `length` payload bytes follow the line."""

    length: int
    crc32: int


@dataclass(frozen=True)
class ImageAt:
    """`IMAGE-PATH <path>`: the photo was written to a file the box can read."""

    path: str


@dataclass(frozen=True)
class CameraFault:
    """`ERR <code> <text>`."""

    code: int
    text: str


@dataclass(frozen=True)
class Noise:
    """Anything else: skipped."""

    line: bytes


Reply = Identity | Ready | Busy | Accepted | ImageFollows | ImageAt | CameraFault | Noise

_IMAGE = re.compile(r"IMAGE ([0-9]{1,10}) ([0-9A-Fa-f]{8})")
_ERR = re.compile(r"ERR ([0-9]{1,4})(?: (.*))?")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")

#: What the camera's error codes mean, in the technician's words (docs/serial-protocol.md).
ERROR_SENTENCES = {
    10: "the camera is not ready",
    20: "the flash is not charged",
    30: "the camera found no eye in front of it",
    40: "the camera's storage is full or failing",
    50: "the camera did not understand the appliance",
    90: "the camera failed inside",
}


def parse_reply(raw: bytes) -> Reply:
    """One line from the camera (without its LF) as a Reply; never raises."""
    try:
        line = raw.rstrip(b"\r").decode("ascii")
    except UnicodeDecodeError:
        return Noise(raw)
    if not _PRINTABLE.fullmatch(line):
        return Noise(raw)
    line = line.strip()
    if line == "READY":
        return Ready()
    if line == "BUSY":
        return Busy()
    if line == "OK":
        return Accepted()
    if line.startswith("ID "):
        return Identity(line[3:].strip())
    if line.startswith("IMAGE-PATH "):
        path = line[len("IMAGE-PATH "):].strip()
        return ImageAt(path) if path else Noise(raw)
    match = _IMAGE.fullmatch(line)
    if match:
        return ImageFollows(length=int(match.group(1)), crc32=int(match.group(2), 16))
    match = _ERR.fullmatch(line)
    if match:
        return CameraFault(code=int(match.group(1)), text=(match.group(2) or "").strip())
    return Noise(raw)


def crc32(data: bytes) -> int:
    """CRC-32 as zlib, PNG and ZIP compute it."""
    return zlib.crc32(data) & 0xFFFFFFFF


def image_line(payload: bytes, crc: int | None = None) -> bytes:
    """The camera's `IMAGE` line for `payload` (for simulators and tests)."""
    return f"IMAGE {len(payload)} {crc32(payload) if crc is None else crc:08X}\n".encode("ascii")


def fault_sentence(fault: CameraFault) -> str:
    meaning = ERROR_SENTENCES.get(fault.code - fault.code % 10, "the camera reported an error")
    said = f" ({fault.text})" if fault.text else ""
    return f"{meaning[0].upper()}{meaning[1:]}: code {fault.code}{said}"

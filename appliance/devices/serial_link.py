"""A serial port spoken line by line (pyserial), with deadlines: the serial camera's and the barcode scanner's
way to their port.

A port that cannot be opened, or that fails while open (the cable pulled: a USB serial device vanishes, a pty's
other end closes), raises CameraDisconnectedError and is closed; the next `open()` opens the path again, so a
device that comes back under the same name (a udev symlink such as /dev/fundus-camera) is used again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from appliance.devices.errors import CameraDisconnectedError, CameraTimeoutError

log = logging.getLogger(__name__)

#: The longest line a device may send; longer runs without an LF are noise.
MAX_LINE = 256
#: The port's read timeout: how often a wait looks at its deadline.
READ_SLICE_S = 0.05


class SerialLink:
    def __init__(self, path: str, baud: int, *, what: str = "camera") -> None:
        self.path = path
        self.baud = baud
        self.what = what
        self._port: Any = None
        self._buffer = bytearray()
        #: Lines dropped for being too long (noise on the wire) since the port was opened.
        self.dropped = 0

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        """Raises CameraDisconnectedError: no such port, or it cannot be opened."""
        if self._port is not None:
            return
        import serial

        try:
            # exclusive: a second program (`appliance devices` while the kiosk runs) must not steal its bytes
            self._port = serial.Serial(self.path, self.baud, timeout=READ_SLICE_S, write_timeout=2.0, exclusive=True)
        except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
            if "lock" in str(exc).lower():
                raise CameraDisconnectedError(f"The {self.what} port {self.path} is in use by another program (the "
                                              "running appliance?).", detail=str(exc)) from exc
            raise self._gone("cannot be opened", exc) from exc
        self._buffer.clear()
        self.dropped = 0
        log.info("%s port %s opened", self.what, self.path)

    def close(self) -> None:
        port, self._port = self._port, None
        self._buffer.clear()
        if port is not None:
            with contextlib.suppress(OSError):
                port.close()

    def discard_input(self) -> None:
        """Forget whatever the device sent before now (a late answer to an earlier command)."""
        self._buffer.clear()
        try:
            self._require().reset_input_buffer()
        except OSError as exc:
            self.close()
            raise self._gone("failed", exc) from exc

    def send_line(self, line: str) -> None:
        port = self._require()
        try:
            port.write(line.encode("ascii") + b"\n")
            port.flush()
        except OSError as exc:
            self.close()
            raise self._gone("failed while sending", exc) from exc

    def read_line(self, deadline: float) -> bytes:
        """The next line (without LF), waiting until the monotonic `deadline`. Bytes beyond MAX_LINE without an
        LF are dropped as noise. Raises CameraTimeoutError, CameraDisconnectedError."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                if len(line) <= MAX_LINE:
                    return line
                self.dropped += 1
                continue
            if len(self._buffer) > MAX_LINE:
                self._buffer.clear()
                self.dropped += 1
            self._fill(deadline, "a reply")

    def read_exactly(self, count: int, idle_s: float) -> bytes:
        """`count` payload bytes; each wait for more lasts at most `idle_s`. Raises CameraTimeoutError (the flow
        stopped), CameraDisconnectedError."""
        while len(self._buffer) < count:
            self._fill(time.monotonic() + idle_s, "the rest of the photo", want=count - len(self._buffer))
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _fill(self, deadline: float, waiting_for: str, want: int = 1) -> None:
        port = self._require()
        while True:
            try:
                chunk = port.read(max(1, min(want, port.in_waiting)) if want > 1 else max(1, port.in_waiting))
            except OSError as exc:
                self.close()
                raise self._gone("was disconnected", exc) from exc
            if chunk:
                self._buffer.extend(chunk)
                return
            if time.monotonic() >= deadline:
                raise CameraTimeoutError(f"The {self.what} on {self.path} did not send {waiting_for} in time.",
                                         detail="read timed out")

    def _require(self) -> Any:
        if self._port is None:
            raise CameraDisconnectedError(f"The {self.what} port {self.path} is not open.")
        return self._port

    def _gone(self, how: str, exc: BaseException) -> CameraDisconnectedError:
        return CameraDisconnectedError(
            f"The {self.what} on {self.path} {how}: check that it is plugged in and switched on, then try again.",
            detail=f"{type(exc).__name__}: {exc}")

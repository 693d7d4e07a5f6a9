"""The barcode scanner on a serial port (a USB-CDC scanner, /dev/barcode): each scanned code is a line; a code
that fits `[scanner] pattern` is a patient id for the kiosk's new-exam form, anything else is refused with a
sentence. A keyboard-wedge scanner needs none of this: the page reads it as fast typing (newexam.js).

A reader thread keeps the port open, opens it again after an unplug, and queues the scans; the kiosk asks for
the next one (GET /api/scanner/next). A scan nobody asked for within SCAN_TTL_S is dropped: it must not fill a
later patient's form.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from appliance.devices.errors import CameraDisconnectedError, CameraTimeoutError
from appliance.devices.serial_link import SerialLink
from appliance.devices.state import DeviceState
from appliance.errors import ConfigError

log = logging.getLogger(__name__)

#: A scan waits this long for the kiosk to take it.
SCAN_TTL_S = 30.0
#: Seconds between tries to open a missing scanner port.
REOPEN_S = 1.0
MAX_ID_LENGTH = 64
#: The default `[scanner] pattern`: letters, digits and . _ - (what clinics' id barcodes carry), 1 to 64.
DEFAULT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


@dataclass(frozen=True)
class Scan:
    """A patient id read from a barcode, or `refused` (the sentence) when the code is no patient id here."""

    patient_id: str | None
    refused: str = ""
    at: float = 0.0

    def as_dict(self) -> dict[str, str | None]:
        return {"patient_id": self.patient_id, "refused": self.refused}


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Raises ConfigError: not a regular expression."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"Configuration value [scanner] pattern is not a regular expression: {exc}.") from exc


def read_code(raw: bytes, pattern: re.Pattern[str], at: float = 0.0) -> Scan | None:
    """One line from the scanner as a Scan; None for an empty line (a lone CR/LF)."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return Scan(None, "The scanner sent something that is not a barcode: scan again.", at)
    if not text:
        return None
    if len(text) > MAX_ID_LENGTH or not text.isprintable() or not pattern.fullmatch(text):
        return Scan(None, "The scanned code is not a patient id of this clinic: check the barcode, or type the id.",
                    at)
    return Scan(text, "", at)


class BarcodeScanner:
    name = "barcode scanner"

    def __init__(self, port: str, baud: int = 9600, pattern: str = DEFAULT_PATTERN) -> None:
        """`port` "" is no serial scanner. Raises ConfigError: `pattern` is not a regular expression."""
        self.port = port
        self.pattern = compile_pattern(pattern)
        self.link = SerialLink(port, baud, what="barcode scanner")
        self._scans: deque[Scan] = deque(maxlen=16)
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._open = False
        self._last_problem = ""

    @property
    def configured(self) -> bool:
        """Whether a serial scanner is configured (a keyboard-wedge scanner needs no configuration)."""
        return bool(self.port)

    def start(self) -> None:
        """Start reading the port in the background (nothing when no port is configured)."""
        if self._thread is None and self.configured:
            self._thread = threading.Thread(target=self._read_forever, name="barcode-scanner", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.link.close()

    def connected(self) -> bool:
        """The port is open (the reader thread runs), or it can be opened now (when nothing reads it)."""
        if not self.configured or not Path(self.port).exists():
            return False
        if self._thread is not None:
            return self._open
        try:
            self.link.open()
        except CameraDisconnectedError as exc:
            self._last_problem = exc.message
            return False
        self.link.close()
        return True

    def state(self) -> DeviceState:
        settings = {"port": self.port, "pattern": self.pattern.pattern}
        if not self.configured:
            return DeviceState(self.name, False, "No serial scanner is configured ([scanner] port); a keyboard-wedge "
                               "scanner types into the page.", settings)
        connected = self.connected()
        words = "Listening." if connected else f"The port {self.port} cannot be used: check the scanner's cable."
        if self._last_problem:
            words += f" Last problem: {self._last_problem}"
        return DeviceState(self.name, connected, words, settings)

    def next_scan(self, wait_s: float) -> Scan | None:
        """The oldest scan not yet taken (younger than SCAN_TTL_S), waiting up to `wait_s` for one."""
        deadline = time.monotonic() + wait_s
        with self._arrived:
            while True:
                while self._scans and time.monotonic() - self._scans[0].at > SCAN_TTL_S:
                    self._scans.popleft()
                if self._scans:
                    return self._scans.popleft()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)

    def _read_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.link.open()
                self._open = True
                line = self.link.read_line(time.monotonic() + 0.5)
            except CameraTimeoutError:
                continue
            except CameraDisconnectedError as exc:
                if self._open:
                    log.warning("barcode scanner: %s", exc.message)
                self._open, self._last_problem = False, exc.message
                self._stop.wait(REOPEN_S)
                continue
            scan = read_code(line, self.pattern, time.monotonic())
            if scan is None:
                continue
            if scan.refused:
                self._last_problem = scan.refused
            with self._arrived:
                self._scans.append(scan)
                self._arrived.notify_all()

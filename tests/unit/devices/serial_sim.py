"""A serial fundus camera on a real pseudo-terminal pair: the appliance opens the pty's slave by its path (a
symlink in the test's folder, as udev's /dev/fundus-camera), the simulator speaks docs/serial-protocol.md on
the master in a thread, with the faults a test asks for. `unplug()` closes the master (the cable pulled);
`replug()` makes a new pty and points the symlink at it."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from appliance.devices.serial_camera.protocol import crc32


@dataclass
class Faults:
    """What the simulated camera does wrong."""

    #: Bytes sent before every reply (noise on the wire, a boot banner).
    garbage: bytes = b""
    #: Replies are written a few bytes at a time with pauses (partial lines).
    dribble: bool = False
    #: The first N READY? queries get no answer at all.
    silent_ready: int = 0
    #: The first N IMAGE frames carry a wrong CRC.
    bad_crc: int = 0
    #: Close the master after this many payload bytes of the first frame (unplug mid-transfer).
    unplug_after: int | None = None
    #: Answer FIRE with this ERR line instead of a photo.
    fire_error: str = ""
    #: Answer FIRE with IMAGE-PATH of this file name instead of the payload.
    image_path: str = ""
    #: Reply BUSY to the first N READY? queries.
    busy: int = 0


@dataclass
class SimulatedSerialCamera:
    link: Path
    photo: bytes
    faults: Faults = field(default_factory=Faults)
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._master = self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.replug()

    def replug(self) -> None:
        """A fresh pty pair under the same link path."""
        self.unplug()
        master, slave = plug_pty(self.link)
        # Kept open while plugged in: a master whose slave no process holds reads as EIO (a hang-up).
        self._slave = slave
        self._master = master
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(master, self._stop), daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        if self._master >= 0:
            self._stop.set()
            master, self._master = self._master, -1
            for fd in (master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            if self._thread is not None:
                self._thread.join(timeout=2)

    def wait_for(self, command: str, timeout_s: float = 2.0) -> None:
        """Until the simulator has received `command` (replies go out before the host's next line arrives)."""
        deadline = time.monotonic() + timeout_s
        while command not in self.commands and time.monotonic() < deadline:
            time.sleep(0.01)

    # ------------------------------------------------------------------------------------------- inside

    def _write(self, master: int, data: bytes) -> None:
        if self.faults.garbage:
            data = self.faults.garbage + data
        if not self.faults.dribble:
            os.write(master, data)
            return
        for start in range(0, len(data), 7):
            os.write(master, data[start:start + 7])
            time.sleep(0.004)

    def _frame(self, master: int) -> None:
        crc = crc32(self.photo)
        if self.faults.bad_crc > 0:
            self.faults.bad_crc -= 1
            crc ^= 0xDEADBEEF
        self._write(master, f"IMAGE {len(self.photo)} {crc:08X}\n".encode())
        cut = self.faults.unplug_after
        if cut is not None:
            self.faults.unplug_after = None
            os.write(master, self.photo[:cut])
            time.sleep(0.1)
            self._stop.set()
            os.close(master)
            os.close(self._slave)
            self._master = self._slave = -1
            return
        view = memoryview(self.photo)
        for start in range(0, len(view), 4096):
            os.write(master, view[start:start + 4096])

    def _answer(self, master: int, command: str) -> None:
        self.commands.append(command)
        if command == "IDENTIFY":
            self._write(master, b"ID SIMCAM FUNDUS-1 SN0001 1\n")
        elif command == "READY?":
            if self.faults.silent_ready > 0:
                self.faults.silent_ready -= 1
            elif self.faults.busy > 0:
                self.faults.busy -= 1
                self._write(master, b"BUSY\n")
            else:
                self._write(master, b"READY\n")
        elif command.startswith("FIRE "):
            self._write(master, b"OK\n")
            if self.faults.fire_error:
                self._write(master, self.faults.fire_error.encode() + b"\n")
            elif self.faults.image_path:
                self._write(master, f"IMAGE-PATH {self.faults.image_path}\n".encode())
            else:
                self._frame(master)
        elif command == "RESEND":
            self._frame(master)
        elif command == "ACK":
            pass
        else:
            self._write(master, b"ERR 50 unknown command\n")

    def _serve(self, master: int, stop: threading.Event) -> None:
        buffer = b""
        while not stop.is_set():
            try:
                if not select.select([master], [], [], 0.05)[0]:
                    continue
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    self._answer(master, line.strip().decode("ascii", "replace"))
                except OSError:
                    return


class SimulatedScanner:
    """A USB-CDC barcode scanner on a pty pair: `scan(text)` sends one code the way scanners do (text + CR LF)."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self._fds: tuple[int, int] | None = None
        self.replug()

    def replug(self) -> None:
        self.unplug()
        self._fds = plug_pty(self.link)

    def unplug(self) -> None:
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None

    def send(self, data: bytes) -> None:
        assert self._fds is not None
        os.write(self._fds[0], data)

    def scan(self, code: str) -> None:
        self.send(code.encode("ascii") + b"\r\n")


def plug_pty(link: Path) -> tuple[int, int]:
    """A fresh raw pty pair (master, slave fds), its slave's name linked at `link` (replacing what was there),
    the way udev names a plugged-in USB serial device."""
    master, slave = os.openpty()
    tty.setraw(slave)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.ttyname(slave))
    return master, slave

"""A fundus camera fired over a serial line (docs/serial-protocol.md): the technician's press asks it READY?,
then FIRE R|L, and the photo comes back on the line (IMAGE <length> <crc32> and the bytes) or as a file on a
share the box mounts (IMAGE-PATH, only inside `[camera] folder`).

Timeouts: each reply within `[camera] timeout_s`, the photo within `[camera] wait_s` of the camera's OK. Retries:
READY? is asked again after a silence (`[camera] retries` times); a photo whose checksum is wrong is asked for
again with RESEND (as many times). FIRE is never repeated by itself: a second flash is the technician's choice.
An unplugged camera closes the port; the next press opens it again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.config import Config, LimitsConfig
from appliance.devices.errors import CameraDisconnectedError, CameraProtocolError, CameraTimeoutError
from appliance.devices.serial_camera import protocol
from appliance.devices.serial_camera.protocol import (
    Accepted,
    Busy,
    CameraFault,
    Identity,
    ImageAt,
    ImageFollows,
    Ready,
    Reply,
)
from appliance.devices.serial_link import SerialLink
from appliance.devices.state import DeviceState
from appliance.devices.watch_folder.photo_file import FolderPhoto, check_size, max_file_bytes, photo_from_bytes
from appliance.domain import Capture, Eye, Field
from appliance.errors import CameraError, ImageError

log = logging.getLogger(__name__)

#: While the camera says BUSY, READY? is asked again this often.
BUSY_PAUSE_S = 0.2
#: connected() asks the camera at most this often (the status page polls it).
PROBE_EVERY_S = 5.0


@dataclass(frozen=True)
class SerialSettings:
    port: str
    limits: LimitsConfig
    baud: int = 115200
    timeout_s: float = 2.0
    wait_s: float = 30.0
    retries: int = 2
    #: IMAGE-PATH photos are read only inside this folder ("" refuses every IMAGE-PATH).
    folder: str = ""


class SerialCamera:
    name = "serial"

    def __init__(self, settings: SerialSettings) -> None:
        self.settings = settings
        self.link = SerialLink(settings.port, settings.baud, what="camera")
        self._lock = threading.Lock()
        self._identity = ""
        self._probed_at = -PROBE_EVERY_S
        self._answering = False
        self._last_problem = ""

    @classmethod
    def from_config(cls, config: Config) -> SerialCamera:
        camera = config.camera
        return cls(SerialSettings(port=camera.device, limits=config.limits, baud=camera.baud,
                                  timeout_s=camera.timeout_s, wait_s=camera.wait_s, retries=camera.retries,
                                  folder=camera.folder))

    # --------------------------------------------------------------------------- the Camera interface

    def kinds(self) -> tuple[str, ...]:
        return ()

    def connected(self) -> bool:
        """The port is there and the camera answered READY? (or was busy) lately; asked at most every
        PROBE_EVERY_S seconds, never while a photo is being taken."""
        if not self.settings.port or not Path(self.settings.port).exists():
            self._answering = False
            return False
        if time.monotonic() - self._probed_at < PROBE_EVERY_S or not self._lock.acquire(blocking=False):
            return self._answering
        try:
            self._probed_at = time.monotonic()
            self._answering = self._probe()
        finally:
            self._lock.release()
        return self._answering

    def state(self) -> DeviceState:
        settings = {"port": self.settings.port, "baud": str(self.settings.baud)}
        if not self.settings.port:
            return DeviceState(self.name, False, "No port is configured: set [camera] device.", settings)
        connected = self.connected()
        if connected:
            words = f"Answering: {self._identity}." if self._identity else "Answering."
        elif Path(self.settings.port).exists():
            words = f"The port {self.settings.port} is there but the camera does not answer."
        else:
            words = f"The port {self.settings.port} is not there: check the camera's cable."
        if self._last_problem:
            words += f" Last problem: {self._last_problem}"
        return DeviceState(self.name, connected, words, settings)

    def capture(self, eye: Eye, field: Field = Field.UNKNOWN, *, kind: str | None = None) -> Capture:
        """Fire the camera for `eye` and receive its photo.

        Raises:
            CameraDisconnectedError: the port is missing or failed (closed; opened again next time).
            CameraTimeoutError: the camera did not answer in time. CameraProtocolError: it reported an error, or
            the photo arrived damaged after every RESEND. ImageError: what arrived is no usable photo.
        """
        if kind is not None:
            raise CameraError("This camera takes real photos only: leave out the demo kind.",
                              reason_code="camera_kind_invalid")
        with self._lock:
            try:
                photo = self._take(eye)
            except (CameraError, ImageError) as exc:
                self._last_problem = exc.message
                self._answering = not isinstance(exc, (CameraDisconnectedError, CameraTimeoutError))
                raise
            self._last_problem, self._answering = "", True
        return Capture(eye=eye, image=photo.image, source=f"camera:serial:{photo.file_sha256[:12]}", field=field,
                       device=f"serial camera {self._identity or self.settings.port}",
                       labelled_eye=photo.labelled_eye, labelled_patient_id=photo.labelled_patient_id)

    def close(self) -> None:
        with self._lock:
            self.link.close()

    # ------------------------------------------------------------------------------------------ inside

    def _probe(self) -> bool:
        try:
            self._open()
            self.link.discard_input()
            self.link.send_line(protocol.READY_QUERY)
            reply = self._reply(time.monotonic() + min(1.0, self.settings.timeout_s), (Ready, Busy, CameraFault))
            return isinstance(reply, (Ready, Busy))
        except CameraError:
            return False

    def _open(self) -> None:
        if self.link.is_open:
            return
        self.link.open()
        try:
            self.link.send_line(protocol.IDENTIFY)
            identity = self._reply(time.monotonic() + self.settings.timeout_s, (Identity,))
            self._identity = identity.text if isinstance(identity, Identity) else ""
        except CameraTimeoutError:
            self._identity = ""  # an old firmware without IDENTIFY still takes photos

    def _take(self, eye: Eye) -> FolderPhoto:
        self._open()
        self.link.discard_input()
        self._wait_ready()
        self.link.send_line(protocol.fire(eye))
        accepted = self._reply(time.monotonic() + self.settings.timeout_s, (Accepted, CameraFault))
        self._raise_fault(accepted)
        reply = self._reply(time.monotonic() + self.settings.wait_s, (ImageFollows, ImageAt, CameraFault))
        self._raise_fault(reply)
        if isinstance(reply, ImageAt):
            return self._photo_at(reply.path)
        assert isinstance(reply, ImageFollows)  # nosec B101 # narrows for mypy: _reply gives only the kinds asked for
        return self._receive(reply)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.wait_s
        silences = 0
        while True:
            self.link.send_line(protocol.READY_QUERY)
            try:
                reply = self._reply(time.monotonic() + self.settings.timeout_s, (Ready, Busy, CameraFault))
            except CameraTimeoutError:
                silences += 1
                if silences > self.settings.retries:
                    raise CameraTimeoutError(
                        f"The camera on {self.settings.port} does not answer: check that it is switched on, then "
                        "try again.", detail=f"no reply to READY? after {silences} tries") from None
                log.info("serial camera: no reply to READY?, asking again")
                continue
            self._raise_fault(reply)
            if isinstance(reply, Ready):
                return
            if time.monotonic() >= deadline:
                raise CameraTimeoutError("The camera stayed busy: wait until it is ready, then try again.")
            time.sleep(BUSY_PAUSE_S)

    def _receive(self, frame: ImageFollows) -> FolderPhoto:
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.link.discard_input()
                self.link.send_line(protocol.RESEND)
                again = self._reply(time.monotonic() + self.settings.timeout_s, (ImageFollows, CameraFault))
                self._raise_fault(again)
                assert isinstance(again, ImageFollows)  # nosec B101 # narrows for mypy: a fault was raised above
                frame = again
            if not 0 < frame.length <= max_file_bytes(self.settings.limits):
                self.link.close()  # the rest of the line is unread: start clean next time
                raise CameraProtocolError(f"The camera announced a photo of {frame.length} bytes, which the "
                                          "appliance does not take.", detail="IMAGE length out of range")
            payload = self.link.read_exactly(frame.length, self.settings.timeout_s)
            if protocol.crc32(payload) == frame.crc32:
                self.link.send_line(protocol.ACK)
                return photo_from_bytes(payload, _sha256(payload), self.settings.limits)
            log.warning("serial camera: photo checksum wrong (try %d)", attempt + 1)
        raise CameraProtocolError(f"The photo arrived damaged {self.settings.retries + 1} times: check the camera's "
                                  "cable, then photograph again.", detail="CRC-32 mismatch")

    def _photo_at(self, where: str) -> FolderPhoto:
        if not self.settings.folder:
            raise CameraProtocolError("The camera sent a file path, but no [camera] folder is configured for its "
                                      "files.", detail="IMAGE-PATH without folder")
        folder = Path(self.settings.folder).resolve()
        path = (folder / where).resolve()
        if not path.is_relative_to(folder):
            raise CameraProtocolError("The camera sent a file path outside its folder: the file was not read.",
                                      detail="IMAGE-PATH outside folder")
        try:
            check_size(path.stat().st_size, self.settings.limits)
            data = path.read_bytes()
        except OSError as exc:
            raise CameraProtocolError("The photo file the camera named cannot be read: check the camera's share.",
                                      detail=str(exc)) from exc
        self.link.send_line(protocol.ACK)
        return photo_from_bytes(data, _sha256(data), self.settings.limits)

    def _reply(self, deadline: float, wanted: tuple[type, ...]) -> Reply:
        """The next reply of a wanted kind; noise and stray replies are skipped until the deadline."""
        while True:
            reply = protocol.parse_reply(self.link.read_line(deadline))
            if isinstance(reply, wanted):
                return reply
            log.debug("serial camera: skipped %r", reply)
            if time.monotonic() >= deadline:  # a flood of noise ends the wait too
                raise CameraTimeoutError(f"The camera on {self.settings.port} sent only noise: check its cable "
                                         "and its baud rate.", detail="no valid reply before the deadline")

    @staticmethod
    def _raise_fault(reply: Reply) -> None:
        if isinstance(reply, CameraFault):
            raise CameraProtocolError(f"The camera refused: {protocol.fault_sentence(reply)}.",
                                      detail=f"ERR {reply.code}")


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()

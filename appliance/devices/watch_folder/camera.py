"""The watch-folder camera: a desktop fundus camera exports each photo as a file (JPEG, PNG or DICOM) to a folder
or a share; pressing "Photograph" at the kiosk takes the next complete file that arrives (waiting up to
`[camera] wait_s`), so the capture step is the same as with any camera.

Each file is taken once, ever: its content hash goes to the ledger (appliance.devices.watch_folder.ledger)
before the file is moved to `done/`; a file that is not a usable photo, that the exam refused, that was already
taken, or that waited longer than `[camera] stale_s` before anyone photographed (it may be another patient's)
goes to `refused/` with `<name>.reason.txt` beside it. A DICOM file's laterality and patient id go with the
photo: the exam refuses another patient's photo and doubts a photo labelled as the other eye.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.config import Config, LimitsConfig
from appliance.devices.errors import CameraDisconnectedError, CameraTimeoutError
from appliance.devices.state import DeviceState
from appliance.devices.watch_folder.arrivals import Arrivals, in_progress
from appliance.devices.watch_folder.ledger import LEDGER_NAME, REFUSED, TAKEN, Ledger
from appliance.devices.watch_folder.photo_file import FolderPhoto, check_size, looks_like_photo_name, photo_from_bytes
from appliance.domain import Capture, Eye, Field
from appliance.errors import CameraError, ImageError
from appliance.imaging import image_format
from appliance.store.files import ensure_dir

log = logging.getLogger(__name__)

DONE = "done"
REFUSED_DIR = "refused"


@dataclass(frozen=True)
class FolderSettings:
    folder: Path
    ledger: Path
    limits: LimitsConfig
    wait_s: float = 30.0
    settle_s: float = 1.0
    stale_s: float = 600.0


class WatchFolderCamera:
    name = "watch_folder"

    def __init__(self, settings: FolderSettings) -> None:
        self.settings = settings
        self.folder = settings.folder
        self.ledger = Ledger(settings.ledger)
        self.arrivals = Arrivals(settings.folder, settings.settle_s)
        self._lock = threading.Lock()
        #: Photos handed out and not yet known refused: capture source -> (moved file, its hash).
        self._handed: dict[str, tuple[Path, str]] = {}
        self._last_problem = ""

    @classmethod
    def from_config(cls, config: Config) -> WatchFolderCamera:
        camera = config.camera
        return cls(FolderSettings(folder=Path(camera.folder) if camera.folder else Path(),
                                  ledger=config.data_path / LEDGER_NAME, limits=config.limits,
                                  wait_s=camera.wait_s, settle_s=camera.settle_s, stale_s=camera.stale_s))

    # --------------------------------------------------------------------------- the Camera interface

    def kinds(self) -> tuple[str, ...]:
        return ()

    def connected(self) -> bool:
        return self._configured() and self.folder.is_dir() and os.access(self.folder, os.R_OK | os.W_OK | os.X_OK)

    def state(self) -> DeviceState:
        settings = {"folder": str(self.folder) if self._configured() else ""}
        if not self._configured():
            return DeviceState(self.name, False, "No folder is configured: set [camera] folder.", settings)
        if not self.connected():
            return DeviceState(self.name, False, f"The folder {self.folder} is missing or not writable.", settings)
        try:  # a plain count: the arrivals belong to the capture (under its lock)
            waiting = sum(1 for p in self.folder.iterdir() if p.is_file() and not in_progress(p.name))
        except OSError:
            waiting = 0
        counts = self.ledger.counts()
        words = (f"Watching {self.folder} ({'change events' if self.arrivals.watching else 'polling'}): "
                 f"{waiting} file(s) waiting, {counts[TAKEN]} taken, {counts[REFUSED]} refused.")
        if self._last_problem:
            words += f" Last refused: {self._last_problem}"
        return DeviceState(self.name, True, words, settings)

    def capture(self, eye: Eye, field: Field = Field.UNKNOWN, *, kind: str | None = None) -> Capture:
        """The next complete photo file, waiting up to `wait_s` for one.

        Raises:
            CameraError: a demo `kind` asked for. CameraDisconnectedError: no folder, or it cannot be read.
            CameraTimeoutError: no photo arrived in time. ImageError: the file that arrived is not a usable photo
            (moved to refused/ with the reason).
        """
        if kind is not None:
            raise CameraError("This camera takes real photos only: leave out the demo kind.",
                              reason_code="camera_kind_invalid")
        self._check_folder()
        with self._lock:
            self.arrivals.start_watching()
            deadline = time.monotonic() + self.settings.wait_s
            while True:
                photo = self._next_photo()
                if photo is not None:
                    path, taken = photo
                    return self._hand_out(path, taken, eye, field)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CameraTimeoutError(
                        f"No photo arrived in {self.folder} within {self.settings.wait_s:g} s: export the photo "
                        "from the camera, then press the button again.")
                self.arrivals.wait(left)

    def refused(self, capture: Capture, reason: str) -> None:
        """The exam refused a photo this camera gave: its file goes from done/ to refused/ with the reason."""
        with self._lock:
            handed = self._handed.pop(capture.source, None)
            if handed is None:
                return
            path, sha256 = handed
            self._set_aside(path, REFUSED_DIR, reason)
            self._record(sha256, path.name, REFUSED, reason)

    def close(self) -> None:
        self.arrivals.stop()

    # ------------------------------------------------------------------------------------------ inside

    def _configured(self) -> bool:
        return str(self.folder) not in ("", ".")

    def _check_folder(self) -> None:
        if not self._configured():
            raise CameraDisconnectedError("No watch folder is configured: set [camera] folder, then restart.")
        if not self.folder.is_dir():
            raise CameraDisconnectedError(f"The camera's folder {self.folder} is not there: check that the share "
                                          "is mounted and the camera is on, then try again.")

    def _next_photo(self) -> tuple[Path, FolderPhoto] | None:
        """The first complete file that is a usable photo; files that are not are set aside on the way.
        Raises ImageError for a photo file that cannot be used (set aside), CameraDisconnectedError."""
        try:
            arrived = self.arrivals.complete()
        except OSError as exc:
            raise CameraDisconnectedError(f"The camera's folder {self.folder} cannot be read: check the share.",
                                          detail=str(exc)) from exc
        for path in arrived:
            photo = self._read(path)
            if photo is not None:
                return path, photo
        return None

    def _read(self, path: Path) -> FolderPhoto | None:
        """The photo in one complete file, or None when it was set aside (not a photo, taken before, stale)."""
        waited = self.arrivals.waited_s(path)
        self.arrivals.forget(path)
        # A file named like a photo that cannot be used ends the wait with its reason; any other file (a camera's
        # sidecar, a note) is set aside quietly and the wait goes on.
        photo_named = looks_like_photo_name(path)
        try:
            check_size(path.stat().st_size, self.settings.limits)
            data = path.read_bytes()
        except FileNotFoundError:
            return None  # taken away meanwhile
        except ImageError as exc:
            self._refuse(path, "", exc.message)
            if photo_named:
                raise
            return None
        except OSError as exc:
            raise CameraDisconnectedError("A photo file in the camera's folder cannot be read: check the share.",
                                          detail=str(exc)) from exc
        sha256 = hashlib.sha256(data).hexdigest()
        before = self.ledger.latest(sha256)
        if before is not None and before.outcome == TAKEN:
            if before.name == path.name:  # the appliance stopped between the ledger and the move
                self._set_aside(path, DONE, "")
            else:
                # Not in the ledger: the file's content stays `taken`.
                self._refuse(path, "", f"This photo was already taken into an exam at {before.at[:19]}: it is "
                                       "not taken twice.")
            return None
        if waited > self.settings.stale_s:
            self._refuse(path, sha256, f"This photo waited {waited / 60:.0f} min in the folder before anyone "
                                       "photographed: it may be another patient's, so it was not used.")
            return None
        try:
            return photo_from_bytes(data, sha256, self.settings.limits)
        except ImageError as exc:
            if not photo_named and image_format(data) == "unknown":
                self._refuse(path, sha256, "This file is not a photo (JPEG, PNG or DICOM): it was set aside.")
                return None
            self._refuse(path, sha256, exc.message)
            raise

    def _hand_out(self, path: Path, photo: FolderPhoto, eye: Eye, field: Field) -> Capture:
        self._record(photo.file_sha256, path.name, TAKEN, "")
        moved = self._set_aside(path, DONE, "")
        source = f"watch-folder:{path.name}:{photo.file_sha256[:12]}"
        self._handed[source] = (moved, photo.file_sha256)
        self._last_problem = ""
        log.info("watch folder: took a photo file as the %s eye", eye.value)
        return Capture(eye=eye, image=photo.image, source=source, field=field, device=f"watch folder {self.folder}",
                       labelled_eye=photo.labelled_eye, labelled_patient_id=photo.labelled_patient_id)

    def _refuse(self, path: Path, sha256: str, reason: str) -> None:
        self._set_aside(path, REFUSED_DIR, reason)
        self._last_problem = reason  # never the file's name: it may name the patient (/healthz is public)
        log.warning("watch folder: set aside a file: %s", reason)
        if sha256:
            self._record(sha256, path.name, REFUSED, reason)

    def _record(self, sha256: str, name: str, outcome: str, reason: str) -> None:
        try:
            self.ledger.record(sha256, name, outcome, reason)
        except OSError as exc:
            raise CameraError("The appliance cannot write its list of photo files taken: check its data folder.",
                              detail=str(exc)) from exc

    def _set_aside(self, path: Path, where: str, reason: str) -> Path:
        """Move `path` into `where`/ under a free name (and its reason file beside); the new path."""
        folder = self.folder / where
        try:
            ensure_dir(folder)
            target = _free_name(folder, path.name)
            os.replace(path, target)
            if reason:
                Path(f"{target}.reason.txt").write_text(reason + "\n", encoding="utf-8")
        except FileNotFoundError:
            return path
        except OSError as exc:
            raise CameraError(f"A photo file cannot be moved to {where}/ in the camera's folder: "
                              "check that the appliance may write there.", detail=str(exc)) from exc
        return target


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = os.path.splitext(name)
    number = 1
    while target.exists():
        target = folder / f"{stem}-{number}{suffix}"
        number += 1
    return target


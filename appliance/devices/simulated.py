"""A camera that serves real sample photographs in turn: the demo's stand-in for a fundus camera.

Sample files are named `<anything>_<eye>.jpg|png` (e.g. `IDRiD_01_right.jpg`); each eye gets its
own rotation, so successive captures of the right eye cycle through the right-eye samples.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

from appliance.domain import Capture, Eye, Field
from appliance.errors import CameraError

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
_SUFFIXES = {".jpg", ".jpeg", ".png"}


class SimulatedCamera:
    name = "simulated"

    def __init__(self, samples_dir: Path | None = None) -> None:
        self.samples_dir = samples_dir or SAMPLES_DIR
        self._cycles: dict[Eye, Iterator[Path]] = {}
        self._lock = threading.Lock()
        for eye in Eye:
            files = self.samples(eye)
            if files:
                self._cycles[eye] = itertools.cycle(files)

    def samples(self, eye: Eye) -> list[Path]:
        """The sample files for one eye, in name order."""
        if not self.samples_dir.is_dir():
            return []
        return sorted(
            p for p in self.samples_dir.iterdir()
            if p.suffix.lower() in _SUFFIXES and p.stem.lower().endswith(f"_{eye.value}")
        )

    def capture(self, eye: Eye, field: Field = Field.UNKNOWN) -> Capture:
        """Return the next sample photograph of `eye`.

        Raises:
            CameraError: no sample for that eye, or the file cannot be read.
        """
        with self._lock:
            cycle = self._cycles.get(eye)
            if cycle is None:
                raise CameraError(
                    f"The simulated camera has no {eye.value}-eye sample in {self.samples_dir}.",
                    detail="no samples",
                )
            path = next(cycle)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CameraError("The simulated camera could not read its sample image.", detail=str(exc)) from exc
        return Capture(eye=eye, image=data, source=f"camera:simulated:{path.name}", field=field,
                       device="simulated camera")

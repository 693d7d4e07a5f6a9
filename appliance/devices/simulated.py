"""A camera that serves real sample photographs in turn: the demo's stand-in for a fundus camera.

Sample files are named `<kind>_<anything>_<eye>.jpg|png` (e.g. `healthy_01_right.jpg`): the kind is
what the photo shows the demo (`healthy`, `referable`, `blurred`, `dark`, `offcentre` in the shipped
folder; appliance/devices/samples/SAMPLES.toml says how each was made and what the gate and the
model make of it). Each eye and kind has its own rotation. Without a kind, a capture takes the next
`referable` photo of that eye, or the next of all its photos in a folder without that kind.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

from appliance.domain import Capture, Eye, Field
from appliance.errors import CameraError

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
#: The kind a capture without one takes, when the folder has it.
DEFAULT_KIND = "referable"
_SUFFIXES = {".jpg", ".jpeg", ".png"}


def sample_kind(path: Path) -> str:
    """The kind of a sample file: its name up to the first "_" (`blurred_01_left.jpg` -> "blurred")."""
    return path.stem.split("_", 1)[0].lower()


class SimulatedCamera:
    name = "simulated"

    def __init__(self, samples_dir: Path | None = None) -> None:
        self.samples_dir = samples_dir or SAMPLES_DIR
        self._cycles: dict[tuple[Eye, str | None], Iterator[Path]] = {}
        self._lock = threading.Lock()

    def samples(self, eye: Eye, kind: str | None = None) -> list[Path]:
        """The sample files for one eye (of one kind when given), in name order."""
        if not self.samples_dir.is_dir():
            return []
        return sorted(
            p for p in self.samples_dir.iterdir()
            if p.suffix.lower() in _SUFFIXES and p.stem.lower().endswith(f"_{eye.value}")
            and (kind is None or sample_kind(p) == kind)
        )

    def connected(self) -> bool:
        """True when the camera has a photo of each eye to give."""
        return all(self.samples(eye) for eye in Eye)

    def kinds(self) -> tuple[str, ...]:
        """The kinds of photo this camera has (for either eye), sorted."""
        return tuple(sorted({sample_kind(p) for eye in Eye for p in self.samples(eye)}))

    def capture(self, eye: Eye, field: Field = Field.UNKNOWN, *, kind: str | None = None) -> Capture:
        """Return the next sample photograph of `eye`: of `kind` when given, else of the default rotation.

        Raises:
            CameraError: an unknown kind, no sample for that eye (and kind), or the file cannot be read.
        """
        with self._lock:
            path = next(self._cycle(eye, kind))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CameraError("The simulated camera could not read its sample image.", detail=str(exc)) from exc
        return Capture(eye=eye, image=data, source=f"camera:simulated:{path.name}", field=field,
                       device="simulated camera")

    def _cycle(self, eye: Eye, kind: str | None) -> Iterator[Path]:
        # Built on first use: a folder's samples are listed once per eye and kind.
        cycle = self._cycles.get((eye, kind))
        if cycle is not None:
            return cycle
        files = self.samples(eye, kind) if kind is not None else (
            self.samples(eye, DEFAULT_KIND) or self.samples(eye))
        if not files:
            known = self.kinds()
            if kind is not None and kind not in known:
                raise CameraError(
                    f"The simulated camera has no '{kind}' photos: choose one of {', '.join(known) or 'none'}.",
                    detail=f"unknown kind in {self.samples_dir}",
                )
            shown = f"{kind} " if kind is not None else ""
            raise CameraError(f"The simulated camera has no {shown}{eye.value}-eye sample in {self.samples_dir}.",
                              detail="no samples")
        cycle = self._cycles[eye, kind] = itertools.cycle(files)
        return cycle

"""Image sources: cameras, watch folders, the simulated camera of the demo, the barcode scanner. Hardware only here.

Every camera kind (appliance/devices/registry.py) is a `Camera`; the kiosk's capture step and the one-shot exam
use only this interface.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from appliance.domain import Capture, Eye, Field


class Camera(Protocol):
    """Anything that can take a photograph of one eye."""

    name: str

    def capture(self, eye: Eye, field: Field = Field.UNKNOWN, *, kind: str | None = None) -> Capture:
        """Take one photograph. `kind` asks the simulated camera for a demo photo of that kind (healthy,
        blurred…); real cameras refuse it. Raises CameraError when no image comes."""
        ...

    def connected(self) -> bool:
        """Whether the camera answers now (for the status page and the fleet's health check)."""
        ...

    def kinds(self) -> tuple[str, ...]:
        """The demo photo kinds `capture` accepts (empty for a real camera)."""
        ...


@runtime_checkable
class FilesItsPhotos(Protocol):
    """A camera whose photos come from files it must put aside (the watch folder): told when the exam refused
    a photo it gave, so the file goes to its refused photos with the reason."""

    def refused(self, capture: Capture, reason: str) -> None: ...


def report_refusal(camera: Camera, capture: Capture, reason: str) -> None:
    """Tell a camera that files its photos that the exam refused `capture` (nothing for other cameras)."""
    if isinstance(camera, FilesItsPhotos):
        camera.refused(capture, reason)


def close_device(device: object) -> None:
    """Let a device go (its port, its folder watch, its reader thread), for those that hold one."""
    close = getattr(device, "close", None)
    if callable(close):
        close()

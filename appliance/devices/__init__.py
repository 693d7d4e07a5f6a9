"""Image sources: cameras, watch folders, the simulated camera of the demo. Hardware only here."""

from __future__ import annotations

from typing import Protocol

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

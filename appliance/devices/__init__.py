"""Image sources: cameras, watch folders, the simulated camera of the demo. Hardware only here."""

from __future__ import annotations

from typing import Protocol

from appliance.domain import Capture, Eye, Field


class Camera(Protocol):
    """Anything that can take a photograph of one eye."""

    name: str

    def capture(self, eye: Eye, field: Field = Field.UNKNOWN) -> Capture:
        """Take one photograph. Raises CameraError when no image comes."""
        ...

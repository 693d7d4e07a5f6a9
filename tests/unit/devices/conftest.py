"""Fixtures of the device tests: real sample photos and small helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from appliance.devices.simulated import SAMPLES_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))  # serial_sim, folder_writer


@pytest.fixture(scope="session")
def fundus_jpeg() -> bytes:
    """A real fundus photo (the shipped demo sample) as its camera JPEG."""
    return (SAMPLES_DIR / "healthy_01_right.jpg").read_bytes()

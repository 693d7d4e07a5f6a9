"""Fixtures of the quality tests: the other cameras' photos (skipped with the reason where absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from appliance.evaluation.dataset import default_cameras_dir


@pytest.fixture(scope="session")
def cameras_set() -> Path:
    """The fundus-cameras folder; tests that need it are skipped (with the reason) where it is absent."""
    path = default_cameras_dir()
    if not (path / "labels.csv").is_file():
        pytest.skip(f"fundus-cameras set not found at {path} (set FUNDUS_CAMERAS_DIR)")
    return path


@pytest.fixture(scope="session")
def cameras_rows(cameras_set: Path) -> list[dict[str, str]]:
    with (cameras_set / "labels.csv").open(newline="") as f:
        return list(csv.DictReader(f))

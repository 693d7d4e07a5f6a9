"""Shared fixtures: the development set (skipped with a reason where absent), the shipped samples."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from appliance.evaluation.dataset import default_data_dir

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "appliance" / "devices" / "samples"


@pytest.fixture(scope="session")
def devset() -> Path:
    """The development set folder; tests that need it are skipped (with the reason) where it is absent."""
    path = default_data_dir()
    if not (path / "labels.csv").is_file():
        pytest.skip(f"development set not found at {path} (set FUNDUS_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def devset_rows(devset: Path) -> list[dict[str, str]]:
    with (devset / "labels.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def good_natural_pair(devset: Path, devset_rows: list[dict[str, str]]) -> tuple[Path, Path]:
    """Right and left natural-colour photos of one patient, both labelled `good` by EyeQ graders."""
    good = {r["file"] for r in devset_rows if r["quality"] == "good" and "eyepacs_nat_" in r["file"]}
    for name in sorted(good):
        if name.endswith("_right.jpg") and name.replace("_right.jpg", "_left.jpg") in good:
            return devset / name, devset / name.replace("_right.jpg", "_left.jpg")
    pytest.skip("no patient with two good natural-colour photos in the development set")


@pytest.fixture(scope="session")
def sample_pair() -> tuple[Path, Path]:
    """A right and a left photo from the shipped IDRiD samples, both gradable (the `referable` demo kind)."""
    right = sorted(SAMPLES.glob("referable_*_right.jpg"))[0]
    left = sorted(SAMPLES.glob("referable_*_left.jpg"))[0]
    return right, left

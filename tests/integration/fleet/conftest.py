"""Fixtures of the update tests: a release key with its keyring, and boxes whose servers are stopped after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fleet_box import Box, Release, new_box


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    return Release.make(tmp_path_factory.mktemp("release"))


@pytest.fixture
def make_box(tmp_path: Path, release: Release) -> Iterator[Callable[..., Box]]:
    """make_box(name="box", **[update] overrides) -> a box trusting the release key; its server stopped after."""
    boxes: list[Box] = []

    def make(name: str = "box", **update: str | int | float) -> Box:
        box = new_box(tmp_path / name, release.keyring, **update)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.stop()


@pytest.fixture(scope="session")
def v1(release: Release) -> Path:
    return release.fake_bundle("1.0.0")


@pytest.fixture(scope="session")
def v2(release: Release) -> Path:
    return release.fake_bundle("1.1.0", min_version="1.0.0")

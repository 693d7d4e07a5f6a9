"""Fixtures for the store tests: an open store in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store import ExamStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "data") as opened:
        yield opened

"""An open store in a temp folder and accounts over it with a test clock and cheap argon2id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_fakes import Clock, quick_hasher

from appliance.auth import Accounts
from appliance.config import AuthConfig
from appliance.store import ExamStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store: ExamStore, clock: Clock) -> Accounts:
    config = AuthConfig(idle_timeout_s=180, max_failed_attempts=3, lockout_s=300)
    return Accounts(store, config, hasher=quick_hasher(), clock=clock)

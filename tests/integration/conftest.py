"""Fixtures the kiosk tests share: one Chromium per module (Debian's, driven by Playwright), the folder
the browser tests' screenshots go to (docs/screens when KIOSK_SCREENSHOTS names it, else a temporary
one), and the check that no request ended in an error log (a module asks for it with
`pytestmark = pytest.mark.usefixtures("no_error_logs")`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from tests.integration.test_kiosk_browser import CHROMIUM, FLAGS, sync_api

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("KIOSK_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No request of the test may end in the app's 'unexpected error' (a 500) or any other error log."""
    yield
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors

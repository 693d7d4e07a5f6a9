"""The technician's page in a real browser (Chromium via Playwright): type an id, press the button,
read the outcome; and a clear message, not a crash, when the id is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.system.helpers import box_env, free_port, running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is installed by `make test`")
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is installed by .ci/run (Debian package chromium)", allow_module_level=True)

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_technician_screens_an_exam_from_the_page(tmp_path: Path) -> None:
    with running_server(box_env(tmp_path / "var"), free_port()) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.goto(base + "/")
            assert "not clinically validated" in page.inner_text("#notice")
            page.fill("#patient-id", "P-browser-1")
            page.click("#screen-button")
            page.wait_for_selector("#result:not([hidden])", timeout=60_000)
            outcome = page.inner_text("#outcome")
            assert outcome in {"REFER", "NO REFER", "UNGRADABLE"}
            assert page.inner_text("#outcome-message").strip()
            assert page.locator("#images figure").count() == 2
            assert page.locator("#images img").evaluate_all("imgs => imgs.every(i => i.naturalWidth > 0)")
            assert "not clinically validated" in page.inner_text("#provenance")
            # The operating point the result was decided at (no site point adopted: the locked threshold).
            assert page.inner_text("#operating-point").startswith("Operating point: the model's locked threshold")
            # Where the model looked: the first scored photo's heatmap replaces it on request.
            button = page.locator(".heatmap-button").first
            button.click()
            page.wait_for_function("() => [...document.querySelectorAll('#images img')].some("
                                   "i => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0)",
                                   timeout=30_000)
            assert "not validated" in button.inner_text()
            page.screenshot(path=str(tmp_path / "kiosk.png"))
        finally:
            browser.close()


def test_missing_patient_id_shows_the_operator_sentence(tmp_path: Path) -> None:
    with running_server(box_env(tmp_path / "var"), free_port()) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(base + "/")
            page.fill("#patient-id", "   ")
            page.click("#screen-button")
            page.wait_for_selector("#status.error", timeout=30_000)
            assert "patient's id" in page.inner_text("#status")
            assert page.locator("#result").is_hidden()
        finally:
            browser.close()

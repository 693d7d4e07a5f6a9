"""Real devices from the kiosk's capture step, in a real browser (Chromium via Playwright) against a real
`appliance serve` whose camera is the watch folder and whose barcode scanner is a serial scanner on a real pty:

- the serial scanner fills the patient id; a keyboard-wedge scan (fast typing ending in Enter) that is no id
  of this clinic is refused with a sentence;
- "Photograph right eye" waits for the camera's export: the test writes the photo into the folder (slowly)
  after the press, and its verdict appears; a DICOM photo labelled as the other eye gets the left/right
  warning to confirm; another patient's DICOM photo is refused with a sentence and set aside in refused/;
- the exam finishes with its outcome.

Skipped, with the reason, where Playwright or Chromium is missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.devices.simulated import SAMPLES_DIR
from tests.integration.test_kiosk_browser import CHROMIUM, Page, new_page, sign_in, sync_api
from tests.system.helpers import box_env, free_port, running_server
from tests.unit.devices.dicom_files import dicom_photo
from tests.unit.devices.folder_writer import write_slowly
from tests.unit.devices.serial_sim import SimulatedScanner

assert sync_api and Path(CHROMIUM).exists()
RIGHT = (SAMPLES_DIR / "healthy_01_right.jpg").read_bytes()
LEFT = (SAMPLES_DIR / "healthy_01_left.jpg").read_bytes()


class Clinic:
    def __init__(self, base: str, inbox: Path, scanner: SimulatedScanner) -> None:
        self.base, self.inbox, self.scanner = base, inbox, scanner


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    root = tmp_path_factory.mktemp("devices-box")
    inbox = root / "camera-export"
    inbox.mkdir()
    scanner = SimulatedScanner(root / "barcode")
    env = box_env(root / "var", APPLIANCE_CAMERA_KIND="watch_folder", APPLIANCE_CAMERA_FOLDER=str(inbox),
                  APPLIANCE_CAMERA_SETTLE_S="0.3", APPLIANCE_CAMERA_WAIT_S="20",
                  APPLIANCE_SCANNER_PORT=str(scanner.link), APPLIANCE_SCANNER_PATTERN=r"P-[0-9]{4}")
    try:
        with running_server(env, free_port()) as base:
            yield Clinic(base, inbox, scanner)
    finally:
        scanner.unplug()


@pytest.fixture
def page(browser: Any, clinic: Clinic) -> Iterator[Page]:
    context, page, errors = new_page(browser, clinic.base)
    yield page
    context.close()
    assert [e for e in errors if "Failed to load resource" not in e] == [], f"the page logged errors: {errors}"


def press_and_export(page: Page, clinic: Clinic, name: str, data: bytes) -> str:
    """Press the camera button, then (as the technician at the camera) export the photo into the folder."""
    page.evaluate("() => { document.getElementById('verdict').textContent = ''; }")
    page.click("#shoot")
    page.wait_for_selector("#shoot:text('Photographing')")
    writer = threading.Thread(target=write_slowly, args=(clinic.inbox / name, data, 4, 0.1))
    time.sleep(0.5)
    writer.start()
    page.wait_for_function("() => document.getElementById('verdict').textContent.trim() !== ''"
                           " || !document.getElementById('message').hidden")
    writer.join()
    page.wait_for_selector("#shoot:not(:text('Photographing'))")
    return str(page.inner_text("#verdict"))


def test_scanner_and_watch_folder_from_the_kiosk(page: Page, clinic: Clinic) -> None:
    sign_in(page)
    assert page.is_hidden("#demo-chooser") or page.locator("#demo-kinds button").count() == 0

    # A keyboard-wedge scan that is no patient id here: refused with a sentence.
    page.click("#patient-id")
    page.keyboard.type("XYZ-1", delay=5)
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:not([hidden])")
    assert "not a patient id of this clinic" in page.inner_text("#message")
    # The serial scanner's code fills the patient id and moves on to the date of birth.
    page.fill("#patient-id", "")
    clinic.scanner.scan("P-2001")
    page.wait_for_function("() => document.getElementById('patient-id').value === 'P-2001'", timeout=30_000)
    assert page.evaluate("() => document.activeElement.id") == "birth-date"
    page.fill("#birth-date", "1958-07-01")
    page.click("#start-exam")
    page.wait_for_selector("#screen-capture:not([hidden])")
    assert page.inner_text("#capture-patient-id") == "P-2001"

    # Right eye: the press waits for the camera's export, written slowly after it.
    verdict = press_and_export(page, clinic, "IMG_0001.JPG", RIGHT)
    assert page.is_hidden("#message"), page.inner_text("#message")
    assert "Right" in verdict and "Good photo" in verdict
    assert page.locator("#photos .photo-card.good img").evaluate_all(
        "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    assert (clinic.inbox / "done" / "IMG_0001.JPG").exists()

    # Left eye: another patient's DICOM photo is refused and set aside with the reason.
    page.click("#next-left")
    press_and_export(page, clinic, "OP0002.dcm", dicom_photo(LEFT, laterality="L", patient_id="P-9999"))
    assert "another patient" in page.inner_text("#message")
    assert (clinic.inbox / "refused" / "OP0002.dcm").exists()
    assert "another patient" in (clinic.inbox / "refused" / "OP0002.dcm.reason.txt").read_text()

    # This patient's left eye, but its file says right eye: the left/right doubt to confirm.
    verdict = press_and_export(page, clinic, "OP0003.dcm", dicom_photo(LEFT, laterality="R", patient_id="P-2001"))
    assert "looks like a right eye" in verdict
    page.click("#eye-warnings button.confirm-eye")
    page.wait_for_function("() => document.getElementById('verdict').textContent.includes('confirmed')")

    page.click("#finish")
    page.wait_for_selector("#screen-result:not([hidden])")
    assert page.inner_text("#outcome-word").strip()

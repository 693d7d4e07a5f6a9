"""The clinic-facing side of sync in a real browser (Chromium via Playwright) against a real `appliance serve`
wired to a real Orthanc (its DICOMweb and Modality Worklists plugins, tests/integration/sync/orthanc_server.py)
and the small validating FHIR receiver (tests/integration/sync/fhir_receiver.py):

- the new-exam screen offers today's scheduled patients; tapping one fills the form and the exam carries the
  order's accession number, in the store and in the study Orthanc receives;
- the worklist says per exam where its result is (sent, waiting, refused) in words with an icon;
- the status page shows the sync section (backlog, last success, the refused item's message, no credential);
- the admin page lists the refused item and "Send again" sends it once the cause is fixed;
- without a reachable worklist the new-exam screen says so in one quiet line, and nothing without one.

Skipped, with the reason, where Orthanc, Playwright or Chromium is missing. With KIOSK_SCREENSHOTS=docs/screens
the screens are saved there as 16-orders.png to 19-admin.png (1280×800).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from tests.integration.sync.orthanc_server import PASSWORD, USER, Orthanc, missing, running_orthanc
from tests.integration.test_kiosk_browser import (
    Page,
    check_screen,
    finish,
    new_page,
    sign_in,
    snap,
    start_exam,
    take_photo,
)
from tests.system.helpers import box_env, free_port, running_server

MWL_FIND = UID("1.2.840.10008.5.1.4.31")
#: How long the sync worker may take to send or park an exam (it passes every 0.2 s here).
SYNC_WAIT_S = 30.0


def write_order(folder: Path, accession: str, patient_id: str, name: str, birth: str, sex: str, at: str) -> None:
    """A worklist file for today, this station (DRSCREEN) and modality OP, as a RIS drops it for Orthanc."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MWL_FIND, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = name, patient_id, birth, sex
    ds.AccessionNumber, ds.StudyInstanceUID = accession, generate_uid()
    ds.RequestedProcedureDescription, ds.RequestedProcedureID = "Diabetic retinopathy screening", f"RP-{accession}"
    step = Dataset()
    step.Modality, step.ScheduledStationAETitle = "OP", "DRSCREEN"
    step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime = date.today().strftime("%Y%m%d"), at
    step.ScheduledProcedureStepDescription, step.ScheduledProcedureStepID = "Fundus photographs", f"SPS-{accession}"
    ds.ScheduledProcedureStepSequence = [step]
    ds.save_as(folder / f"{accession}.wl", enforce_file_format=True)


@dataclass
class Clinic:
    base: str
    orthanc: Orthanc
    fhir: Any  # tests.integration.sync.fhir_receiver.FhirReceiver


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """Orthanc with two orders for today, the FHIR receiver, and a box sending to both and asking the worklist."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from tests.integration.sync.fhir_receiver import running_receiver  # fhir.resources: only when it runs

    root = tmp_path_factory.mktemp("clinic")
    with running_orthanc(root / "orthanc") as orthanc, running_receiver() as fhir:
        write_order(orthanc.worklists, "ACC-1601", "P-1601", "DOE^JANE", "19580314", "F", "093000")
        write_order(orthanc.worklists, "ACC-1602", "P-1602", "ROE^RICHARD", "19490102", "M", "101500")
        password = root / "sync-password"
        password.write_text(PASSWORD + "\n")
        env = box_env(root / "var", APPLIANCE_SYNC_DICOMWEB_URL=orthanc.dicomweb_url, APPLIANCE_SYNC_FHIR_URL=fhir.url,
                      APPLIANCE_SYNC_USERNAME=USER, APPLIANCE_SYNC_PASSWORD_FILE=str(password),
                      APPLIANCE_SYNC_IDENTIFIER_SYSTEM="urn:example:dr-screening",
                      APPLIANCE_SYNC_INTERVAL_S="0.2", APPLIANCE_SYNC_TIMEOUT_S="5", APPLIANCE_SYNC_LEASE_S="10",
                      APPLIANCE_SYNC_BACKOFF_INITIAL_S="0.05", APPLIANCE_SYNC_BACKOFF_MAX_S="0.2",
                      APPLIANCE_SYNC_WORKLIST_HOST="127.0.0.1", APPLIANCE_SYNC_WORKLIST_PORT=str(orthanc.dicom_port),
                      APPLIANCE_SYNC_WORKLIST_AE_TITLE="ORTHANC")
        with running_server(env, free_port()) as base:
            yield Clinic(base=base, orthanc=orthanc, fhir=fhir)


@pytest.fixture
def page(browser: Any, clinic: Clinic) -> Iterator[Page]:
    context, page, errors = new_page(browser, clinic.base)
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


def snap_section(page: Page, shots: Path, name: str, selector: str) -> None:
    """As test_kiosk_browser.snap, with `selector` scrolled to the top of the view (a section below the fold)."""
    page.locator(selector).evaluate("(e) => e.scrollIntoView({block: 'start'})")
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("KIOSK_SCREENSHOTS"):  # kept in the repository: 256 colours are plenty
        from PIL import Image

        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)


def exam_line(page: Page, patient_id: str) -> dict[str, Any]:
    """The worklist's entry of the patient's exam today (through the page's own signed-in session)."""
    exams = page.request.get("/api/worklist").json()["exams"]
    [line] = [e for e in exams if e["patient"]["patient_id"] == patient_id]
    return dict(line)


def wait_for(what: Callable[[], bool], why: str) -> None:
    deadline = time.monotonic() + SYNC_WAIT_S
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------------- tests

def test_an_order_picked_from_the_worklist_opens_the_exam_and_reaches_the_pacs(page: Page, clinic: Clinic,
                                                                               shots: Path) -> None:
    sign_in(page)
    page.wait_for_selector("#orders:not([hidden]) #order-list button.order")
    orders = page.locator("#order-list button.order")
    assert orders.count() == 2
    first = orders.nth(0).inner_text()
    for words in ("DOE, JANE", "Id P-1601", "born 14 Mar 1958", "accession ACC-1601", "at 09:30"):
        assert words in first
    assert "ROE, RICHARD" in orders.nth(1).inner_text()
    assert page.is_hidden("#orders-unavailable")
    assert page.evaluate("() => document.activeElement.id") == "patient-id"  # typing stays the first way

    # Tap one: the form is filled; tap Clear: typed again; typing another id drops the order too.
    page.click("#order-list button.order:has-text('ROE, RICHARD')")
    assert page.input_value("#patient-id") == "P-1602"
    assert page.input_value("#birth-date") == "1949-01-02"
    assert page.is_checked("#sex-male")
    page.click("#clear-order")
    assert page.input_value("#patient-id") == ""
    assert page.is_hidden("#chosen-order")
    page.click("#order-list button.order:has-text('DOE, JANE')")
    page.fill("#patient-id", "P-9999")
    assert page.is_hidden("#chosen-order")
    assert orders.nth(0).get_attribute("aria-pressed") == "false"
    page.click("#order-list button.order:has-text('DOE, JANE')")
    assert (page.input_value("#patient-id"), page.input_value("#birth-date")) == ("P-1601", "1958-03-14")
    assert page.is_checked("#sex-female")
    assert orders.nth(0).get_attribute("aria-pressed") == "true"
    assert "accession ACC-1601" in page.inner_text("#chosen-order-text")
    snap(page, shots, "16-orders")
    check_screen(page)

    page.click("#start-exam")
    page.wait_for_selector("#screen-capture:not([hidden])")
    assert page.inner_text("#capture-patient-id") == "P-1601"
    assert page.inner_text("#capture-birth") == "14 Mar 1958"
    take_photo(page, "Healthy")
    page.click("#next-left")
    take_photo(page)
    finish(page, "NO REFER")

    # The exam is the order's (read back through the API), and so is the study the PACS holds.
    line = exam_line(page, "P-1601")
    exam = page.request.get(f"/api/exams/{line['exam_id']}").json()
    assert exam["order"]["accession_number"] == "ACC-1601"
    wait_for(lambda: exam_line(page, "P-1601")["sync"] == "sent", "the exam was not sent to the PACS and the EHR")
    [study] = clinic.orthanc.get("/studies")
    assert clinic.orthanc.get(f"/studies/{study}")["MainDicomTags"]["AccessionNumber"] == "ACC-1601"
    assert clinic.fhir.count("DiagnosticReport") == 1


def test_a_refused_result_in_the_worklist_the_status_page_and_the_admin_page(page: Page, clinic: Clinic,
                                                                              shots: Path) -> None:
    """Follows the test above on the same box (its exam, sent, is the worklist's other row)."""
    # The EHR now wants other credentials: the next exam's report is refused (401) and set aside.
    clinic.fhir.basic_auth = ("appliance", "the-ehr-changed-it")
    sign_in(page)
    start_exam(page, "P-1603", sex="Male")  # typed, the orders on the side
    take_photo(page, "Healthy")
    page.click("#next-left")
    take_photo(page)
    finish(page, "NO REFER")
    wait_for(lambda: exam_line(page, "P-1603")["sync"] == "parked", "the refused report was not parked")

    page.click("#nav-worklist")
    page.wait_for_selector("#worklist-table tr:has-text('P-1603') td.sync-parked")
    sent = page.locator("#worklist-table tr:has-text('P-1601') td.sync")
    assert sent.inner_text().split() == ["✓", "Sent"]
    refused = page.inner_text("#worklist-table tr:has-text('P-1603') td.sync")
    assert refused.startswith("✗") and "Not sent" in refused and "ask an administrator" in refused
    snap(page, shots, "17-worklist-sync")
    check_screen(page)

    page.click("#nav-status")
    page.wait_for_selector("#sync")
    assert "✓ OK" in page.inner_text("#sync-dicom")
    assert "2 sent" in page.inner_text("#sync-dicom") and "last success today" in page.inner_text("#sync-dicom")
    assert "✗ Not OK: 1 refused" in page.inner_text("#sync-fhir")
    parked = page.inner_text("#sync-parked")
    assert "EHR" in parked and "credentials (HTTP 401)" in parked
    assert "offered on the new-exam screen" in page.inner_text("#sync-worklist")
    assert PASSWORD not in page.content() and "P-16" not in page.content()
    snap_section(page, shots, "18-status-sync", "#sync")
    check_screen(page)

    # The administrator, once the EHR's credentials are right again, sends it again.
    page.click("#back-to-kiosk")
    page.wait_for_selector("#screen-new:not([hidden])")
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/sign-in"))
    sign_in(page, "demo-admin", "9876")
    page.click("#nav-admin")
    page.wait_for_selector("#parked-body tr")
    row = page.locator("#parked-body tr")
    assert row.count() == 1
    assert "EHR" in row.inner_text() and "credentials (HTTP 401)" in row.inner_text()
    assert "PACS: nothing waiting" in page.inner_text("#sync-summary")
    snap(page, shots, "19-admin")
    check_screen(page)
    clinic.fhir.basic_auth = None
    row.locator("button:text-is('Send again')").click()
    page.wait_for_selector("#message:has-text('will be sent again now')")
    page.wait_for_selector("#parked-none:not([hidden])")
    wait_for(lambda: exam_line(page, "P-1603")["sync"] == "sent", "the re-queued report was not sent")
    assert clinic.fhir.count("DiagnosticReport") == 2


def test_without_a_reachable_worklist_one_quiet_line_and_without_one_nothing(page: Page) -> None:
    answers = [{"available": False, "configured": True,
                "reason": "The clinic's worklist cannot be reached now: type the patient's id."},
               {"available": False, "configured": False, "reason": "No worklist is configured: type the patient's id."}]
    page.route("**/api/worklist/orders", lambda route: route.fulfill(json=answers[0]))
    sign_in(page)
    page.wait_for_selector("#orders-unavailable:not([hidden])")
    assert page.inner_text("#orders-unavailable") == answers[0]["reason"]
    assert page.is_hidden("#orders")
    answers.pop(0)
    page.click("#nav-worklist")
    with page.expect_response(lambda answer: answer.url.endswith("/api/worklist/orders")):
        page.click("#nav-new")
    page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # the page has read the answer
    assert page.is_hidden("#orders-unavailable") and page.is_hidden("#orders")
    start_exam(page, "P-1604")  # typing works as before

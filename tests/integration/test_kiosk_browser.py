"""The technician's kiosk in a real browser (Chromium via Playwright) against a real `appliance serve`:
sign in, new exam, photos with a retake, an escalation and a left/right warning, the three outcomes,
the report (print view and one-page PDF), the worklist, the status page, sign-out, the idle timeout and
the lock-out after wrong PINs. Every screen's buttons are checked to be at least 44×44 px.

With KIOSK_SCREENSHOTS=docs/screens each step is saved there as NN-name.png (1280×800), else under
the test's tmp folder.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from appliance.devices.simulated import SAMPLES_DIR
from tests.system.helpers import box_env, free_port, running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is installed by `make test`")
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is installed by .ci/run (Debian package chromium)", allow_module_level=True)

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
MIN_TARGET = 44
# Visible touch targets: buttons, links styled as buttons, <summary>, labels of segmented radios.
TARGETS = ("button:visible, a.button:visible, a.nav-button:visible, summary:visible, "
           ".segmented > label:visible")
WAIT = 30_000

Page = Any  # playwright.sync_api.Page (imported lazily above)


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped demo photos, plus a 'swapped' kind: a right eye filed as a left one (left/right warning)."""
    folder = tmp_path_factory.mktemp("samples")
    for path in SAMPLES_DIR.glob("*.jpg"):
        shutil.copy(path, folder / path.name)
    shutil.copy(SAMPLES_DIR / "healthy_03_right.jpg", folder / "swapped_01_left.jpg")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Iterator[str]:
    root = tmp_path_factory.mktemp("box")
    env = box_env(root / "var", APPLIANCE_AUTH_DEMO_USERS="1", APPLIANCE_CAMERA_SAMPLES_DIR=str(samples))
    with running_server(env, free_port()) as base:
        yield base


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A box whose sign-ins end after 8 s without activity (warning 5 s before)."""
    root = tmp_path_factory.mktemp("idle-box")
    env = box_env(root / "var", APPLIANCE_AUTH_DEMO_USERS="1", APPLIANCE_AUTH_IDLE_TIMEOUT_S="8",
                  APPLIANCE_AUTH_IDLE_WARNING_S="5")
    with running_server(env, free_port()) as base:
        yield base


def expected_refusal(message: Any) -> bool:
    """The browser logs a wrong PIN's 401/423 answer (and a missing favicon) as errors: they are expected."""
    url = urlsplit(str(message.location.get("url", ""))).path
    return url == "/favicon.ico" or (url == "/sign-in" and "Failed to load resource" in message.text)


def new_page(browser: Any, base: str) -> tuple[Any, Page, list[str]]:
    context = browser.new_context(viewport=VIEWPORT, base_url=base, accept_downloads=True)
    context.set_default_timeout(WAIT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error" and not expected_refusal(msg) else None)
    return context, page, errors


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Page]:
    context, page, errors = new_page(browser, server)
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def idle_page(browser: Any, idle_server: str) -> Iterator[Page]:
    context, page, errors = new_page(browser, idle_server)
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


# ----------------------------------------------------------------------------------------------- helpers

def snap(page: Page, shots: Path, name: str) -> None:
    page.evaluate("() => window.scrollTo(0, 0)")
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("KIOSK_SCREENSHOTS"):  # kept in the repository: 256 colours are plenty
        from PIL import Image

        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)


def assert_touch_targets(page: Page) -> None:
    """Every visible button (and button-like control) is at least 44×44 CSS px."""
    small = []
    targets = page.locator(TARGETS).all()
    assert targets, "no touch target on this screen"
    for target in targets:
        box = target.bounding_box()
        if box is not None and (box["width"] < MIN_TARGET or box["height"] < MIN_TARGET):
            small.append((target.inner_text().strip(), round(box["width"]), round(box["height"])))
    assert small == [], f"touch targets under {MIN_TARGET} px: {small}"


def assert_readable(page: Page) -> None:
    """No visible text under 16 px."""
    tiny = page.evaluate("""() => [...document.querySelectorAll('body *')].filter((e) =>
        [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()) && e.getClientRects().length
        && parseFloat(getComputedStyle(e).fontSize) < 16).map((e) => e.tagName + ': ' + e.textContent.trim())""")
    assert tiny == [], f"text under 16 px: {tiny}"


def assert_labelled(page: Page) -> None:
    """Every input has a <label for> (or wraps in one)."""
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden])')]
        .filter((i) => i.labels.length === 0).map((i) => i.id || i.name)""")
    assert unlabelled == [], f"inputs without a label: {unlabelled}"


def check_screen(page: Page) -> None:
    assert_touch_targets(page)
    assert_readable(page)
    assert_labelled(page)


def sign_in(page: Page, user_id: str = "demo-tech", pin: str = "1234") -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"/sign-in"))
    page.fill("#user-id", user_id)
    page.fill("#pin", pin)
    page.click("#sign-in-button")
    page.wait_for_selector("#screen-new:not([hidden])")
    page.wait_for_function("() => document.getElementById('user-name').textContent.trim() !== ''")


def start_exam(page: Page, patient_id: str, birth_date: str = "1961-03-12", sex: str = "Female") -> None:
    page.click("#nav-new")
    page.fill("#patient-id", patient_id)
    page.fill("#birth-date", birth_date)
    page.click(f"#sex-choice label:text-is('{sex}')")
    page.click("#start-exam")
    page.wait_for_selector("#screen-capture:not([hidden])")
    assert page.inner_text("#capture-patient-id") == patient_id


def choose_demo(page: Page, label: str) -> None:
    page.click(f"#demo-kinds button:text-is('{label}')")
    assert page.get_attribute(f"#demo-kinds button:text-is('{label}')", "aria-pressed") == "true"


def take_photo(page: Page, kind: str | None = None, *, retake: str | None = None) -> str:
    """Photograph the current eye (or retake with the button `retake` selects); the verdict sentence."""
    if kind:
        choose_demo(page, kind)
    page.evaluate("() => { document.getElementById('verdict').textContent = ''; }")
    page.click(retake or "#shoot")
    page.wait_for_function("() => document.getElementById('verdict').textContent.trim() !== ''"
                           " || !document.getElementById('message').hidden")
    assert page.is_hidden("#message"), page.inner_text("#message")
    page.wait_for_selector("#shoot:not(:text('Photographing'))")
    return str(page.inner_text("#verdict"))


def finish(page: Page, outcome: str) -> None:
    page.click("#finish")
    page.wait_for_selector("#screen-result:not([hidden])")
    assert page.inner_text("#outcome-word") == outcome
    page.wait_for_function("() => [...document.querySelectorAll('#eyes-result img')].every("
                           "(i) => i.complete && i.naturalWidth > 0)")


def pdf_facts(data: bytes) -> tuple[int, str]:
    """Pages and text of a PDF (pypdf when installed, else the page count and raw bytes)."""
    assert data.startswith(b"%PDF")
    try:
        from pypdf import PdfReader
    except ImportError:
        count = re.search(rb"/Count (\d+)", data)
        return (int(count.group(1)) if count else 0), data.decode("latin-1")
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(p.extract_text() or "" for p in reader.pages)


# ------------------------------------------------------------------------------------------------- tests

def test_refer_exam_with_a_retake_an_escalation_and_a_left_right_warning(page: Page, shots: Path) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"/sign-in"))
    snap(page, shots, "01-sign-in")
    assert_touch_targets(page)
    sign_in(page)
    assert page.inner_text("#user-name") == "Demo technician"
    assert page.is_hidden("#nav-admin")
    assert "not clinically validated. Not for diagnostic use." in page.inner_text("#notice")
    assert page.evaluate("() => document.activeElement.id") == "patient-id"
    assert page.get_attribute("#patient-id", "data-scanner-target")
    snap(page, shots, "02-new-exam")
    check_screen(page)

    start_exam(page, "P-1001")
    assert page.is_hidden("#same-day-warning")
    assert page.get_attribute("#demo-kinds button:text-is('Camera default')", "aria-pressed") == "true"
    # Right eye: a blurred photo gets its retake sentence at once, then a retake replaces it.
    verdict = take_photo(page, "Blurred")
    assert "blurred" in verdict.lower()
    card = page.locator("#photos .photo-card.bad")
    assert card.count() == 1
    assert "keep still" in card.inner_text()
    assert page.locator("#photos img").evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    assert page.is_disabled("#finish")
    assert "left-eye" in page.inner_text("#finish-blocker")
    snap(page, shots, "03-capture-retake")
    check_screen(page)
    assert "Good photo" in take_photo(page, "Referable DR", retake="#photos .photo-card.bad button.retake")
    assert page.locator("#photos .photo-card").count() == 1
    assert page.locator("#photos .photo-card.good .verdict").inner_text().strip().startswith("✓")
    assert "1 good" in page.inner_text("#step-right")

    # Left eye: three dark photos in a row -> dilate or refer, prominently.
    page.click("#next-left")
    assert page.inner_text("#shoot") == "Photograph left eye"
    for attempt in range(3):
        verdict = take_photo(page, "Too dark" if attempt == 0 else None)
        assert page.is_hidden("#escalation") == (attempt < 2)
    assert "dilate the pupil" in page.inner_text("#escalation")
    assert "dilate" in verdict
    assert page.locator("#photos .photo-card").count() == 1  # each retake replaced the failed photo
    snap(page, shots, "04-escalation")
    check_screen(page)

    # A photo that looks like the other eye: confirm or retake before finishing.
    take_photo(page, "Swapped")
    warning = page.locator("#eye-warnings .eye-warning")
    assert "looks like a right eye" in warning.inner_text()
    assert page.is_disabled("#finish")
    assert "other eye" in page.inner_text("#finish-blocker")
    snap(page, shots, "05-eye-warning")
    check_screen(page)
    assert "Left or right?" in page.inner_text("#photos .photo-card.doubt")
    page.click("#eye-warnings button:text-is('Confirm it is the left eye')")
    page.wait_for_selector("#finish:not([disabled])")
    assert page.locator("#eye-warnings .eye-warning, #photos .doubt").count() == 0

    finish(page, "REFER")
    assert page.inner_text("#result-patient-id") == "P-1001"
    assert page.inner_text("#result-birth") == "12 Mar 1961"
    assert "refer to an eye care professional" in page.inner_text("#outcome-message")
    assert "REFER" in page.get_attribute("#outcome-box", "class")
    right = page.locator("#eyes-result .eye-card").nth(0)
    assert "Referable diabetic retinopathy detected" in right.inner_text()
    assert "used for the result" in right.inner_text()
    assert page.inner_text("#result-model").startswith("Model: dr-reference")
    assert page.inner_text("#result-operating-point").startswith("Operating point: the model's locked threshold")
    assert "not clinically validated" in page.inner_text("#result-notice")
    assert page.is_hidden("#result-details-body table")
    page.click("#result-details summary")
    assert page.is_visible("#result-details-body table")
    assert page.locator("#result-details-body tbody tr").count() == 2
    heatmap = right.locator("button.heatmap-button")
    heatmap.click()
    page.wait_for_function("() => [...document.querySelectorAll('#eyes-result img')].some("
                           "i => i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0)")
    assert heatmap.inner_text() == "Show the photo"
    assert "not validated" in right.inner_text()
    page.click("#result-details summary")  # closed again for the screenshot
    snap(page, shots, "06-result-refer")
    check_screen(page)

    # The PDF: one page with the patient and the outcome.
    with page.expect_download() as download:
        page.click("#download-pdf")
    pages, text = pdf_facts(Path(download.value.path()).read_bytes())
    assert pages == 1
    assert "P-1001" in text
    assert "refer to an eye care professional" in " ".join(text.split())

    # The print view, in a tab of its own.
    with page.context.expect_page() as opened:
        page.click("#print-report")
    report = opened.value
    report.wait_for_load_state()
    assert report.inner_text("#patient-id") == "P-1001"
    assert "refer" in report.inner_text("#outcome-message")
    report.set_viewport_size(VIEWPORT)
    snap(report, shots, "07-report")
    report.close()

    # New exam: nothing of this patient stays on the page.
    page.click("#result-new-exam")
    page.wait_for_selector("#screen-new:not([hidden])")
    assert "P-1001" not in page.content()
    assert "blob:" not in page.content()


def test_no_refer_exam_warns_of_the_same_patient_today(page: Page, shots: Path) -> None:
    sign_in(page)
    start_exam(page, "P-1002", sex="Male")
    take_photo(page, "Healthy")
    page.click("#next-left")
    take_photo(page)  # the chooser keeps its choice
    page.click("#nav-new")  # leave it open: it waits in the worklist
    start_exam(page, "P-1002", sex="Male")
    assert "already had an exam today" in page.inner_text("#same-day-warning")
    take_photo(page, "Healthy")
    page.click("#next-left")
    take_photo(page)
    snap(page, shots, "08-same-day-warning")
    finish(page, "NO REFER")
    assert "rescreen in 12 months" in page.inner_text("#outcome-message")
    for card in page.locator("#eyes-result .eye-card").all():
        assert "Referable diabetic retinopathy not detected" in card.inner_text()
    snap(page, shots, "09-result-no-refer")
    check_screen(page)


def test_ungradable_exam_when_one_eye_has_only_failed_photos(page: Page, shots: Path) -> None:
    sign_in(page)
    start_exam(page, "P-1003")
    take_photo(page, "Healthy")
    page.click("#next-left")
    assert "centre the camera" in take_photo(page, "Off-centre")
    page.wait_for_selector("#finish:not([disabled])")
    finish(page, "UNGRADABLE")
    assert "Insufficient exam quality" in page.inner_text("#outcome-message")
    left = page.locator("#eyes-result .eye-card").nth(1)
    assert "Ungradable" in left.inner_text()
    assert "not used" in left.inner_text()
    snap(page, shots, "10-result-ungradable")
    check_screen(page)


def test_worklist_search_reopen_cancel_status_and_sign_out(page: Page, shots: Path) -> None:
    sign_in(page)
    # A finished exam, one cancelled from the worklist, one left open.
    start_exam(page, "P-2001")
    take_photo(page, "Healthy")
    page.click("#nav-worklist")
    page.wait_for_selector("#open-table tr[data-exam-id]")
    page.click("#open-table tr:has-text('P-2001') button:text-is('Resume')")
    page.wait_for_selector("#screen-capture:not([hidden])")
    assert page.inner_text("#capture-patient-id") == "P-2001"
    assert page.get_attribute("#step-left", "aria-pressed") == "true"  # right eye done: on to the left
    take_photo(page, "Healthy")
    finish(page, "NO REFER")
    start_exam(page, "P-2002")
    start_exam(page, "P-2003")
    take_photo(page, "Healthy")

    page.click("#nav-worklist")
    page.wait_for_selector("#worklist-table tr:has-text('P-2003')")
    page.click("#open-table tr:has-text('P-2002') button:text-is('Cancel')")
    page.wait_for_selector("#cancel-dialog[open]")
    check_screen(page)
    page.click("#cancel-dialog label:text-is('Wrong patient')")
    page.click("#cancel-confirm")
    page.wait_for_selector("#cancel-dialog", state="hidden")
    page.wait_for_selector("#worklist-table tr:has-text('P-2002') td:text-is('Cancelled')")
    assert page.locator("#open-table tr:has-text('P-2002')").count() == 0
    row = page.locator("#worklist-table tr:has-text('P-2001')")
    assert "Finished" in row.inner_text()
    assert "NO REFER" in row.inner_text()
    assert "Open" in page.locator("#worklist-table tr:has-text('P-2003')").inner_text()
    snap(page, shots, "11-worklist")
    check_screen(page)

    # Tap a row: a finished exam reopens on its result, read-only.
    row.locator("td").nth(1).click()
    page.wait_for_selector("#screen-result:not([hidden])")
    assert page.inner_text("#result-patient-id") == "P-2001"
    assert page.inner_text("#outcome-word") == "NO REFER"
    page.click("#nav-worklist")
    page.click("#worklist-table tr:has-text('P-2002') button:text-is('View')")
    page.wait_for_selector("#screen-exam-info:not([hidden])")
    assert "Wrong patient" in page.inner_text("#info-facts")
    snap(page, shots, "12-cancelled-exam")
    check_screen(page)

    # Search by patient id (sent in the body, not the URL).
    page.click("#info-back")
    page.fill("#search-patient-id", "P-2001")
    page.click("#search-button")
    page.wait_for_selector("#list-title:text('Exams of patient P-2001')")
    assert page.locator("#worklist-table tbody tr").count() == 1
    page.click("#show-today")
    page.wait_for_selector("#list-title:text-is(\"Today's exams\")")

    # The status page: every check in words, no patient data.
    page.click("#nav-status")
    page.wait_for_url(re.compile(r"/status$"))
    assert "Every check is OK" in page.inner_text("#box-state")
    for check in ("model", "camera", "store", "disk"):
        assert "✓ OK" in page.inner_text(f"#check-{check}")
    assert "P-20" not in page.content()
    snap(page, shots, "13-status")
    check_screen(page)
    page.click("#back-to-kiosk")
    page.wait_for_selector("#screen-new:not([hidden])")

    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/sign-in"))
    assert "P-20" not in page.content()
    page.goto("/")
    page.wait_for_url(re.compile(r"/sign-in"))


def test_an_administrator_sees_the_admin_button(page: Page) -> None:
    sign_in(page, "demo-admin", "9876")
    assert page.is_visible("#nav-admin")
    page.click("#nav-admin")
    page.wait_for_url(re.compile(r"/admin$"))


def test_idle_warning_then_sign_out_wipes_the_patient(idle_page: Page, shots: Path) -> None:
    page = idle_page
    sign_in(page)
    start_exam(page, "P-IDLE-7")
    take_photo(page, "Healthy")
    page.wait_for_selector("#idle-dialog[open]", timeout=10_000)
    assert re.search(r"You will be signed out in \d s", page.inner_text("#idle-text"))
    snap(page, shots, "14-idle-warning")
    check_screen(page)
    page.click("#stay-signed-in")
    page.wait_for_selector("#idle-dialog", state="hidden")
    assert page.inner_text("#capture-patient-id") == "P-IDLE-7"
    # Nobody touches it now: warned again, then signed out, with nothing of the patient left.
    page.wait_for_selector("#idle-dialog[open]", timeout=10_000)
    page.wait_for_url(re.compile(r"/sign-in"), timeout=15_000)
    page.wait_for_load_state()
    assert "P-IDLE-7" not in page.content()
    assert "not used for a while" in page.inner_text("body")


def test_five_wrong_pins_lock_the_account(idle_page: Page, shots: Path) -> None:
    page = idle_page
    page.goto("/sign-in")
    for _ in range(5):
        page.fill("#user-id", "demo-admin")
        page.fill("#pin", "0000")
        page.click("#sign-in-button")
        page.wait_for_selector("#sign-in-message")
    assert "locked" in page.inner_text("#sign-in-message")
    page.fill("#pin", "9876")  # the right PIN no longer helps
    page.click("#sign-in-button")
    assert "locked" in page.inner_text("#sign-in-message")
    snap(page, shots, "15-lock-out")
    assert_touch_targets(page)

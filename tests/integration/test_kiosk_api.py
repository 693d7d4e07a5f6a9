"""The real kiosk app through Flask's test client: `create_app` over `open_appliance(load_config(...))` (the
shipped model on onnxruntime, the simulated camera and its demo kinds, the real store), as the server builds
it. One box per module.

What tests/unit/kiosk/test_security.py proves on a minimal app (Host, Origin, CSRF, cookies, idle timeout)
is not repeated; here every real route is walked for its sign-in and role checks, a whole exam goes through
the JSON API, bad input is answered 4xx (never 500), reads are audited with who read, patient ids stay out
of URLs and logs, and the admin screen's API and the headers are checked on real routes.
"""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from werkzeug.test import TestResponse

from appliance.devices.simulated import SAMPLES_DIR
from appliance.kiosk.security import CONTENT_SECURITY_POLICY, PUBLIC_PATHS
from appliance.site_settings import read_settings
from appliance.store.records import AuditEntry
from tests.integration.kiosk_app import (
    ADMIN,
    MAX_UPLOAD_BYTES,
    ORIGIN,
    TECH,
    Kiosk,
    changing,
    running_kiosk,
    sign_in,
    signed_in,
    url_for_rule,
)

#: A right-eye demo photo that the gate sees as a right eye (its optic disc is on the right side).
RIGHT_LOOKING = SAMPLES_DIR / "healthy_01_right.jpg"
#: A made-up exam id (32 hex digits, as the box makes them) and photo hash.
UNKNOWN_EXAM = uuid.uuid4().hex
UNKNOWN_SHA = "ab" * 32
#: An exam id with a CR/LF in it, as a client could send to forge a log line.
FORGED_EXAM = "abc%0d%0aFAKE"
SAFE = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    with running_kiosk(tmp_path_factory.mktemp("kiosk") / "var") as made:
        yield made


@pytest.fixture
def tech(kiosk: Kiosk) -> tuple[FlaskClient, str]:
    """A technician signed in on a fresh client (a new sign-in of a user ends that user's older one)."""
    return signed_in(kiosk, TECH)


@pytest.fixture
def admin(kiosk: Kiosk) -> tuple[FlaskClient, str]:
    return signed_in(kiosk, ADMIN)


pytestmark = pytest.mark.usefixtures("no_error_logs")  # tests/integration/conftest.py


# --- helpers ---------------------------------------------------------------------------------------------------

def new_patient() -> str:
    return f"P-{uuid.uuid4().hex[:12]}"


def assert_error(answer: TestResponse, status: int, error: str | None = None) -> dict[str, Any]:
    """The answer is the JSON error {error, message} with `status` (and reason `error` when given)."""
    body = answer.get_json(silent=True)
    assert answer.status_code == status, (answer.status_code, body or answer.get_data()[:300])
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    if error is not None:
        assert body["error"] == error, body
    return body


def open_exam(client: FlaskClient, csrf: str, patient_id: str, **fields: Any) -> dict[str, Any]:
    answer = client.post("/api/exams", json={"patient_id": patient_id, **fields}, headers=changing(csrf))
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def take(client: FlaskClient, csrf: str, exam_id: str, eye: str, kind: str, **fields: Any) -> TestResponse:
    """A photo with the box's (simulated) camera: the next demo photo of `kind`."""
    return client.post(f"/api/exams/{exam_id}/photos", json={"eye": eye, "kind": kind, **fields},
                       headers=changing(csrf))


def taken(client: FlaskClient, csrf: str, exam_id: str, eye: str, kind: str, **fields: Any) -> dict[str, Any]:
    answer = take(client, csrf, exam_id, eye, kind, **fields)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def upload(client: FlaskClient, csrf: str, exam_id: str, data: bytes, name: str = "photo.jpg",
           **fields: str) -> TestResponse:
    return client.post(f"/api/exams/{exam_id}/photos", data={**fields, "photo": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers=changing(csrf))


def finished_exam(client: FlaskClient, csrf: str, patient_id: str, right: str = "healthy",
                  left: str = "healthy") -> dict[str, Any]:
    exam_id = open_exam(client, csrf, patient_id)["exam_id"]
    taken(client, csrf, exam_id, "right", right)
    taken(client, csrf, exam_id, "left", left)
    answer = client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf))
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def sample(kind: str, eye: str) -> bytes:
    return sorted(SAMPLES_DIR.glob(f"{kind}_*_{eye}.jpg"))[0].read_bytes()


def audit_rows(kiosk: Kiosk, exam_id: str | None = None) -> list[AuditEntry]:
    return kiosk.box.store.audit_entries(exam_id)


# --- 1. every route asks for a sign-in; admin routes for an administrator --------------------------------------

def test_every_route_but_the_public_ones_needs_a_sign_in(kiosk: Kiosk) -> None:
    client = kiosk.app.test_client()
    exams = len(kiosk.box.store.worklist(limit=1000))
    walked = 0
    for rule in kiosk.app.url_map.iter_rules():
        if rule.rule in PUBLIC_PATHS or rule.rule.startswith("/static/"):
            continue
        path = url_for_rule(rule.rule)
        for method in sorted(rule.methods or ()):
            # Same-origin, as the kiosk's own page: a cross-origin request is refused earlier (403).
            answer = client.open(path, method=method, headers={} if method in SAFE else ORIGIN, json={})
            where = f"{method} {path}"
            if path.startswith("/api/"):
                assert answer.status_code == 401, where
                if method != "HEAD":
                    assert assert_error(answer, 401)["error"] == "sign_in_required", where
            else:
                assert answer.status_code == 303, where
                assert answer.headers["Location"].startswith("/sign-in?next="), where
            walked += 1
    assert walked >= 40  # every method of every route, OPTIONS and HEAD included
    assert {r.rule for r in kiosk.app.url_map.iter_rules()} >= {"/healthz", "/sign-in", "/api/session"}
    assert len(kiosk.box.store.worklist(limit=1000)) == exams  # no view ran


def test_a_technician_gets_403_on_every_admin_route(kiosk: Kiosk, tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    walked = 0
    for rule in kiosk.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/admin/"):
            continue
        path = url_for_rule(rule.rule)
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            answer = client.open(path, method=method, headers={} if method in SAFE else changing(csrf),
                                 json={"user_id": "mallory", "role": "admin", "pin": "1111",
                                       "quality_profile": "default"})
            assert answer.status_code == 403, f"{method} {path}"
            if method != "HEAD":
                assert_error(answer, 403, "access_denied")
            walked += 1
    assert walked >= 7
    assert "mallory" not in [u.user_id for u in kiosk.accounts.list_users()]
    assert not read_settings(kiosk.data_dir).quality_profile


# --- 2. a whole exam through the API ------------------------------------------------------------------------------

def test_exam_with_the_camera_retakes_escalation_and_result(kiosk: Kiosk, tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    patient = new_patient()
    exam = open_exam(client, csrf, patient, birth_date="1961-04-02", sex="female", operator="mallory")
    exam_id = exam["exam_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", exam_id)
    assert (exam["state"], exam["operator"], exam["same_day_exams"], exam["can_finish"]) == ("open", "tess", 0, False)
    assert exam["patient"] == {"patient_id": patient, "birth_date": "1961-04-02", "sex": "female"}

    # Three failed photos of the right eye: each replaces the last failed one; the third escalates.
    first = taken(client, csrf, exam_id, "right", "blurred")
    assert first["photo"]["quality"]["passed"] is False and "blurred" in first["photo"]["quality"]["reason_codes"]
    assert (first["advice"]["failed_attempts"], first["advice"]["escalate"]) == (1, False)
    assert first["advice"]["message"]
    second = taken(client, csrf, exam_id, "right", "dark")
    assert second["exam"]["eyes"]["right"]["photos_in_use"] == [second["photo"]["photo_id"]]
    assert (second["advice"]["failed_attempts"], second["advice"]["escalate"]) == (2, False)
    third = taken(client, csrf, exam_id, "right", "offcentre")
    assert (third["advice"]["failed_attempts"], third["advice"]["escalate"]) == (3, True)
    assert "refer the patient to an eye care professional" in third["advice"]["message"]
    assert third["exam"]["eyes"]["right"]["escalate"] is True and third["exam"]["can_finish"] is False
    # A good photo at last, as the retake of the failed one in use.
    good = taken(client, csrf, exam_id, "right", "healthy", replaces=third["photo"]["photo_id"])
    assert good["photo"]["quality"]["passed"] is True and good["advice"]["escalate"] is False
    assert good["exam"]["eyes"]["right"]["photos_in_use"] == [good["photo"]["photo_id"]]
    replaced = {p["photo_id"]: p["replaced"] for p in good["exam"]["photos"]}
    assert replaced == {first["photo"]["photo_id"]: True, second["photo"]["photo_id"]: True,
                        third["photo"]["photo_id"]: True, good["photo"]["photo_id"]: False}

    # A good left photo retaken on purpose (`replaces`): the retake is the one in use.
    left = taken(client, csrf, exam_id, "left", "healthy")
    retake = taken(client, csrf, exam_id, "left", "referable", replaces=left["photo"]["photo_id"])
    assert retake["exam"]["eyes"]["left"]["photos_in_use"] == [retake["photo"]["photo_id"]]
    assert retake["exam"]["can_finish"] is True and retake["eye_warning"] == ""

    answer = client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf))
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert (result["outcome"], result["operator"], result["patient_id"]) == ("REFER", "tess", patient)
    assert result["eyes"]["left"]["photos_used"] == [retake["photo"]["photo_id"]]
    assert result["eyes"]["left"]["finding"] == "referable"
    assert result["eyes"]["right"]["finding"] == "not_referable"
    assert_error(client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf)), 409, "exam_not_open")

    read = client.get(f"/api/exams/{exam_id}").get_json()
    assert read["state"] == "finished" and read["result"]["outcome"] == "REFER"
    assert read["result"]["images"] == result["images"]

    pdf = client.get(f"/api/exams/{exam_id}/report.pdf")
    assert (pdf.status_code, pdf.mimetype) == (200, "application/pdf")
    assert patient not in pdf.headers["Content-Disposition"]
    pages = PdfReader(io.BytesIO(pdf.data)).pages
    assert len(pages) == 1 and patient in pages[0].extract_text()
    page = client.get(f"/exams/{exam_id}/report")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert patient in page.get_data(as_text=True) and "REFER" in page.get_data(as_text=True)

    photo = client.get(f"/api/images/{good['photo']['sha256']}")
    assert (photo.status_code, photo.mimetype) == (200, "image/jpeg")
    heatmap = client.get(f"/api/images/{good['photo']['sha256']}/heatmap")
    assert (heatmap.status_code, heatmap.mimetype) == (200, "image/png") and heatmap.data.startswith(b"\x89PNG")

    today = client.get("/api/worklist").get_json()
    line = next(e for e in today["exams"] if e["exam_id"] == exam_id)
    assert (today["scope"], line["state"], line["outcome"], line["operator"]) == ("today", "finished", "REFER", "tess")
    found = client.post("/api/worklist/search", json={"patient_id": patient}, headers=changing(csrf)).get_json()
    assert [e["exam_id"] for e in found["exams"]] == [exam_id]
    assert exam_id not in [e["exam_id"] for e in client.get("/api/worklist?scope=open").get_json()["exams"]]

    # A second exam of the same patient the same day: the kiosk says so.
    again = open_exam(client, csrf, patient)
    assert again["same_day_exams"] == 1
    found = client.post("/api/worklist/search", json={"patient_id": patient}, headers=changing(csrf)).get_json()
    assert [e["exam_id"] for e in found["exams"]] == [again["exam_id"], exam_id]
    assert again["exam_id"] in [e["exam_id"] for e in client.get("/api/worklist?scope=open").get_json()["exams"]]


def test_left_right_doubt_must_be_confirmed_before_finishing(tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    exam_id = open_exam(client, csrf, new_patient())["exam_id"]
    taken(client, csrf, exam_id, "right", "referable")
    answer = upload(client, csrf, exam_id, RIGHT_LOOKING.read_bytes(), eye="left")
    assert answer.status_code == 201, answer.get_json()
    verdict = answer.get_json()
    assert "looks like a right eye" in verdict["eye_warning"] and "left eye" in verdict["eye_warning"]
    assert (verdict["photo"]["eye"], verdict["photo"]["looks_like_eye"], verdict["photo"]["eye_confirmed"]) == (
        "left", "right", False)
    assert verdict["exam"]["can_finish"] is False and verdict["exam"]["finish_blocker"]
    assert_error(client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf)), 409, "eye_side_doubt")

    photo_id = verdict["photo"]["photo_id"]
    confirmed = client.post(f"/api/exams/{exam_id}/photos/{photo_id}/confirm-eye", headers=changing(csrf))
    assert confirmed.status_code == 200 and confirmed.get_json()["can_finish"] is True
    result = client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf))
    assert result.status_code == 200 and result.get_json()["outcome"] == "REFER"


def test_cancel_an_open_exam(kiosk: Kiosk, tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    exam_id = open_exam(client, csrf, new_patient())["exam_id"]
    taken(client, csrf, exam_id, "right", "healthy")
    assert_error(client.post(f"/api/exams/{exam_id}/cancel", data={"reason": "x"}, headers=changing(csrf)), 415)
    answer = client.post(f"/api/exams/{exam_id}/cancel", json={"reason": "patient left"}, headers=changing(csrf))
    assert answer.status_code == 200
    cancelled = answer.get_json()
    assert (cancelled["state"], cancelled["closed_by"], cancelled["close_reason"]) == ("cancelled", "tess",
                                                                                      "patient left")
    assert_error(take(client, csrf, exam_id, "left", "healthy"), 409, "exam_not_open")
    assert_error(upload(client, csrf, exam_id, sample("healthy", "left"), eye="left"), 409, "exam_not_open")
    assert_error(client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf)), 409, "exam_not_open")
    assert_error(client.post(f"/api/exams/{exam_id}/cancel", json={}, headers=changing(csrf)), 409, "exam_not_open")
    assert_error(client.get(f"/api/exams/{exam_id}/report.pdf"), 404, "exam_not_found")
    assert client.get(f"/api/exams/{exam_id}").get_json()["state"] == "cancelled"
    assert [e.action for e in audit_rows(kiosk, exam_id)].count("exam_cancelled") == 1


def test_one_shot_multipart_exam(kiosk: Kiosk, tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    patient = new_patient()
    answer = client.post("/api/exams", content_type="multipart/form-data", headers=changing(csrf), data={
        "patient_id": patient, "sex": "male",
        "right": (io.BytesIO(sample("healthy", "right")), "r.jpg"),
        "left": (io.BytesIO(sample("healthy", "left")), "l.jpg")})
    assert answer.status_code == 201, answer.get_json()
    result = answer.get_json()
    assert (result["state"], result["outcome"], result["operator"]) == ("finished", "NO_REFER", "tess")
    assert result["patient"]["sex"] == "male" and len(result["images"]) == 2
    shown = [e for e in audit_rows(kiosk, result["exam_id"]) if e.action == "result_shown"]
    assert [(e.actor, e.detail["via"]) for e in shown] == [("tess", "api")]
    assert client.get(f"/api/exams/{result['exam_id']}").get_json()["result"]["outcome"] == "NO_REFER"


def test_page_and_camera_for_a_signed_in_technician(tech: tuple[FlaskClient, str]) -> None:
    client, _ = tech
    page = client.get("/")
    assert page.status_code == 200 and "not clinically validated" in page.get_data(as_text=True)
    status = client.get("/status")
    assert status.status_code == 200 and status.mimetype == "text/html"
    camera = client.get("/api/camera").get_json()
    assert camera == {"kind": "simulated", "demo_kinds": ["blurred", "dark", "healthy", "offcentre", "referable"]}


# --- 3. bad input: a 4xx JSON error, never a 500 --------------------------------------------------------------------

@pytest.fixture(scope="module")
def open_exam_id(kiosk: Kiosk) -> str:
    """An open exam with a gradable right-eye photo (photo 1), for the bad-input cases."""
    client, csrf = signed_in(kiosk, TECH)
    exam_id = str(open_exam(client, csrf, new_patient())["exam_id"])
    taken(client, csrf, exam_id, "right", "healthy")  # photo 1
    return exam_id


def json_text(text: str) -> dict[str, Any]:
    return {"data": text, "content_type": "application/json"}


JPEG = sample("healthy", "left")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BAD_REQUESTS: list[tuple[str, str, str, dict[str, Any], int]] = [
    # (case, method, path ({exam}: an open exam), test-client arguments, status)
    ("text to open", "POST", "/api/exams", {"data": "P-1", "content_type": "text/plain"}, 415),
    ("no body to open", "POST", "/api/exams", {}, 415),
    ("form to cancel", "POST", "/api/exams/{exam}/cancel", {"data": {"reason": "x"}}, 415),
    ("text to photos", "POST", "/api/exams/{exam}/photos", {"data": "eye=right", "content_type": "text/plain"}, 415),
    ("form to search", "POST", "/api/worklist/search", {"data": {"patient_id": "P-1"}}, 415),
    ("malformed JSON", "POST", "/api/exams", json_text('{"patient_id": "P-1"'), 400),
    ("not UTF-8 JSON", "POST", "/api/exams", {"data": b'{"patient_id": "\xff\xfe"}',
                                              "content_type": "application/json"}, 400),
    ("JSON array", "POST", "/api/exams", {"json": ["P-1"]}, 400),
    ("JSON string", "POST", "/api/exams", {"json": "P-1"}, 400),
    ("deeply nested JSON", "POST", "/api/exams", json_text("[" * 100_000 + "]" * 100_000), 400),
    ("patient id of 10,000 characters", "POST", "/api/exams", {"json": {"patient_id": "P" * 10_000}}, 400),
    ("patient id of 65 characters", "POST", "/api/exams", {"json": {"patient_id": "P" * 65}}, 400),
    ("empty patient id", "POST", "/api/exams", {"json": {"patient_id": "  "}}, 400),
    ("no patient id", "POST", "/api/exams", {"json": {}}, 400),
    ("patient id with CR/LF", "POST", "/api/exams", {"json": {"patient_id": "P-1\r\nFAKE log line"}}, 400),
    ("patient id a number", "POST", "/api/exams", {"json": {"patient_id": 12345}}, 400),
    ("patient id a list", "POST", "/api/exams", {"json": {"patient_id": ["P-1"]}}, 400),
    ("born in 1850", "POST", "/api/exams", {"json": {"patient_id": "P-1", "birth_date": "1850-01-01"}}, 400),
    ("born in 2999", "POST", "/api/exams", {"json": {"patient_id": "P-1", "birth_date": "2999-01-01"}}, 400),
    ("birth date not a date", "POST", "/api/exams", {"json": {"patient_id": "P-1", "birth_date": "not a date"}}, 400),
    ("30 February", "POST", "/api/exams", {"json": {"patient_id": "P-1", "birth_date": "2001-02-30"}}, 400),
    ("birth date a number", "POST", "/api/exams", {"json": {"patient_id": "P-1", "birth_date": 19610402}}, 400),
    ("sex x", "POST", "/api/exams", {"json": {"patient_id": "P-1", "sex": "x"}}, 400),
    ("sex a dict", "POST", "/api/exams", {"json": {"patient_id": "P-1", "sex": {"a": 1}}}, 400),
    ("eye middle", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "middle"}}, 400),
    ("no eye", "POST", "/api/exams/{exam}/photos", {"json": {"kind": "healthy"}}, 400),
    ("eye a list", "POST", "/api/exams/{exam}/photos", {"json": {"eye": ["left"]}}, 400),
    ("field nose", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "left", "field": "nose"}}, 400),
    ("replaces -1", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": -1}}, 400),
    ("replaces 0", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": 0}}, 400),
    ("replaces 10**9", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": 10**9}}, 400),
    ("replaces 10**30", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": 10**30}}, 400),
    ("replaces abc", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": "abc"}}, 400),
    ("replaces true", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": True}}, 400),
    ("replaces 1.5", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": 1.5}}, 400),
    ("replaces 1e400", "POST", "/api/exams/{exam}/photos", json_text('{"eye": "right", "replaces": 1e400}'), 400),
    ("replaces NaN", "POST", "/api/exams/{exam}/photos", json_text('{"eye": "right", "replaces": NaN}'), 400),
    ("replaces a photo not there", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "right", "replaces": 7}},
     400),
    ("replaces the other eye's photo", "POST", "/api/exams/{exam}/photos",
     {"json": {"eye": "left", "replaces": 1}}, 400),
    ("kind nonexistent", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "left", "kind": "nonexistent"}}, 400),
    ("kind with CR/LF", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "left", "kind": "x\r\nFAKE"}}, 400),
    ("kind a number", "POST", "/api/exams/{exam}/photos", {"json": {"eye": "left", "kind": 5}}, 400),
    ("unknown exam: read", "GET", f"/api/exams/{UNKNOWN_EXAM}", {}, 404),
    ("unknown exam: photo", "POST", f"/api/exams/{UNKNOWN_EXAM}/photos", {"json": {"eye": "left"}}, 404),
    ("unknown exam: upload", "POST", f"/api/exams/{UNKNOWN_EXAM}/photos",
     {"data": {"eye": "left", "photo": (JPEG, "l.jpg")}}, 404),
    ("unknown exam: confirm", "POST", f"/api/exams/{UNKNOWN_EXAM}/photos/1/confirm-eye", {}, 404),
    ("unknown exam: finish", "POST", f"/api/exams/{UNKNOWN_EXAM}/finish", {}, 404),
    ("unknown exam: cancel", "POST", f"/api/exams/{UNKNOWN_EXAM}/cancel", {"json": {}}, 404),
    ("unknown exam: report", "GET", f"/api/exams/{UNKNOWN_EXAM}/report.pdf", {}, 404),
    ("unknown exam: report page", "GET", f"/exams/{UNKNOWN_EXAM}/report", {}, 404),
    ("exam id with CR/LF: read", "GET", f"/api/exams/{FORGED_EXAM}", {}, 404),
    ("exam id with CR/LF: photo", "POST", f"/api/exams/{FORGED_EXAM}/photos", {"json": {"eye": "left"}}, 404),
    ("exam id with CR/LF: finish", "POST", f"/api/exams/{FORGED_EXAM}/finish", {}, 404),
    ("exam id with CR/LF: report page", "GET", f"/exams/{FORGED_EXAM}/report", {}, 404),
    ("exam id in capitals", "GET", f"/api/exams/{UNKNOWN_EXAM.upper()}", {}, 404),
    ("exam id with a path", "GET", "/api/exams/..%2f..%2fetc%2fpasswd", {}, 404),
    ("open exam: report", "GET", "/api/exams/{exam}/report.pdf", {}, 404),
    ("open exam: report page", "GET", "/exams/{exam}/report", {}, 404),
    ("open exam: finish with an eye missing", "POST", "/api/exams/{exam}/finish", {}, 400),
    ("confirm a photo not there", "POST", "/api/exams/{exam}/photos/999/confirm-eye", {}, 400),
    ("confirm a photo id of 30 digits", "POST", "/api/exams/{exam}/photos/" + "9" * 30 + "/confirm-eye", {}, 400),
    ("upload over the size limit", "POST", "/api/exams/{exam}/photos",
     {"data": {"eye": "left", "photo": (b"\xff\xd8\xff" + b"\0" * MAX_UPLOAD_BYTES, "big.jpg")}}, 413),
    ("JSON over the size limit", "POST", "/api/exams",
     {"json": {"patient_id": "P-1", "pad": "x" * MAX_UPLOAD_BYTES}}, 413),
    ("a PDF as a photo", "POST", "/api/exams/{exam}/photos", {"data": {"eye": "left", "photo": (PDF, "x.pdf")}}, 422),
    ("a text file as a photo", "POST", "/api/exams/{exam}/photos",
     {"data": {"eye": "left", "photo": (b"just some text\n", "notes.txt")}}, 422),
    ("an empty photo", "POST", "/api/exams/{exam}/photos", {"data": {"eye": "left", "photo": (b"", "e.jpg")}}, 422),
    ("a truncated JPEG", "POST", "/api/exams/{exam}/photos",
     {"data": {"eye": "left", "photo": (JPEG[: len(JPEG) // 3], "cut.jpg")}}, 422),
    ("JPEG header only", "POST", "/api/exams/{exam}/photos",
     {"data": {"eye": "left", "photo": (JPEG[:200], "cut.jpg")}}, 422),
    ("upload without a photo", "POST", "/api/exams/{exam}/photos",
     {"data": {"eye": "left"}, "content_type": "multipart/form-data"}, 400),
    ("upload eye middle", "POST", "/api/exams/{exam}/photos",
     {"data": {"eye": "middle", "photo": (JPEG, "l.jpg")}}, 400),
    ("upload replaces abc", "POST", "/api/exams/{exam}/photos",
     {"data": {"eye": "left", "replaces": "abc", "photo": (JPEG, "l.jpg")}}, 400),
    ("one-shot without photos", "POST", "/api/exams",
     {"data": {"patient_id": "P-1"}, "content_type": "multipart/form-data"}, 400),
    ("one-shot with one eye", "POST", "/api/exams", {"data": {"patient_id": "P-1", "right": (JPEG, "r.jpg")}}, 400),
    ("one-shot without a patient id", "POST", "/api/exams",
     {"data": {"right": (sample("healthy", "right"), "r.jpg"), "left": (JPEG, "l.jpg")}}, 400),
    ("one-shot with a PDF", "POST", "/api/exams",
     {"data": {"patient_id": "P-1", "right": (PDF, "r.pdf"), "left": (JPEG, "l.jpg")}}, 422),
    ("one-shot with the same photo twice", "POST", "/api/exams",
     {"data": {"patient_id": "P-1", "right": (JPEG, "r.jpg"), "left": (JPEG, "l.jpg")}}, 409),
    ("worklist scope bogus", "GET", "/api/worklist?scope=bogus", {}, 400),
    ("search without a patient id", "POST", "/api/worklist/search", {"json": {}}, 400),
    ("search with a JSON array", "POST", "/api/worklist/search", {"json": ["P-1"]}, 400),
    ("search for 10,000 characters", "POST", "/api/worklist/search", {"json": {"patient_id": "P" * 10_000}}, 400),
    ("image not a hash", "GET", "/api/images/..%2f..%2fetc%2fpasswd", {}, 404),
    ("image not stored", "GET", f"/api/images/{UNKNOWN_SHA}", {}, 404),
    ("heatmap not stored", "GET", f"/api/images/{UNKNOWN_SHA}/heatmap", {}, 404),
    ("no such route", "GET", "/api/nowhere", {}, 404),
    ("wrong method", "DELETE", "/api/exams", {}, 405),
]


def _files(arguments: dict[str, Any]) -> dict[str, Any]:
    """Fresh file objects for a multipart body (a test client consumes them)."""
    data = arguments.get("data")
    if not isinstance(data, dict):
        return arguments
    fields = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in data.items()}
    return {**arguments, "data": fields}


@pytest.mark.parametrize(("method", "path", "arguments", "status"), [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_is_a_4xx_json_error(kiosk: Kiosk, tech: tuple[FlaskClient, str], open_exam_id: str,
                                       method: str, path: str, arguments: dict[str, Any], status: int) -> None:
    client, csrf = tech
    before = {e.exam_id for e in kiosk.box.store.worklist(limit=1000)}
    answer = client.open(path.replace("{exam}", open_exam_id), method=method,
                         headers={} if method in SAFE else changing(csrf), **_files(arguments))
    answer.request.input_stream.close()  # a large body is a temporary file the test client leaves open
    assert_error(answer, status)
    assert {e.exam_id for e in kiosk.box.store.worklist(limit=1000)} == before  # nothing opened


def test_an_unknown_camera_kind_is_the_cameras_sentence(tech: tuple[FlaskClient, str], open_exam_id: str) -> None:
    client, csrf = tech
    body = assert_error(take(client, csrf, open_exam_id, "left", "nonexistent"), 400)
    assert "camera" in body["message"] and "healthy" in body["message"]  # names the kinds it has
    assert client.get(f"/api/exams/{open_exam_id}").get_json()["eyes"]["left"]["photos_in_use"] == []


# --- 4. audit and privacy -------------------------------------------------------------------------------------

def test_reads_of_patient_data_are_audited_with_the_signed_in_user(kiosk: Kiosk,
                                                                    tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    exam_id = finished_exam(client, csrf, new_patient())["exam_id"]

    def views() -> list[tuple[str, str]]:
        return [(e.actor, e.detail.get("what", "")) for e in audit_rows(kiosk, exam_id) if e.action == "exam_viewed"]

    assert views() == []
    client.get(f"/api/exams/{exam_id}")
    client.get(f"/api/exams/{exam_id}/report.pdf")
    client.get(f"/exams/{exam_id}/report")
    assert views() == [("tess", "session"), ("tess", "report"), ("tess", "result")]

    def worklist_views() -> list[AuditEntry]:
        return [e for e in audit_rows(kiosk) if e.action == "worklist_viewed"]

    seen = len(worklist_views())
    client.get("/api/worklist")
    client.post("/api/worklist/search", json={"patient_id": "P-nobody"}, headers=changing(csrf))
    new = worklist_views()[seen:]
    assert [(e.actor, e.detail["search"]) for e in new] == [("tess", False), ("tess", True)]
    assert all("P-nobody" not in str(e.detail) for e in new)  # the search term is not kept


def test_every_audit_row_of_an_exam_names_the_signed_in_user(kiosk: Kiosk, tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    exam_id = open_exam(client, csrf, new_patient(), operator="mallory")["exam_id"]
    for eye, kind in (("right", "blurred"), ("right", "healthy"), ("left", "healthy")):
        taken(client, csrf, exam_id, eye, kind, operator="mallory", actor="mallory")
    client.post(f"/api/exams/{exam_id}/finish", json={"operator": "mallory"}, headers=changing(csrf))
    client.get(f"/api/exams/{exam_id}/report.pdf")
    rows = audit_rows(kiosk, exam_id)
    assert {"exam_opened", "photo_taken", "exam_created", "result_shown", "exam_viewed"} <= {e.action for e in rows}
    assert {e.actor for e in rows} == {"tess"}
    assert kiosk.box.store.get_exam(exam_id).operator == "tess"


def test_no_patient_id_in_any_url_the_api_needs(kiosk: Kiosk) -> None:
    rules = list(kiosk.app.url_map.iter_rules())
    assert not [r.rule for r in rules if "patient" in r.rule.lower()]
    search = [r for r in rules if r.rule == "/api/worklist/search"]
    assert [sorted((r.methods or set()) - {"OPTIONS"}) for r in search] == [["POST"]]


def test_logs_hold_no_patient_id_and_no_forged_line(kiosk: Kiosk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, csrf = signed_in(kiosk, TECH)
    patient = f"P-LOG-{uuid.uuid4().hex[:8]}"
    exam_id = open_exam(client, csrf, patient, birth_date="1970-01-01")["exam_id"]
    taken(client, csrf, exam_id, "right", "dark")
    taken(client, csrf, exam_id, "right", "healthy")
    upload(client, csrf, exam_id, RIGHT_LOOKING.read_bytes(), eye="left")
    client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf))  # refused: left/right doubt
    assert open_exam(client, csrf, patient)["same_day_exams"] == 1
    client.post("/api/exams", json={"patient_id": patient, "birth_date": "2999-01-01"}, headers=changing(csrf))
    client.post("/api/worklist/search", json={"patient_id": patient}, headers=changing(csrf))
    client.get("/api/worklist")
    client.get(f"/api/exams/{exam_id}")
    # What a client could send to forge a log line: CR/LF in ids, in the path, in a kind, a user id, a Host.
    forged = "x\r\nFAKE 2025-01-01 INFO appliance: all good"
    client.get(f"/api/exams/{FORGED_EXAM}")
    client.post(f"/api/exams/{FORGED_EXAM}/finish", headers=changing(csrf))
    client.post(f"/api/exams/{FORGED_EXAM}/finish", headers=ORIGIN)  # no CSRF token: refused and logged
    client.post(f"/api/exams/{FORGED_EXAM}/finish", headers={"Origin": "http://evil.example",
                                                              "X-CSRF-Token": csrf})  # cross-origin: logged
    take(client, csrf, exam_id, "left", forged[:30])  # a kind is at most 40 characters
    client.post("/api/exams", json={"patient_id": forged}, headers=changing(csrf))
    client.post(f"/api/admin/users/{FORGED_EXAM}/disable", headers=changing(csrf))  # a technician: refused, logged
    admin_client, admin_csrf = signed_in(kiosk, ADMIN)
    admin_client.post(f"/api/admin/users/{FORGED_EXAM}/disable", headers=changing(admin_csrf))
    admin_client.post(f"/api/admin/users/{FORGED_EXAM}/pin", json={"pin": "1234"}, headers=changing(admin_csrf))
    admin_client.post("/api/admin/users", json={"user_id": forged, "role": "technician", "pin": "1234"},
                      headers=changing(admin_csrf))
    fresh = kiosk.app.test_client()
    pre = fresh.get("/api/session").get_json()["csrf_token"]
    fresh.post("/api/session", json={"user_id": forged, "pin": "0000"}, headers={**ORIGIN, "X-CSRF-Token": pre})

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) >= 8  # the refusals above were logged
    assert not [m for m in messages if patient in m]
    assert patient not in caplog.text
    assert not [m for m in messages if "\r" in m or "\n" in m]


# --- 5. the admin screen ----------------------------------------------------------------------------------------

def test_admin_manages_users(kiosk: Kiosk, admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    listed = client.get("/api/admin/users").get_json()["users"]
    assert {(u["user_id"], u["role"], u["disabled"]) for u in listed} >= {("ada", "admin", False),
                                                                           ("tess", "technician", False)}
    added = client.post("/api/admin/users", json={"user_id": "Nuru", "display_name": "Nuru O.",
                                                  "role": "technician", "pin": "2468"}, headers=changing(csrf))
    assert added.status_code == 201, added.get_json()
    assert {k: added.get_json()[k] for k in ("user_id", "role", "disabled")} == {
        "user_id": "nuru", "role": "technician", "disabled": False}
    assert "pin" not in str(added.get_json()).lower()
    again = {"user_id": "NURU", "display_name": "Another", "role": "technician", "pin": "2468"}
    assert_error(client.post("/api/admin/users", json=again, headers=changing(csrf)), 400, "user_exists")
    for bad in ({"user_id": "x y", "role": "technician", "pin": "2468"},
                {"user_id": "bob", "role": "superuser", "pin": "2468"},
                {"user_id": "bob", "role": "technician", "pin": "12"},
                {"user_id": "bob", "role": "technician", "pin": 2468}):
        assert_error(client.post("/api/admin/users", json=bad, headers=changing(csrf)), 400)
    assert_error(client.post("/api/admin/users/nuru/explode", headers=changing(csrf)), 404)
    assert_error(client.post("/api/admin/users/someone/disable", headers=changing(csrf)), 404, "user_not_found")

    # Nuru signs in, is disabled (the sign-in ends), enabled, locked out by wrong PINs and unlocked.
    nuru = kiosk.app.test_client()
    sign_in(nuru, "nuru", "2468")
    disabled = client.post("/api/admin/users/nuru/disable", headers=changing(csrf))
    assert disabled.status_code == 200 and disabled.get_json()["disabled"] is True
    assert_error(nuru.get("/api/worklist"), 401)
    assert client.post("/api/admin/users/nuru/enable", headers=changing(csrf)).get_json()["disabled"] is False
    pre = nuru.get("/api/session").get_json()["csrf_token"]
    for _ in range(kiosk.config.auth.max_failed_attempts):
        locked = nuru.post("/api/session", json={"user_id": "nuru", "pin": "0000"},
                           headers={**ORIGIN, "X-CSRF-Token": pre})
    assert locked.status_code == 423
    listed = {u["user_id"]: u for u in client.get("/api/admin/users").get_json()["users"]}
    assert listed["nuru"]["locked_until"] is not None
    unlocked = client.post("/api/admin/users/nuru/unlock", headers=changing(csrf))
    assert unlocked.status_code == 200 and unlocked.get_json()["locked_until"] is None
    sign_in(nuru, "nuru", "2468")
    changed = client.post("/api/admin/users/nuru/pin", json={"pin": "1357"}, headers=changing(csrf))
    assert changed.status_code == 200
    assert_error(nuru.get("/api/worklist"), 401)  # a new PIN ends the user's sign-ins
    actions = [(e.actor, e.action) for e in audit_rows(kiosk) if e.detail.get("user_id") == "nuru"]
    assert actions == [("ada", "user_added"), ("ada", "user_disabled"), ("ada", "user_enabled"),
                       ("ada", "account_unlocked"), ("ada", "pin_changed")]
    # A technician may not do any of it.
    tech_client, tech_csrf = signed_in(kiosk, TECH)
    assert_error(tech_client.post("/api/admin/users/nuru/disable", headers=changing(tech_csrf)), 403)
    assert kiosk.accounts.get("nuru").disabled is False


def test_admin_settings(kiosk: Kiosk, admin: tuple[FlaskClient, str]) -> None:
    client, csrf = admin
    settings = client.get("/api/admin/settings").get_json()
    model = settings["model"]
    assert model["read_only"] is True and model["locked_threshold"] == pytest.approx(kiosk.box.model.threshold)
    assert model["sha256"] == kiosk.box.model.info.sha256
    assert settings["quality"]["profile"] == "default" and settings["quality"]["saved"] is None
    assert "eyepacs-natural" in settings["quality"]["choices"]
    assert settings["camera"] == {"kind": "simulated", "saved": None,
                                  "choices": ["serial", "simulated", "uvc", "watch_folder"]}

    saved = client.post("/api/admin/settings", json={"quality_profile": "eyepacs-natural"}, headers=changing(csrf))
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["quality"] == {**settings["quality"], "saved": "eyepacs-natural"}
    assert read_settings(kiosk.data_dir).quality_profile == "eyepacs-natural"
    assert kiosk.box.config.quality.profile == "default"  # applies at the next start
    change = [e for e in audit_rows(kiosk) if e.action == "settings_changed"]
    assert [(e.actor, e.detail["quality_profile"]) for e in change] == [("ada", "eyepacs-natural")]

    for bad in ({"quality_profile": "nonexistent"}, {"quality_profile": "../../etc/passwd"},
                {"quality_profile": "/etc/passwd.toml"}, {"quality_profile": "default.toml"},
                {"quality_profile": "x" * 500}, {"quality_profile": 3}, {"camera_kind": "webcam"},
                {"camera_kind": "../simulated"}):
        assert_error(client.post("/api/admin/settings", json=bad, headers=changing(csrf)), 400)
    assert_error(client.post("/api/admin/settings", data={"quality_profile": "default"}, headers=changing(csrf)), 415)
    # The model's threshold is not a setting: it is not taken, whatever is sent.
    client.post("/api/admin/settings", json={"threshold": 0.01, "locked_threshold": 0.01}, headers=changing(csrf))
    assert client.get("/api/admin/settings").get_json()["model"]["locked_threshold"] == model["locked_threshold"]
    assert read_settings(kiosk.data_dir).quality_profile == "eyepacs-natural"
    assert kiosk.box.model.threshold == model["locked_threshold"]


# --- 6. headers on real routes; the health check ----------------------------------------------------------------

def test_security_headers_on_real_routes(tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    exam = finished_exam(client, csrf, new_patient())
    sha = exam["images"][0]["sha256"]
    for path in (f"/api/exams/{exam['exam_id']}", f"/api/images/{sha}", f"/api/images/{sha}/heatmap",
                 f"/api/exams/{exam['exam_id']}/report.pdf", f"/exams/{exam['exam_id']}/report", "/", "/status",
                 "/api/worklist", "/api/camera", f"/api/exams/{UNKNOWN_EXAM}"):
        answer = client.get(path)
        assert answer.status_code in (200, 404), path
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert answer.headers["X-Frame-Options"] == "DENY", path
        assert answer.headers["Referrer-Policy"] == "same-origin", path
        assert answer.headers["Cache-Control"] == "no-store", path


def test_healthz_answers_without_sign_in_and_holds_no_patient_data(kiosk: Kiosk,
                                                                    tech: tuple[FlaskClient, str]) -> None:
    client, csrf = tech
    patient = new_patient()
    finished_exam(client, csrf, patient)
    open_exam(client, csrf, patient)
    answer = kiosk.app.test_client().get("/healthz")
    health = answer.get_json()
    assert answer.status_code == (200 if health["ok"] else 503)
    assert health["model"]["ok"] is True and health["camera"]["ok"] is True and health["store"]["ok"] is True
    assert answer.headers["Cache-Control"] == "no-store"
    text = answer.get_data(as_text=True)
    for entry in kiosk.box.store.worklist(limit=1000):
        assert entry.patient.patient_id not in text and entry.exam_id not in text

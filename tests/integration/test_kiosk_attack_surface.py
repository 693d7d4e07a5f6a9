"""The real kiosk app under attack through Flask's test client (one box per module, as test_kiosk_api.py):

- every state-changing route (each POST, PUT, PATCH and DELETE of the URL map, the sign-in routes included)
  refuses a request from another origin (none, `null`, another host, port or scheme, a foreign Referer) with
  403 `cross_origin`, and one without the CSRF token, with a wrong one or with another sign-in's with 403
  `csrf_failed`, and nothing changes;
- photo uploads (to an open exam and the one-shot form) fuzzed with hypothesis: random and damaged files,
  random form fields, are answered 201 or a 4xx JSON error, never a 500.

test_kiosk_api.py walks the same URL map for the sign-in and the roles.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from appliance.kiosk.security import CSRF_HEADER
from tests.fuzzing import fuzz_settings, hang_guard
from tests.integration.kiosk_app import ADMIN, ORIGIN, TECH, Kiosk, changing, running_kiosk, signed_in, url_for_rule
from tests.unit.test_ingest_fuzz import DAMAGE, SEEDS, damaged

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: Each with a valid token: refused for where the request came from.
FOREIGN = [{}, {"Origin": "null"}, {"Origin": "http://evil.example"}, {"Origin": "http://localhost:8081"},
           {"Origin": "https://localhost"}, {"Origin": "http://localhost.evil.example"},
           {"Referer": "http://evil.example/kiosk"}]
#: A body each view would take, were the request let through.
BODY = {"patient_id": "ATTACK-1", "user_id": "mallory", "display_name": "M", "role": "admin", "pin": "1111",
        "quality_profile": "eyepacs-natural", "eye": "right", "kind": "healthy", "reason": "x"}
OK_OR_CLIENT_ERROR = {201, 400, 404, 409, 413, 415, 422}


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    with running_kiosk(tmp_path_factory.mktemp("attack") / "var") as made:
        yield made


pytestmark = pytest.mark.usefixtures("no_error_logs")  # tests/integration/conftest.py


def state(kiosk: Kiosk) -> tuple[object, ...]:
    """What a request let through would change: exams, users and their sign-in state, settings, the outbox."""
    users = tuple((u.user_id, u.role, u.disabled, u.locked_until) for u in kiosk.accounts.list_users())
    settings = (kiosk.data_dir / "settings.toml").read_bytes() if (kiosk.data_dir / "settings.toml").exists() else b""
    return len(kiosk.box.store.worklist(limit=10_000)), users, settings, kiosk.box.store.outbox.backlog()


def changing_routes(kiosk: Kiosk) -> list[tuple[str, str]]:
    return sorted((method, url_for_rule(rule.rule)) for rule in kiosk.app.url_map.iter_rules()
                  for method in (rule.methods or set()) & STATE_CHANGING)


def refused(answer: object, reason: str, where: str) -> None:
    status = getattr(answer, "status_code", None)
    body = answer.get_json(silent=True) if hasattr(answer, "get_json") else None
    assert status == 403, (where, status, body)
    assert isinstance(body, dict) and body.get("error") == reason and body.get("message"), (where, body)


def test_every_state_changing_route_refuses_another_origin_and_a_missing_or_wrong_csrf_token(kiosk: Kiosk) -> None:
    client, csrf = signed_in(kiosk, ADMIN)
    other_client, other_csrf = signed_in(kiosk, TECH)
    routes = changing_routes(kiosk)
    assert {("POST", "/api/exams"), ("DELETE", "/api/session"), ("POST", "/sign-out"), ("POST", "/sign-in"),
            ("POST", "/api/admin/users")} <= set(routes)
    before = state(kiosk)
    checked = 0
    for method, path in routes:
        for headers in FOREIGN:
            answer = client.open(path, method=method, headers={**headers, CSRF_HEADER: csrf}, json=BODY)
            refused(answer, "cross_origin", f"{method} {path} {headers}")
            checked += 1
        for token in ("", "x" * 43, csrf.upper(), other_csrf):
            headers = {**ORIGIN, CSRF_HEADER: token} if token else ORIGIN
            refused(client.open(path, method=method, headers=headers, json=BODY), "csrf_failed",
                    f"{method} {path} token={token[:6]!r}")
            checked += 1
        # The form field is the header's twin for pages' forms: a wrong one is refused alike.
        form = client.open(path, method=method, headers=ORIGIN, data={"csrf_token": other_csrf, **BODY})
        refused(form, "csrf_failed", f"{method} {path} form field")
    assert len(routes) >= 14 and checked == len(routes) * (len(FOREIGN) + 4)
    assert state(kiosk) == before
    for who, c in (("ada", client), ("tess", other_client)):  # neither sign-in was ended by the refusals
        assert c.get("/api/session").get_json()["user"] == who


def test_the_sign_in_routes_refuse_a_foreign_origin_and_a_missing_pre_sign_in_token(kiosk: Kiosk) -> None:
    """Before sign-in (login CSRF): the pre-sign-in token of the page is needed, from the page's own origin."""
    client = kiosk.app.test_client()
    pre = client.get("/api/session").get_json()["csrf_token"]
    credentials = {"user_id": TECH[0], "pin": TECH[3]}
    for path in ("/api/session", "/sign-in"):
        for headers in FOREIGN:
            refused(client.post(path, headers={**headers, CSRF_HEADER: pre}, json=credentials), "cross_origin", path)
        for token in ("", "y" * 43):
            refused(client.post(path, headers={**ORIGIN, CSRF_HEADER: token} if token else ORIGIN,
                                json=credentials), "csrf_failed", path)
    assert client.get("/api/session").get_json()["signed_in"] is False
    ok = client.post("/api/session", headers={**ORIGIN, CSRF_HEADER: pre}, json=credentials)
    assert ok.status_code == 200, ok.get_json()


# --- uploads fuzzed over HTTP ----------------------------------------------------------------------------------

def open_exam(client: FlaskClient, csrf: str) -> str:
    answer = client.post("/api/exams", json={"patient_id": "FUZZ-UPLOAD"}, headers=changing(csrf))
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["exam_id"])


def assert_answered(answer: object, where: str) -> None:
    status = getattr(answer, "status_code", None)
    body = answer.get_json(silent=True) if hasattr(answer, "get_json") else None
    assert status in OK_OR_CLIENT_ERROR, (where, status, body)
    assert isinstance(body, dict)
    if status != 201:
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str) and body["message"], body


FILES = st.one_of(st.binary(max_size=4096),
                  st.builds(damaged, st.sampled_from(SEEDS), st.lists(DAMAGE, min_size=1, max_size=3)),
                  st.sampled_from(SEEDS))
FIELD_TEXT = st.one_of(st.sampled_from(["right", "left", "macula", "disc", "unknown", "", "1", "0", "99", "-1"]),
                       st.text(max_size=80))


@fuzz_settings(60)
@given(photo=FILES, eye=FIELD_TEXT, field=FIELD_TEXT, replaces=FIELD_TEXT,
       name=st.text(max_size=40), mimetype=st.sampled_from(["image/jpeg", "application/octet-stream", "text/plain"]))
def test_uploads_to_an_open_exam_are_answered_201_or_4xx(kiosk: Kiosk, photo: bytes, eye: str, field: str,
                                                          replaces: str, name: str, mimetype: str) -> None:
    client, csrf = signed_in(kiosk, TECH)
    exam_id = open_exam(client, csrf)
    data = {"eye": eye, "field": field, "replaces": replaces, "photo": (io.BytesIO(photo), name, mimetype)}
    with hang_guard():
        answer = client.post(f"/api/exams/{exam_id}/photos", data=data, content_type="multipart/form-data",
                             headers=changing(csrf))
    assert_answered(answer, "upload")


@fuzz_settings(40)
@given(right=st.lists(FILES, max_size=2), left=st.lists(FILES, max_size=2), patient_id=st.text(max_size=80),
       confirm=st.sampled_from(["", "1", "on", "x"]), birth_date=FIELD_TEXT)
def test_the_one_shot_form_is_answered_201_or_4xx(kiosk: Kiosk, right: list[bytes], left: list[bytes],
                                                  patient_id: str, confirm: str, birth_date: str) -> None:
    client, csrf = signed_in(kiosk, TECH)
    files = [("right", (io.BytesIO(f), "r.jpg")) for f in right] + [("left", (io.BytesIO(f), "l.jpg")) for f in left]
    data: dict[str, object] = {"patient_id": patient_id, "confirm_eyes": confirm, "birth_date": birth_date}
    for key, value in files:
        data.setdefault(key, [])
        assert isinstance(data[key], list)
        data[key].append(value)  # type: ignore[union-attr]
    with hang_guard():
        answer = client.post("/api/exams", data=data, content_type="multipart/form-data", headers=changing(csrf))
    assert_answered(answer, "one-shot")

"""The kiosk's security layer on a minimal Flask app: Host, Origin, CSRF, sign-in, roles, headers, cookies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_fakes import Clock, quick_hasher
from flask import Flask, jsonify, render_template_string
from flask.testing import FlaskClient
from flask.typing import ResponseReturnValue

from appliance.auth import Accounts, Role
from appliance.config import AuthConfig
from appliance.kiosk.auth_routes import auth
from appliance.kiosk.security import CONTENT_SECURITY_POLICY, current_user, install_security, require_role
from appliance.store import ExamStore

ORIGIN = {"Origin": "http://localhost"}


def build_app(accounts: Accounts, config: AuthConfig) -> Flask:
    app = Flask(__name__)
    install_security(app, accounts, config, ["localhost", "127.0.0.1:8080"])
    app.register_blueprint(auth)

    @app.get("/")
    def home() -> ResponseReturnValue:
        user = current_user()
        return f"home of {user.user_id if user else 'nobody'}"

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify({"ok": True})

    @app.route("/api/exams", methods=["GET", "POST"])
    def exams() -> ResponseReturnValue:
        user = current_user()
        return jsonify({"by": user.user_id if user else None})

    @app.post("/api/admin/thing")
    @require_role(Role.ADMIN)
    def admin_thing() -> ResponseReturnValue:
        return jsonify({"done": True})

    return app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(tmp_path: Path, clock: Clock) -> Iterator[Accounts]:
    with ExamStore.open(tmp_path / "data") as store:
        made = Accounts(store, AuthConfig(max_failed_attempts=3), hasher=quick_hasher(), clock=clock)
        made.add_user("amina", "Amina K.", Role.TECHNICIAN, "4821", actor="root")
        made.add_user("boss", "The Boss", Role.ADMIN, "9876", actor="root")
        yield made


@pytest.fixture
def client(accounts: Accounts) -> FlaskClient:
    return build_app(accounts, AuthConfig()).test_client()


def pre_sign_in_token(client: FlaskClient) -> str:
    state = client.get("/api/session").get_json()
    assert state["signed_in"] is False
    return str(state["csrf_token"])


def sign_in(client: FlaskClient, user_id: str = "amina", pin: str = "4821") -> str:
    """Sign in as a page would: the CSRF token of GET /api/session (pre-sign-in, or the current sign-in's)."""
    csrf = client.get("/api/session").get_json()["csrf_token"]
    answer = client.post("/api/session", json={"user_id": user_id, "pin": pin},
                         headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["csrf_token"])


def test_sign_in_and_out_with_json(client: FlaskClient) -> None:
    token = pre_sign_in_token(client)
    answer = client.post("/api/session", json={"user_id": "Amina", "pin": "4821"},
                         headers={**ORIGIN, "X-CSRF-Token": token})
    body = answer.get_json()
    assert {k: body[k] for k in ("signed_in", "user", "display_name", "role", "idle_timeout_s", "idle_warning_s")} == {
        "signed_in": True, "user": "amina", "display_name": "Amina K.", "role": "technician",
        "idle_timeout_s": 180, "idle_warning_s": 30}
    csrf = body["csrf_token"]
    assert csrf != token
    state = client.get("/api/session").get_json()
    assert (state["user"], state["csrf_token"], state["seconds_left"]) == ("amina", csrf, 180)
    assert client.post("/api/exams", headers={**ORIGIN, "X-CSRF-Token": csrf}).get_json() == {"by": "amina"}
    assert client.delete("/api/session", headers={**ORIGIN, "X-CSRF-Token": csrf}).get_json() == {"signed_in": False}
    assert client.get("/api/exams").status_code == 401


def test_cookie_flags(client: FlaskClient) -> None:
    pre = client.get("/api/session").headers.get_all("Set-Cookie")
    assert any(c.startswith("appliance_pre_sign_in=") and "HttpOnly" in c and "SameSite=Strict" in c for c in pre)
    answer = client.post("/api/session", json={"user_id": "amina", "pin": "4821"},
                         headers={**ORIGIN, "X-CSRF-Token": pre_sign_in_token(client)})
    cookie = next(c for c in answer.headers.get_all("Set-Cookie") if c.startswith("appliance_sign_in="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert "Expires" not in cookie and "Max-Age" not in cookie  # ends with the browser (and the idle timeout)


def test_secure_cookie_when_configured(accounts: Accounts) -> None:
    client = build_app(accounts, AuthConfig(secure_cookie=True)).test_client()
    answer = client.post("/api/session", json={"user_id": "amina", "pin": "4821"},
                         headers={**ORIGIN, "X-CSRF-Token": pre_sign_in_token(client)})
    assert "Secure" in next(c for c in answer.headers.get_all("Set-Cookie") if c.startswith("appliance_sign_in="))


def test_sign_in_and_out_with_the_form(client: FlaskClient) -> None:
    page = client.get("/sign-in?next=/api/exams")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="pin"' in html and "<script" not in html and "style=" not in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    answer = client.post("/sign-in", data={"user_id": "amina", "pin": "4821", "csrf_token": csrf.group(1),
                                           "next": "/api/exams"}, headers=ORIGIN)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/api/exams")
    assert client.get("/").get_data(as_text=True) == "home of amina"
    state = client.get("/api/session").get_json()
    out = client.post("/sign-out", data={"csrf_token": state["csrf_token"]}, headers=ORIGIN)
    assert (out.status_code, out.headers["Location"]) == (303, "/sign-in")
    assert client.get("/").status_code == 303


def test_wrong_pin_on_the_form(client: FlaskClient) -> None:
    html = client.get("/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    answer = client.post("/sign-in", data={"user_id": "amina<b>", "pin": "0000", "csrf_token": csrf.group(1)},
                         headers=ORIGIN)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 401 and "User id or PIN not recognised" in text
    assert "amina&lt;b&gt;" in text and "amina<b>" not in text


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/", "/\\evil", "/sign-in"])
def test_no_open_redirect(client: FlaskClient, next_path: str) -> None:
    html = client.get("/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf is not None
    answer = client.post("/sign-in", data={"user_id": "amina", "pin": "4821", "csrf_token": csrf.group(1),
                                           "next": next_path}, headers=ORIGIN)
    assert answer.headers["Location"] == "/"


def test_json_sign_in_failures(client: FlaskClient) -> None:
    token = pre_sign_in_token(client)
    headers = {**ORIGIN, "X-CSRF-Token": token}
    for user_id in ("amina", "nobody"):
        answer = client.post("/api/session", json={"user_id": user_id, "pin": "0000"}, headers=headers)
        assert (answer.status_code, answer.get_json()["error"]) == (401, "sign_in_failed")
    assert client.post("/api/session", json={"user_id": 5}, headers=headers).status_code == 400
    for _ in range(2):
        answer = client.post("/api/session", json={"user_id": "amina", "pin": "0000"}, headers=headers)
    assert answer.status_code == 423
    assert answer.get_json()["retry_after_s"] == 300 and answer.headers["Retry-After"] == "300"


def test_host_check(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200  # Host: localhost
    assert client.get("/healthz", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    for host in ("evil.example", "localhost:8081", "127.0.0.1", "", "localhost@evil", "loc alhost"):
        answer = client.get("/healthz", headers={"Host": host})
        assert (answer.status_code, answer.get_json()["error"]) == (400, "host_not_allowed"), host
    assert client.get("/static/kiosk.css", headers={"Host": "evil.example"}).status_code == 400


def test_origin_check(client: FlaskClient) -> None:
    csrf = sign_in(client)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://localhost:8081"}, {"Origin": "null"},
                    {"Origin": "https://localhost"}, {}, {"Referer": "http://evil.example/page"}):
        answer = client.post("/api/exams", headers={**headers, "X-CSRF-Token": csrf})
        assert (answer.status_code, answer.get_json()["error"]) == (403, "cross_origin"), headers
    assert client.post("/api/exams", headers={"Referer": "http://localhost/", "X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/exams", headers={"Origin": "http://evil.example"}).status_code == 200  # reads are not


def test_csrf_missing_wrong_right(client: FlaskClient) -> None:
    pre = pre_sign_in_token(client)
    csrf = sign_in(client)
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": pre}):
        answer = client.post("/api/exams", headers={**ORIGIN, **headers})
        assert answer.status_code == 403 and answer.get_json()["error"] == "csrf_failed"
        assert answer.get_json()["message"]
    assert client.post("/api/exams", headers={**ORIGIN, "X-CSRF-Token": csrf}).status_code == 200
    assert client.post("/api/exams", data={"csrf_token": csrf}, headers=ORIGIN).status_code == 200


def test_sign_in_needs_the_pre_sign_in_token(client: FlaskClient) -> None:
    answer = client.post("/api/session", json={"user_id": "amina", "pin": "4821"}, headers=ORIGIN)
    assert (answer.status_code, answer.get_json()["error"]) == (403, "csrf_failed")


def test_unauthenticated_api_and_pages(client: FlaskClient) -> None:
    answer = client.get("/api/exams")
    assert (answer.status_code, answer.get_json()["error"]) == (401, "sign_in_required")
    page = client.get("/?x=1")
    assert (page.status_code, page.headers["Location"]) == (303, "/sign-in?next=/%3Fx%3D1")
    assert client.post("/api/exams", headers=ORIGIN).status_code == 401
    assert client.get("/healthz").status_code == 200


def test_role_check(client: FlaskClient) -> None:
    csrf = sign_in(client, "amina", "4821")
    answer = client.post("/api/admin/thing", headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert (answer.status_code, answer.get_json()["error"]) == (403, "access_denied")
    csrf = sign_in(client, "boss", "9876")
    assert client.post("/api/admin/thing", headers={**ORIGIN, "X-CSRF-Token": csrf}).get_json() == {"done": True}


def test_headers(client: FlaskClient) -> None:
    for answer in (client.get("/sign-in"), client.get("/api/exams"), client.get("/nowhere")):
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"


def test_static_assets_may_be_cached(accounts: Accounts, tmp_path: Path) -> None:
    app = build_app(accounts, AuthConfig())
    app.static_folder = str(Path(__file__).resolve().parents[3] / "appliance" / "kiosk" / "static")
    answer = app.test_client().get("/static/sign_in.css")
    assert answer.status_code == 200 and "no-store" not in answer.headers.get("Cache-Control", "")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    answer.close()


def test_idle_timeout(client: FlaskClient, clock: Clock) -> None:
    csrf = sign_in(client)
    clock.advance(100)
    assert client.get("/api/session").get_json()["seconds_left"] == 80  # polling is no activity
    assert client.get("/api/exams", headers={"X-Idle-Poll": "1"}).status_code == 200
    assert client.get("/api/session").get_json()["seconds_left"] == 80
    assert client.post("/api/exams", headers={**ORIGIN, "X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/session").get_json()["seconds_left"] == 180
    clock.advance(181)
    answer = client.get("/api/exams")
    assert (answer.status_code, answer.get_json()["error"]) == (401, "signed_out_idle")
    assert any(c.startswith("appliance_sign_in=;") for c in answer.headers.get_all("Set-Cookie"))
    assert client.get("/api/session").get_json()["signed_in"] is False


def test_polling_sees_the_idle_timeout(client: FlaskClient, clock: Clock) -> None:
    sign_in(client)
    clock.advance(181)
    state = client.get("/api/session").get_json()
    assert (state["signed_in"], state["ended"]) == (False, "signed_out_idle")
    assert client.get("/api/session").get_json()["ended"] is None  # the cookie was cleared


def test_idle_timeout_on_a_page_redirects_with_a_reason(client: FlaskClient, clock: Clock) -> None:
    sign_in(client)
    clock.advance(181)
    answer = client.get("/")
    assert answer.headers["Location"] == "/sign-in?next=/&reason=idle"
    assert "not used for a while" in client.get(answer.headers["Location"]).get_data(as_text=True)


def test_sign_in_not_required(accounts: Accounts) -> None:
    client = build_app(accounts, AuthConfig(require_sign_in=False)).test_client()
    assert client.get("/").get_data(as_text=True) == "home of nobody"
    token = pre_sign_in_token(client)
    assert client.post("/api/exams", headers={**ORIGIN, "X-CSRF-Token": token}).status_code == 200
    assert client.post("/api/exams", headers=ORIGIN).status_code == 403
    assert client.post("/api/admin/thing", headers={**ORIGIN, "X-CSRF-Token": token}).status_code == 401


def test_signing_in_as_another_user_ends_the_first(client: FlaskClient, accounts: Accounts) -> None:
    sign_in(client, "amina", "4821")
    sign_in(client, "boss", "9876")
    assert client.get("/").get_data(as_text=True) == "home of boss"
    entries = [(e.action, e.actor) for e in accounts._store.audit_entries()]
    assert ("signed_out", "amina") in entries


def test_pages_get_the_token_from_csrf_token(client: FlaskClient, accounts: Accounts) -> None:
    app = client.application

    @app.get("/page")
    def page() -> ResponseReturnValue:
        return render_template_string('<meta name="csrf-token" content="{{ csrf_token() }}">')

    csrf = sign_in(client)
    assert client.get("/page").get_data(as_text=True) == f'<meta name="csrf-token" content="{csrf}">'

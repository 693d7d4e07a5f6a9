"""The `auth` blueprint: the sign-in page and form, the JSON sign-in (/api/session) and sign-out.

Register it after `install_security` (security.py), which checks Host, Origin and CSRF tokens for
these routes as for every other.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from appliance.auth import SignIn
from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.errors import AccountLockedError, SignInError, UserInputError
from appliance.kiosk.security import (
    SIGN_IN_COOKIE,
    clear_sign_in_cookie,
    current_sign_in,
    error_response,
    page_csrf_token,
    security,
    set_sign_in_cookie,
)

auth = Blueprint("auth", __name__, template_folder="templates")

IDLE_MESSAGE = "You were signed out because the kiosk was not used for a while. Sign in again."


@auth.get("/sign-in")
def sign_in_page() -> ResponseReturnValue:
    message = IDLE_MESSAGE if request.args.get("reason") == "idle" else ""
    return _page(message, next_path=_safe_next(request.args.get("next")))


@auth.post("/sign-in")
def sign_in_form() -> ResponseReturnValue:
    next_path = _safe_next(request.form.get("next"))
    user_id = str(request.form.get("user_id", ""))
    try:
        signed = _sign_in(user_id, str(request.form.get("pin", "")))
    except SignInError as exc:
        return _page(exc.message, next_path=next_path, user_id=user_id[:32], status=exc.http_status)
    response = redirect(next_path, code=303)
    set_sign_in_cookie(response, signed.token)
    return response


@auth.post("/api/session")
def session_start() -> ResponseReturnValue:
    """JSON {user_id, pin} -> the state of the new sign-in (see `session_state`), cookie set."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("user_id"), str) or not isinstance(body.get("pin"), str):
        return error_response(UserInputError("Send a JSON object with a user_id and a pin.",
                                             reason_code="sign_in_invalid"))
    try:
        signed = _sign_in(body["user_id"], body["pin"])
    except AccountLockedError as exc:
        response = jsonify({**exc.to_dict(), "retry_after_s": exc.retry_after_s})
        response.status_code = exc.http_status
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except SignInError as exc:
        return error_response(exc)
    config = security().config
    response = jsonify({"signed_in": True, "user": signed.user.user_id, "display_name": signed.user.display_name,
                        "role": signed.user.role.value, "csrf_token": signed.csrf_token,
                        "idle_timeout_s": config.idle_timeout_s, "idle_warning_s": config.idle_warning_s,
                        "seconds_left": config.idle_timeout_s})
    set_sign_in_cookie(response, signed.token)
    return response


@auth.get("/api/session")
def session_state() -> ResponseReturnValue:
    """Who is signed in, the page's CSRF token and the seconds before the idle timeout; reading it is
    no activity (a page polls it to warn before the timeout). `ended` names why the browser's sign-in
    just ended (signed_out_idle, sign_in_required), or is null."""
    config = security().config
    state: dict[str, Any] = {"signed_in": False, "idle_timeout_s": config.idle_timeout_s,
                             "idle_warning_s": config.idle_warning_s, "ended": g.get("sign_in_ended")}
    active = current_sign_in()
    if active is not None:
        state.update(signed_in=True, user=active.user.user_id, display_name=active.user.display_name,
                     role=active.user.role.value, seconds_left=active.seconds_left)
    state["csrf_token"] = page_csrf_token()
    return jsonify(state)


@auth.delete("/api/session")
def session_end() -> ResponseReturnValue:
    response = jsonify({"signed_in": False})
    _sign_out(response)
    return response


@auth.post("/sign-out")
def sign_out_form() -> ResponseReturnValue:
    response = redirect("/sign-in", code=303)
    _sign_out(response)
    return response


def _sign_in(user_id: str, pin: str) -> SignIn:
    accounts = security().accounts
    signed = accounts.sign_in(user_id, pin)
    previous = request.cookies.get(SIGN_IN_COOKIE, "")
    if previous:  # another user's sign-in in this browser ends here
        accounts.sign_out(previous)
    return signed


def _sign_out(response: Response) -> None:
    token = request.cookies.get(SIGN_IN_COOKIE, "")
    if token:
        security().accounts.sign_out(token)
    clear_sign_in_cookie(response)


def _page(message: str, *, next_path: str, user_id: str = "", status: int = 200) -> ResponseReturnValue:
    return render_template("sign_in.html", message=message, next_path=next_path, user_id=user_id,
                           csrf=page_csrf_token(), notice=NOT_VALIDATED_NOTICE), status


def _safe_next(value: str | None) -> str:
    """A path on this kiosk to go to after sign-in ("/" for anything else: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "://" in value:
        return "/"
    if any(ord(c) < 0x20 or c == "\x7f" for c in value) or value.startswith(("/sign-in", "/sign-out")):
        return "/"
    return value

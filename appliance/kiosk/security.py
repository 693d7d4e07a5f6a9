"""The kiosk's security layer: Host and Origin checks, CSRF tokens, sign-in on every route, headers.

`install_security(app, accounts, auth_config, allowed_hosts)` adds a `before_request` that, in order:
refuses a Host header the kiosk does not serve (400 `host_not_allowed`, DNS rebinding); resumes the
sign-in of the cookie (server-side idle timeout; `flask.g.user`); refuses a state-changing request
(not GET/HEAD/OPTIONS) whose Origin (or, without one, Referer) is not the served origin (403
`cross_origin`); asks for a sign-in on every path but PUBLIC_PATHS and /static/ (401 JSON under
/api/, a redirect to /sign-in for pages); and refuses a state-changing request without the CSRF token
(403 `csrf_failed`). An `after_request` sets the security headers and the cookies.

CSRF tokens: a signed-in page's token is derived from its sign-in cookie (`csrf_token()` in templates,
`csrf_token` in the /api/session answers); send it as the `X-CSRF-Token` header or a `csrf_token`
form field. Before sign-in, the token comes from a separate pre-sign-in cookie, and is accepted only
by the sign-in paths (and everywhere when `[auth] require_sign_in` is off).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit

from flask import Flask, current_app, g, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from appliance.auth import Accounts, ActiveSignIn, Role
from appliance.auth.logsafe import shown
from appliance.auth.tokens import csrf_token, same_token
from appliance.config import AuthConfig
from appliance.errors import AccessDeniedError, ApplianceError, CsrfError, HostNotAllowedError, SignInError
from appliance.kiosk.hosts import DEFAULT_PORTS, HostPort, check_exposure, host_matches, parse_host
from appliance.store.users import UserAccount

__all__ = ["check_exposure", "current_user", "install_security", "page_csrf_token", "require_role"]

log = logging.getLogger(__name__)

SIGN_IN_COOKIE = "appliance_sign_in"
PRE_SIGN_IN_COOKIE = "appliance_pre_sign_in"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
#: A request with this header set to 1 does not count as activity (a page polling in the background).
IDLE_POLL_HEADER = "X-Idle-Poll"
#: Paths answered without a sign-in (and /static/...). /healthz and /metrics carry no patient data: the fleet's
#: monitoring cannot sign in (/metrics may ask for its own bearer token: appliance/kiosk/metrics.py).
PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/sign-in", "/sign-out", "/api/session"})
#: Paths that accept the pre-sign-in CSRF token.
SIGN_IN_PATHS = frozenset({"/sign-in", "/api/session"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
EXTENSION = "appliance.security"
F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


@dataclass(frozen=True)
class KioskSecurity:
    accounts: Accounts
    config: AuthConfig
    allowed_hosts: tuple[HostPort, ...]
    #: Keys the pre-sign-in CSRF tokens (a cookie another port of this host could set is no use alone).
    pre_sign_in_key: bytes


def install_security(app: Flask, accounts: Accounts, auth_config: AuthConfig, allowed_hosts: Iterable[str]) -> None:
    """Add the checks and headers (see the module) to `app`; register the `auth` blueprint after.

    Args:
        allowed_hosts: Host headers to answer, "host[:port]" (no port: the scheme's default), e.g.
            `hosts.allowed_hosts_for(config.server.host, config.server.port, config.auth.allowed_hosts)`.
    Raises:
        ValueError: a malformed allowed host.
    """
    parsed = []
    for host in allowed_hosts:
        value = parse_host(host)
        if value is None:
            raise ValueError(f"not a host[:port]: {host!r}")
        parsed.append(value)
    app.extensions[EXTENSION] = KioskSecurity(accounts, auth_config, tuple(parsed), secrets.token_bytes(32))
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.jinja_env.globals["csrf_token"] = page_csrf_token


def security() -> KioskSecurity:
    found = current_app.extensions.get(EXTENSION)
    if not isinstance(found, KioskSecurity):
        raise RuntimeError("install_security(app, ...) was not called for this app")
    return found


def current_user() -> UserAccount | None:
    """The signed-in user of this request, or None."""
    return cast("UserAccount | None", g.get("user"))


def current_sign_in() -> ActiveSignIn | None:
    return cast("ActiveSignIn | None", g.get("sign_in"))


def page_csrf_token() -> str:
    """The CSRF token for the page being answered: the sign-in's, or (signed out) the pre-sign-in one,
    whose cookie is then set on the response when the browser has none."""
    active_token = g.get("sign_in_token")
    if active_token:
        return csrf_token(active_token)
    pre = request.cookies.get(PRE_SIGN_IN_COOKIE) or g.get("new_pre_sign_in")
    if not pre:
        pre = g.new_pre_sign_in = secrets.token_urlsafe(32)
    return csrf_token(pre, security().pre_sign_in_key)


def require_role(role: Role) -> Callable[[F], F]:
    """Decorate a view: 401 JSON without a sign-in, 403 JSON `access_denied` for a role that may not."""

    def decorate(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            user = current_user()
            if user is None:
                return error_response(SignInError("Sign in to continue.", reason_code="sign_in_required"))
            if not user.role.allows(role):
                log.warning("%s (%s) refused %s %s", user.user_id, user.role.value, request.method, _path())
                return error_response(AccessDeniedError(f"This needs the sign-in of an {role.value}."
                                                        if role is Role.ADMIN else "This needs another role."))
            return view(*args, **kwargs)

        return cast(F, checked)

    return decorate


def set_sign_in_cookie(response: Response, token: str) -> None:
    """Give the browser its sign-in (HttpOnly, SameSite=Strict; Secure over https or when configured)."""
    secure = security().config.secure_cookie or request.is_secure
    response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="Strict", path="/", secure=secure)
    response.delete_cookie(PRE_SIGN_IN_COOKIE, path="/", httponly=True, samesite="Strict", secure=secure)
    g.cookies_done = True


def clear_sign_in_cookie(response: Response) -> None:
    secure = security().config.secure_cookie or request.is_secure
    response.delete_cookie(SIGN_IN_COOKIE, path="/", httponly=True, samesite="Strict", secure=secure)
    g.cookies_done = True


def error_response(exc: ApplianceError) -> Response:
    response = jsonify(exc.to_dict())
    response.status_code = exc.http_status
    return response


def _before_request() -> ResponseReturnValue | None:
    sec = security()
    host = parse_host(request.headers.get("Host", ""))
    if host is None or not host_matches(host, sec.allowed_hosts, request.scheme):
        log.warning("refused a request for host %s", shown(request.headers.get("Host", "")))
        return error_response(HostNotAllowedError("This address is not served by the appliance."))
    if request.path.startswith("/static/"):
        return None
    ended = _resume(sec)
    changing = request.method not in SAFE_METHODS
    if changing and not _same_origin(host):
        log.warning("refused a cross-origin %s %s", request.method, _path())
        return error_response(AccessDeniedError("This request did not come from the appliance's own pages.",
                                                reason_code="cross_origin"))
    if current_user() is None and request.path not in PUBLIC_PATHS and sec.config.require_sign_in:
        return _ask_for_sign_in(ended)
    if changing and not _csrf_ok(sec):
        log.warning("refused %s %s: CSRF token missing or wrong", request.method, _path())
        return error_response(CsrfError("This page is out of date: reload it and try again."))
    return None


def _path() -> str:
    """The request's path for a log line: decoded from the URL, so it may hold a client's CR/LF (log forging)."""
    return shown(request.path, 200)


def _resume(sec: KioskSecurity) -> SignInError | None:
    """Put the cookie's sign-in on `g`; the error when the cookie's sign-in is over."""
    g.user = g.sign_in = g.sign_in_token = None
    token = request.cookies.get(SIGN_IN_COOKIE, "")
    if not token:
        return None
    polling = ((request.method == "GET" and request.path == "/api/session")
               or request.headers.get(IDLE_POLL_HEADER) == "1")
    try:
        active = sec.accounts.active(token, activity=not polling)
    except SignInError as exc:
        g.clear_sign_in, g.sign_in_ended = True, exc.reason_code
        return exc
    g.user, g.sign_in, g.sign_in_token = active.user, active, token
    return None


def _same_origin(host: HostPort) -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    try:
        parts = urlsplit(source)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != request.scheme or not parts.hostname:
        return False
    default = DEFAULT_PORTS.get(request.scheme)
    return (parts.hostname, port or default) == (host[0], host[1] or default)


def _csrf_ok(sec: KioskSecurity) -> bool:
    expected = []
    token = g.get("sign_in_token")
    if token:
        expected.append(csrf_token(token))
    pre = request.cookies.get(PRE_SIGN_IN_COOKIE, "")
    if pre and (request.path in SIGN_IN_PATHS or not sec.config.require_sign_in):
        expected.append(csrf_token(pre, sec.pre_sign_in_key))
    if not expected:
        return request.path == "/sign-out" or (request.path == "/api/session" and request.method == "DELETE")
    given = request.headers.get(CSRF_HEADER) or _form_token()
    return bool(given) and any(same_token(given, wanted) for wanted in expected)


def _form_token() -> str:
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return ""
    return str(request.form.get(CSRF_FIELD, ""))


def _ask_for_sign_in(ended: SignInError | None) -> ResponseReturnValue:
    exc = ended or SignInError("Sign in to continue.", reason_code="sign_in_required")
    if request.path.startswith("/api/"):
        return error_response(exc)
    reason = "&reason=idle" if exc.reason_code == "signed_out_idle" else ""
    return redirect(f"/sign-in?next={quote(request.full_path.rstrip('?'), safe='/')}{reason}", code=303)


def _after_request(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if not g.get("cookies_done"):
        if g.get("clear_sign_in"):
            clear_sign_in_cookie(response)
        pre = g.get("new_pre_sign_in")
        if pre:
            secure = security().config.secure_cookie or request.is_secure
            response.set_cookie(PRE_SIGN_IN_COOKIE, pre, httponly=True, samesite="Strict", path="/", secure=secure)
    return response

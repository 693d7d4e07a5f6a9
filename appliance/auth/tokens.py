"""Sign-in tokens and the CSRF tokens derived from them.

The browser holds the token in an HttpOnly cookie; the store keeps only its sha256, so a copy of the
database signs nobody in. A page's CSRF token is an HMAC of the cookie's value: the server recomputes
it on every state-changing request and needs to store nothing; it cannot be turned back into the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh unguessable token (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(cookie_value: str, key: bytes = b"") -> str:
    """The CSRF token that goes with a cookie's value (and an optional server key)."""
    mac = hmac.new(key + cookie_value.encode("utf-8"), b"appliance csrf token v1", hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))

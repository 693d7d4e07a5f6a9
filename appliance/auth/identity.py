"""What a user id, a display name and a role may be (checked when an account is made)."""

from __future__ import annotations

import re

from appliance.auth.roles import Role
from appliance.errors import UserInputError

USER_ID_RULE = "A user id is 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit."
_USER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
MAX_NAME = 64


def normalise_user_id(user_id: str) -> str:
    """The stored form of a typed user id (trimmed, lower case), or "" when it breaks the rule."""
    text = user_id.strip().lower()
    return text if _USER_ID.fullmatch(text) else ""


def checked_user_id(user_id: str) -> str:
    """The stored form of `user_id`. Raises UserInputError when it breaks USER_ID_RULE."""
    text = normalise_user_id(user_id)
    if not text:
        raise UserInputError(f"This user id cannot be used. {USER_ID_RULE}")
    return text


def checked_display_name(name: str) -> str:
    """`name` trimmed. Raises UserInputError when empty, over MAX_NAME characters or not printable."""
    text = name.strip()
    if not text or len(text) > MAX_NAME or not text.isprintable():
        raise UserInputError(f"A display name is 1 to {MAX_NAME} printable characters.")
    return text


def checked_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise UserInputError(f"Unknown role {role!r}: one of {roles}.") from None

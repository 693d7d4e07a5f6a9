"""Demo users, so that `make run` can be tried without making accounts first.

Their PINs are public: they are made only when `[auth] demo_users` is on (`make run` sets
APPLIANCE_AUTH_DEMO_USERS=1; it is off by default) and the box has no user yet.
"""

from __future__ import annotations

import logging

from appliance.auth.accounts import Accounts
from appliance.auth.roles import Role

log = logging.getLogger(__name__)

#: user id, display name, role, PIN
DEMO_USERS = (
    ("demo-tech", "Demo technician", Role.TECHNICIAN, "1234"),
    ("demo-admin", "Demo administrator", Role.ADMIN, "9876"),
)


def ensure_demo_users(accounts: Accounts) -> list[str]:
    """Make the demo users when `[auth] demo_users` is on and no user exists; the ids made."""
    if not accounts.config.demo_users or accounts.list_users():
        return []
    for user_id, name, role, pin in DEMO_USERS:
        accounts.add_user(user_id, name, role, pin, actor="demo-setup")
    log.warning("demo users made with public PINs: demo-tech (1234, technician), demo-admin (9876, admin); "
                "make real users with `appliance user add` and disable these")
    return [user_id for user_id, *_ in DEMO_USERS]

"""Who uses the box: accounts with a role and a PIN (argon2id), sign-in with lock-out after wrong
PINs, and server-side sign-ins that end after inactivity.

Usage:
    accounts = Accounts(store, config.auth)
    accounts.add_user("amina", "Amina K.", Role.TECHNICIAN, "4821", actor="admin")
    signed = accounts.sign_in("amina", "4821")     # signed.token goes into an HttpOnly cookie
    user = accounts.resume(signed.token)           # on each request; ends it after idle_timeout_s
"""

from appliance.auth.accounts import Accounts
from appliance.auth.roles import Role
from appliance.auth.sign_ins import ActiveSignIn, SignIn

__all__ = ["Accounts", "ActiveSignIn", "Role", "SignIn"]

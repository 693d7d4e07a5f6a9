"""`appliance user add | list | set-pin | disable | enable | unlock`: the people who sign in at the kiosk.

PINs are read twice from the terminal (not echoed), or once from standard input with --pin-stdin
(for scripts). Every change is audited with --actor (default: $USER). Exit status: 0 done, 2 bad
input (id, name, role or PIN refused; no such user; PINs differ), 3 the store cannot be used.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from appliance.auth import Accounts, Role
from appliance.config import Config
from appliance.domain import utc_now
from appliance.errors import UserInputError, UserNotFoundError
from appliance.store import ExamStore
from appliance.store.codec import to_iso
from appliance.store.users import UserAccount

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser("user", help="add, list, change and unlock the users who sign in at the kiosk",
                              description="Users of the kiosk: a technician screens, an admin also manages the box.")
    actions = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    common_action = argparse.ArgumentParser(add_help=False, parents=[common])
    common_action.add_argument("--actor", default=os.environ.get("USER", "admin"),
                               help="who does this, for the audit log (default: $USER)")
    with_pin = argparse.ArgumentParser(add_help=False)
    with_pin.add_argument("--pin-stdin", action="store_true", help="read the PIN from one line of standard input")
    add = actions.add_parser("add", parents=[common_action, with_pin], help="make a user (asks for the PIN)")
    add.add_argument("user_id", metavar="USER_ID")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", help="display name (default: the user id)")
    listing = actions.add_parser("list", parents=[common_action], help="list the users")
    listing.add_argument("--json", action="store_true", help="print machine-readable JSON")
    set_pin = actions.add_parser("set-pin", parents=[common_action, with_pin], help="give a user a new PIN")
    set_pin.add_argument("user_id", metavar="USER_ID")
    for action, text in (("disable", "refuse a user's sign-ins (and end the active ones)"),
                         ("enable", "allow a disabled user to sign in again"),
                         ("unlock", "end a lock-out after wrong PINs")):
        actions.add_parser(action, parents=[common_action], help=text).add_argument("user_id", metavar="USER_ID")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    try:
        with ExamStore.open(config.data_path) as store:
            return _act(Accounts(store, config.auth), args)
    except (UserInputError, UserNotFoundError) as exc:
        print(f"error [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _act(accounts: Accounts, args: argparse.Namespace) -> int:
    if args.action == "list":
        _print_users(accounts.list_users(), as_json=args.json)
        return 0
    if args.action == "add":
        made = accounts.add_user(args.user_id, args.name or args.user_id, args.role, _read_pin(args), actor=args.actor)
        print(f"Added {made.role.value} {made.user_id} ({made.display_name}).")
    elif args.action == "set-pin":
        accounts.get(args.user_id)  # before asking for a PIN
        accounts.set_pin(args.user_id, _read_pin(args), actor=args.actor)
        print(f"New PIN set for {args.user_id.strip().lower()}; their sign-ins were ended.")
    else:
        change, done = {"disable": (accounts.disable, "Disabled (and signed out)"),
                        "enable": (accounts.enable, "Enabled"),
                        "unlock": (accounts.unlock, "Unlocked")}[args.action]
        change(args.user_id, actor=args.actor)
        print(f"{done}: {args.user_id.strip().lower()}.")
    return 0


def _read_pin(args: argparse.Namespace) -> str:
    """The PIN, from one line of stdin (--pin-stdin) or typed twice without echo. Raises UserInputError."""
    if args.pin_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    pin = getpass.getpass("PIN (4 to 12 digits): ")
    if getpass.getpass("The same PIN again: ") != pin:
        raise UserInputError("The two PINs differ: nothing was changed.", reason_code="pin_mismatch")
    return pin


def _print_users(accounts: list[UserAccount], *, as_json: bool) -> None:
    now = utc_now()
    rows = [{"user_id": a.user_id, "display_name": a.display_name, "role": a.role.value, "disabled": a.disabled,
             "failed_attempts": a.failed_attempts,
             "locked_until": to_iso(a.locked_until) if a.locked_until and a.locked_at(now) else None,
             "created_at": to_iso(a.created_at)} for a in accounts]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("No users. Add one with: appliance user add USER_ID --role admin")
    for row in rows:
        state = "disabled" if row["disabled"] else f"locked until {row['locked_until']}" if row["locked_until"] else ""
        print(f"{row['user_id']:<20} {row['role']:<11} {row['display_name']}  {state}".rstrip())

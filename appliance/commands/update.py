"""`appliance update`: install a signed bundle into the inactive slot, switch, check health, commit or roll back.

    appliance update install BUNDLE [--allow-downgrade] [--actor NAME]
    appliance update check BUNDLE       # would this box take it? (signature, members, hardware, versions)
    appliance update status [--json]
    appliance update health [--json]    # the active slot's own `appliance health` (the rollout's gate)
    appliance update recover            # at boot (appliance-update.service): finish an interrupted update
    appliance update rollback [--reason TEXT]   # go back to the other slot's version (health-checked too)

Exit status: 0 done (committed, or nothing to do); 1 the update was rolled back or not switched; 2 the
bundle was refused; 3 the update failed (disk full, …) or the config is invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from appliance.config import Config
from appliance.fleet.errors import BundleRefusedError, UpdateBusyError

EXIT_NOT_APPLIED = 1
EXIT_REFUSED = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser("update", parents=[common], help="install signed update bundles (A/B slots)",
                              description="Install a signed bundle into the inactive slot, switch to it, check "
                                          "its health and commit it, or go back to the previous version.")
    actions = cmd.add_subparsers(dest="update_action", required=True, metavar="ACTION")
    install = actions.add_parser("install", parents=[common], help="install, switch, check and commit a bundle")
    install.add_argument("bundle", type=Path, help="the bundle file (appliance bundle build)")
    install.add_argument("--allow-downgrade", action="store_true",
                         help="allow an older (or the same) version; recorded in the audit log")
    install.add_argument("--actor", default=os.environ.get("USER", "admin"), help="who updates, for the audit log")
    install.add_argument("--json", action="store_true", help="print the update's record as JSON")
    check = actions.add_parser("check", parents=[common], help="check a bundle against this box, install nothing")
    check.add_argument("bundle", type=Path)
    check.add_argument("--allow-downgrade", action="store_true", help="accept an older (or the same) version")
    status = actions.add_parser("status", parents=[common], help="which version runs, and the last update")
    status.add_argument("--json", action="store_true", help="machine-readable JSON")
    health = actions.add_parser("health", parents=[common],
                                help="run the active slot's own health check (exit 0 healthy, 1 not)")
    health.add_argument("--json", action="store_true", help="print the checks as JSON")
    recover = actions.add_parser("recover", parents=[common], help="finish an interrupted update (at boot)")
    recover.add_argument("--json", action="store_true", help="print the last update's record as JSON")
    rollback = actions.add_parser("rollback", parents=[common], help="go back to the other slot's version")
    rollback.add_argument("--reason", default="rolled back by hand", help="why, for the audit log")
    rollback.add_argument("--actor", default=os.environ.get("USER", "admin"), help="who, for the audit log")
    rollback.add_argument("--json", action="store_true", help="print the record as JSON")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    from appliance.fleet.slots import slots_of
    from appliance.fleet.status import summary, update_status
    from appliance.fleet.update import Updater

    if args.update_action == "status":
        found = update_status(config)
        print(json.dumps(found, indent=2) if args.json else found["summary"])
        return 0
    updater = Updater(config, say=lambda line: print(line, file=sys.stderr, flush=True),
                      actor=getattr(args, "actor", "update"))
    if args.update_action == "health":
        state = slots_of(config).read()
        health = updater.runner.health(state.active, timeout=config.update.health_timeout_s)
        print(json.dumps(health, indent=2) if args.json else
              f"{summary(state)}\n{'Healthy.' if health.get('ok') else 'NOT healthy: ' + str(health)}")
        return 0 if health.get("ok") else EXIT_NOT_APPLIED
    try:
        if args.update_action == "check":
            signed = updater.check(args.bundle, allow_downgrade=args.allow_downgrade)
            print(f"{args.bundle.name}: {signed.manifest.kind} {signed.manifest.version}, signed by key "
                  f"{signed.key_id}, every member verified; this box would take it.")
            return 0
        if args.update_action == "install":
            record = updater.install(args.bundle, allow_downgrade=args.allow_downgrade)
        elif args.update_action == "rollback":
            record = updater.roll_back_by_hand(args.reason)
        else:
            found_record = updater.recover()
            state = slots_of(config).read()
            print(json.dumps(None if found_record is None else asdict(found_record), indent=2) if args.json
                  else summary(state))
            return 0
    except BundleRefusedError as exc:
        print(f"refused [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    except UpdateBusyError as exc:
        print(f"not applied [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return EXIT_NOT_APPLIED
    print(json.dumps(asdict(record), indent=2) if args.json else summary(slots_of(config).read()))
    return 0 if record.outcome in ("committed", "unchanged") else EXIT_NOT_APPLIED

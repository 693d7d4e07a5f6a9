"""`appliance health [--json]`: whether this box's firmware is fit to screen (appliance/fleet/health.py).

An update commits a new version only when its `appliance health` passes. Exit status: 0 healthy, 1 not.
"""

from __future__ import annotations

import argparse
import json

from appliance.config import Config

EXIT_UNHEALTHY = 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "health", parents=[common], help="check that the model, a known photo, the store and the kiosk work",
        description="Check that the model loads and matches its hash, that a shipped test photo screens to its "
                    "known outcome, that the store takes a write and that the kiosk answers /healthz. "
                    "Exit status 0 when all pass, 1 otherwise.")
    cmd.add_argument("--json", action="store_true", help="print every check as JSON")
    cmd.add_argument("--store-only", action="store_true",
                     help="only open (and so migrate) the store and check it takes a write (the update runs this "
                          "on a copy of the store)")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    from appliance.fleet.health import HealthReport, check_health, store_check

    report = HealthReport({"store": store_check(config)}) if args.store_only else check_health(config)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("healthy" if report.ok else "NOT healthy")
        for name, check in report.checks.items():
            print(f"  {name}: {'ok' if check['ok'] else check.get('problem', 'failed')}")
    return 0 if report.ok else EXIT_UNHEALTHY

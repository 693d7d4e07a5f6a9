"""`appliance operating-point adopt REPORT.json | revert | show`: the site operating point, explicitly.

`adopt` is the only way a site threshold comes into force: it reads a report written by
`appliance validate-site --json`, refuses one made with another model or on fewer referable photos
than `[site] min_referable_photos`, and stores and audits the adoption in one transaction. `revert`
goes back to the model's locked threshold, audited. `show` prints what applies now and why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.domain import utc_now
from appliance.inference.manifest import load_manifest
from appliance.operating_point import (
    OperatingPointError,
    check_adoptable,
    read_site_report,
    site_operating_point,
    status,
)
from appliance.store import ExamStore

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser(
        "operating-point", help="adopt, revert or show the site operating point",
        description="Adopt a site threshold from a site-validation report (appliance validate-site --json), go back "
                    "to the model's locked threshold, or show which applies. Adoption and revert are audited; "
                    "every later result records and shows the operating point it was decided at.",
    )
    actions = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    # --config / -v belong to each action (`operating-point adopt R --config F`): on both levels, the
    # action's default would overwrite a value given before it.
    common_action = argparse.ArgumentParser(add_help=False, parents=[common])
    common_action.add_argument("--actor", default=os.environ.get("USER", "admin"),
                               help="who does this, for the audit log (default: $USER)")
    common_action.add_argument("--json", action="store_true", help="print machine-readable JSON")
    adopt = actions.add_parser("adopt", parents=[common_action], help="adopt the site threshold of a report")
    adopt.add_argument("report", type=Path, metavar="REPORT.json", help="written by appliance validate-site --json")
    revert = actions.add_parser("revert", parents=[common_action], help="go back to the model's locked threshold")
    revert.add_argument("--reason", default="", help="why, for the audit log")
    actions.add_parser("show", parents=[common_action], help="which operating point applies, and why")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    try:
        if args.action == "adopt":
            return _adopt(config, args)
        return _revert(config, args) if args.action == "revert" else _show(config, args)
    except OperatingPointError as exc:
        print(f"error [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _print(config: Config, args: argparse.Namespace, headline: str, state: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(state, indent=2))
        return
    lines = [headline, f"Operating point now: {state['description']}"]
    adopted = state["adopted"]
    if adopted is not None:
        lines.append(f"Stored site operating point: threshold {adopted['threshold']:.4f} for model sha256 "
                     f"{adopted['model_sha256']}, adopted {adopted['adopted_at']} by {adopted['adopted_by']} from "
                     f"{adopted['n_photos']} photos ({adopted['n_referable']} referable; target sensitivity "
                     f"{adopted['target_sensitivity']:.2f}); site data {adopted['site_data']}")
    print("\n".join(line for line in lines if line))


def _adopt(config: Config, args: argparse.Namespace) -> int:
    report = read_site_report(args.report)
    manifest = load_manifest(config.manifest_path)  # the installed model, hashed now
    check_adoptable(report, manifest, config.site.min_referable_photos)
    point = site_operating_point(report, actor=args.actor, at=utc_now())
    with ExamStore.open(config.data_path) as store:
        store.adopt_operating_point(point, detail={"report": str(args.report.absolute()),
                                                   "report_created_at": report.created_at,
                                                   "locked_threshold": manifest.threshold,
                                                   "min_referable_photos": config.site.min_referable_photos})
        state = status(store.site_operating_point(), manifest)
    _print(config, args, f"Adopted the site operating point from {args.report}.", state)
    return 0


def _revert(config: Config, args: argparse.Namespace) -> int:
    manifest = load_manifest(config.manifest_path)
    with ExamStore.open(config.data_path) as store:
        had = store.site_operating_point()
        store.revert_operating_point(actor=args.actor, detail={"reason": args.reason,
                                                                "locked_threshold": manifest.threshold})
        state = status(store.site_operating_point(), manifest)
    headline = ("Reverted to the model's locked threshold." if had is not None
                else "No site operating point was adopted; the model's locked threshold applies (revert audited).")
    _print(config, args, headline, state)
    return 0


def _show(config: Config, args: argparse.Namespace) -> int:
    manifest = load_manifest(config.manifest_path)
    with ExamStore.open(config.data_path) as store:
        state = status(store.site_operating_point(), manifest)
    _print(config, args, "", state)
    return 0

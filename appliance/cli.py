"""The `appliance` command: parses arguments, loads the config, runs one subcommand, and turns typed
errors into one line on stderr.

Exit codes: 0 done (a result was given); 2 bad input (usage, image, exam); 3 the model or the box
failed (model integrity, runner, storage, config).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from appliance import __version__
from appliance.commands import Handler, register_all
from appliance.config import load_config
from appliance.domain import NOT_VALIDATED_NOTICE
from appliance.errors import ApplianceError, ExamInputError, ImageError

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 3


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=os.environ.get("APPLIANCE_CONFIG"),
                        help="TOML config file (default: embedded defaults; env APPLIANCE_CONFIG)")
    common.add_argument("-v", "--verbose", action="store_true",
                        help="log progress on stderr (always on for serve, at [log_level])")
    parser = argparse.ArgumentParser(
        prog="appliance",
        description="Offline diabetic-retinopathy screening appliance. " + NOT_VALIDATED_NOTICE,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_all(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the command line: on an updated box, the active slot's firmware runs it (appliance/fleet)
        from appliance.fleet.boot import enter_active_slot

        enter_active_slot(sys.argv[1:])
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        # One-shot commands keep stderr for the one-line error unless asked to log.
        level = config.log_level.upper() if args.command == "serve" or args.verbose else "WARNING"
        logging.basicConfig(level=level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # pynetdicom logs every dataset it sends and receives (the worklist's patient names, ids and birth
        # dates) at INFO and DEBUG: logs carry no patient data, so it says only what goes wrong.
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        handler: Handler = args.handler
        return handler(config, args)
    except ApplianceError as exc:
        logging.getLogger("appliance").debug("%s: %s", exc.reason_code, exc.detail)
        print(f"error [{exc.reason_code}]: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, (ImageError, ExamInputError)) else EXIT_FAILURE

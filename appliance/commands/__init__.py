"""Subcommands of `appliance`. Each module has `register(commands, common)` that adds its parser and
sets `handler=fn(config, args) -> exit status`. Add a new command by listing its module here."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from appliance.config import Config

Handler = Callable[[Config, argparse.Namespace], int]

#: In the order `appliance --help` lists them.
COMMAND_MODULES = [
    "appliance.commands.serve",
    "appliance.commands.screen",
    "appliance.commands.quality",
    "appliance.commands.build_engine",
    "appliance.commands.calibrate",
    "appliance.commands.evaluate",
    "appliance.commands.validate_site",
    "appliance.commands.operating_point",
    "appliance.commands.user",
    "appliance.commands.sync",
    "appliance.commands.devices",
    "appliance.commands.health",
    "appliance.commands.update",
    "appliance.commands.bundle",
]


def register_all(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands, common)

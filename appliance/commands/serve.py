"""`appliance serve`: the kiosk and the JSON API."""

from __future__ import annotations

import argparse

from appliance.config import Config


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="run the kiosk and HTTP API")
    serve.add_argument("--port", type=int, help="port to listen on (default: [server] port, 8080)")
    serve.add_argument("--host", help="address to listen on (default: [server] host, 127.0.0.1)")
    serve.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    from appliance.kiosk.server import serve

    if args.port is not None:
        config.server.port = args.port
    if args.host is not None:
        config.server.host = args.host
    serve(config)
    return 0

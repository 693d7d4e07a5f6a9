"""Run the kiosk under waitress on the configured address."""

from __future__ import annotations

import logging

from waitress import serve as waitress_serve

from appliance.config import Config
from appliance.kiosk.app import create_app
from appliance.runtime import open_appliance

log = logging.getLogger("appliance.kiosk")


def serve(config: Config) -> None:
    """Load the model, open the store and serve until interrupted (Ctrl-C / SIGTERM)."""
    with open_appliance(config, actor="kiosk") as box:
        app = create_app(box)
        host, port = config.server.host, config.server.port
        log.info("data in %s; camera %s", config.data_path.resolve(), box.camera.name)
        log.info("appliance listening on http://%s:%d", host, port)
        waitress_serve(app, host=host, port=port, threads=config.server.threads, ident="appliance")

"""Run the kiosk under waitress on the configured address, telling systemd when it is ready."""

from __future__ import annotations

import logging

from waitress import create_server

from appliance.config import Config
from appliance.kiosk.app import create_app
from appliance.runtime import open_appliance
from appliance.service import notify, start_watchdog

log = logging.getLogger("appliance.kiosk")


def serve(config: Config) -> None:
    """Load the model, open the store and serve until interrupted (Ctrl-C / SIGTERM)."""
    with open_appliance(config, actor="kiosk") as box:
        app = create_app(box)
        server = create_server(app, host=config.server.host, port=config.server.port,
                               threads=config.server.threads, ident="appliance")
        log.info("data in %s; camera %s", config.data_path.resolve(), box.camera.name)
        log.info("appliance listening on http://%s:%d", config.server.host, config.server.port)
        notify("READY=1")
        watchdog = start_watchdog(lambda: box.runner.is_active)
        try:
            server.run()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            notify("STOPPING=1")
            if watchdog is not None:
                watchdog.set()
            server.close()

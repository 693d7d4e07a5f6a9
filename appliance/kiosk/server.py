"""Run the kiosk under waitress on the configured address, telling systemd when it is ready."""

from __future__ import annotations

import logging

from waitress import create_server

from appliance.auth.accounts import Accounts
from appliance.auth.demo import ensure_demo_users
from appliance.config import Config
from appliance.kiosk.app import create_app
from appliance.kiosk.context import KioskServices
from appliance.kiosk.hosts import allowed_hosts_for, check_exposure
from appliance.runtime import open_appliance
from appliance.service import notify, start_watchdog

log = logging.getLogger("appliance.kiosk")


def serve(config: Config) -> None:
    """Load the model, open the store and serve until interrupted (Ctrl-C / SIGTERM)."""
    check_exposure(config.server.host, config.auth)  # logs its own warnings; refuses an unsafe exposure
    with open_appliance(config, actor="kiosk") as box:
        accounts = Accounts(box.store, config.auth)
        ensure_demo_users(accounts)  # only when [auth] demo_users is on and the box has no user
        kiosk = KioskServices(screening=box.screening, exams=box.exams, status=box.status, admin=box.admin,
                              accounts=accounts, max_attempts=config.quality.max_attempts)
        hosts = allowed_hosts_for(config.server.host, config.server.port, config.auth.allowed_hosts)
        app = create_app(kiosk, config.auth, allowed_hosts=hosts, max_upload_bytes=config.server.max_upload_bytes)
        server = create_server(app, host=config.server.host, port=config.server.port,
                               threads=config.server.threads, ident="appliance")
        log.info("data in %s; camera %s", config.data_path.resolve(), box.camera.name)
        log.info("appliance listening on http://%s:%d", config.server.host, config.server.port)
        notify("READY=1")
        watchdog = start_watchdog(lambda: box.model.is_ready)
        try:
            server.run()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            notify("STOPPING=1")
            if watchdog is not None:
                watchdog.set()
            server.close()

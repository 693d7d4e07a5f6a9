"""Run the kiosk under waitress on the configured address, telling systemd when it is ready."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from waitress import create_server

from appliance.auth.accounts import Accounts
from appliance.auth.demo import ensure_demo_users
from appliance.config import Config
from appliance.kiosk.app import create_app
from appliance.kiosk.context import KioskServices
from appliance.kiosk.hosts import allowed_hosts_for, check_exposure
from appliance.runtime import open_appliance
from appliance.service import notify, start_watchdog
from appliance.services.orders import ScheduledOrders
from appliance.store import ExamStore
from appliance.sync.targets import build_worker

log = logging.getLogger("appliance.kiosk")


def serve(config: Config) -> None:
    """Load the model, open the store and serve until interrupted (Ctrl-C / SIGTERM)."""
    check_exposure(config.server.host, config.auth)  # logs its own warnings; refuses an unsafe exposure
    with open_appliance(config, actor="kiosk") as box:
        accounts = Accounts(box.store, config.auth)
        ensure_demo_users(accounts)  # only when [auth] demo_users is on and the box has no user
        kiosk = KioskServices(screening=box.screening, exams=box.exams, status=box.status, admin=box.admin,
                              accounts=accounts, max_attempts=config.quality.max_attempts,
                              orders=ScheduledOrders(config.sync) if config.sync.worklist_configured else None)
        hosts = allowed_hosts_for(config.server.host, config.server.port, config.auth.allowed_hosts)
        app = create_app(kiosk, config.auth, allowed_hosts=hosts, max_upload_bytes=config.server.max_upload_bytes)
        server = create_server(app, host=config.server.host, port=config.server.port,
                               threads=config.server.threads, ident="appliance")
        log.info("data in %s; camera %s", config.data_path.resolve(), box.camera.name)
        log.info("appliance listening on http://%s:%d", config.server.host, config.server.port)
        notify("READY=1")
        watchdog = start_watchdog(lambda: box.model.is_ready)
        stop_sync = start_sync(config)
        try:
            server.run()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            notify("STOPPING=1")
            if watchdog is not None:
                watchdog.set()
            stop_sync()
            server.close()


def start_sync(config: Config) -> Callable[[], None]:
    """The sync worker in its own thread with its own store connection (it never takes the kiosk's store
    lock or the model), when a destination is configured; returns what stops it (a no-op otherwise)."""
    if not config.sync.configured:
        log.info("sync: no destination configured; finished exams wait in the outbox")
        return lambda: None
    store = ExamStore.open(config.data_path)
    worker = build_worker(config.sync, store)
    if worker is None:
        store.close()
        return lambda: None
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, config.sync.interval_s), name="sync", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        thread.join(timeout=config.sync.timeout_s + 5)
        if not thread.is_alive():
            store.close()

    return stop_worker

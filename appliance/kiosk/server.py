"""Run the kiosk under waitress on the configured address, telling systemd when it is ready."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from waitress import create_server

from appliance.auth.accounts import Accounts
from appliance.auth.demo import ensure_demo_users
from appliance.config import Config
from appliance.devices.scanner import BarcodeScanner
from appliance.kiosk.app import create_app
from appliance.kiosk.context import KioskServices
from appliance.kiosk.hosts import allowed_hosts_for, check_exposure, is_loopback
from appliance.kiosk.metrics import MetricsExport
from appliance.memory import give_back_large_buffers
from appliance.observability.metrics import BoxMetrics
from appliance.runtime import open_appliance
from appliance.service import Vitals, notify, start_watchdog
from appliance.services.orders import ScheduledOrders
from appliance.store import ExamStore
from appliance.store.at_rest import ENCRYPTED

log = logging.getLogger("appliance.kiosk")


def serve(config: Config) -> None:
    """Load the model, open the store and serve until interrupted (Ctrl-C / SIGTERM: requests in progress
    finish, then the sync worker stops, then the store and the model close; STOPPING=1 tells systemd)."""
    check_exposure(config.server.host, config.auth)  # logs its own warnings; refuses an unsafe exposure
    give_back_large_buffers()  # before any thread allocates: photo buffers go back to the system
    with open_appliance(config, actor="kiosk") as box:
        at_rest = box.status.at_rest
        if at_rest is not None and at_rest.state != ENCRYPTED:
            log.warning("SECURITY: %s", at_rest.sentence)
        accounts = Accounts(box.store, config.auth)
        ensure_demo_users(accounts)  # only when [auth] demo_users is on and the box has no user
        scanner = BarcodeScanner(config.scanner.port, config.scanner.baud, config.scanner.pattern)
        scanner.start()  # reads a serial scanner in its own thread (nothing without [scanner] port)
        kiosk = KioskServices(screening=box.screening, exams=box.exams, status=box.status, admin=box.admin,
                              accounts=accounts, max_attempts=config.quality.max_attempts,
                              orders=ScheduledOrders(config.sync) if config.sync.worklist_configured else None,
                              scanner=scanner, metrics=metrics_export(config, box.metrics))
        hosts = allowed_hosts_for(config.server.host, config.server.port, config.auth.allowed_hosts)
        app = create_app(kiosk, config.auth, allowed_hosts=hosts, max_upload_bytes=config.server.max_upload_bytes)
        server = create_server(app, host=config.server.host, port=config.server.port,
                               threads=config.server.threads, ident="appliance")
        log.info("data in %s; camera %s", config.data_path.resolve(), box.camera.name)
        log.info("appliance listening on http://%s:%d", config.server.host, config.server.port)
        sync = start_sync(config)
        restore_sigterm = _stop_on_sigterm()
        watchdog = None
        try:
            # Pinged only while the model is ready and the HTTP and sync workers live (a dead thread is no box).
            watchdog = start_watchdog(Vitals({
                "the model": lambda: box.model.is_ready,
                "the HTTP worker threads": lambda: len(server.task_dispatcher.threads) >= config.server.threads,
                "the sync worker thread": sync.alive}))
            notify("READY=1")
            server.run()  # returns on SIGTERM or Ctrl-C, once the requests in progress are answered
        except KeyboardInterrupt:
            pass
        finally:
            log.info("stopping")
            notify("STOPPING=1")
            if restore_sigterm is not None:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
            if watchdog is not None:
                watchdog.set()
            sync()
            server.close()
            scanner.close()
        if restore_sigterm is not None:
            restore_sigterm()


def _stop_on_sigterm() -> Callable[[], None] | None:
    """Make SIGTERM (systemd's stop) end waitress's loop as Ctrl-C does; returns what puts the former
    handler back, or None where signals cannot be handled (not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress's run() catches it and shuts its task threads down

    previous = signal.signal(signal.SIGTERM, stop)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

    return restore


def metrics_export(config: Config, metrics: BoxMetrics) -> MetricsExport | None:
    """What /metrics serves under `[metrics]`; warns when a network can read it without a token."""
    if not config.metrics.enabled:
        return None
    if not config.metrics.token_file and not is_loopback(config.server.host):
        log.warning("/metrics is readable without a token by whoever reaches %s (no patient data): set "
                    "[metrics] token_file", config.server.host)
    return MetricsExport(metrics, config.metrics.token_file)


class RunningSync:
    """The sync worker's thread (or none): call it to stop the worker; `alive()` for the watchdog."""

    def __init__(self, config: Config, thread: threading.Thread | None = None, stop: threading.Event | None = None,
                 store: ExamStore | None = None) -> None:
        self._config, self._thread, self._stop, self._store = config, thread, stop or threading.Event(), store

    def alive(self) -> bool:
        """Whether the worker runs as it should: true with no worker, false once its thread has died."""
        return self._thread is None or self._stop.is_set() or self._thread.is_alive()

    def __call__(self) -> None:
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(timeout=self._config.sync.timeout_s + 5)
        if not self._thread.is_alive() and self._store is not None:
            self._store.close()


def start_sync(config: Config) -> RunningSync:
    """The sync worker in its own thread with its own store connection (it never takes the kiosk's store
    lock or the model), when a destination is configured; returns what stops it (a no-op otherwise)."""
    if not config.sync.configured:
        log.info("sync: no destination configured; finished exams wait in the outbox")
        return RunningSync(config)
    from appliance.sync.targets import build_worker  # pydicom and pynetdicom: a third of the start-up time

    store = ExamStore.open(config.data_path)
    worker = build_worker(config.sync, store)
    if worker is None:
        store.close()
        return RunningSync(config)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, config.sync.interval_s), name="sync", daemon=True)
    thread.start()
    return RunningSync(config, thread, stop, store)

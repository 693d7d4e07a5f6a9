"""`appliance sync`: send finished exams to the PACS and the EHR, show the backlog, re-queue, purge.

    appliance sync                 # run until stopped (the appliance-sync service; `serve` runs it too)
    appliance sync --once          # send what is due, then exit (the appliance-sync timer)
    appliance sync --status [--json]
    appliance sync --requeue ITEM [--actor NAME]
    appliance sync --purge         # remove photos the archive confirmed [sync] retention_days ago

Exit status: 0 done; 2 bad input (no such item, nothing configured for --once); 3 storage or config failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import timedelta
from types import FrameType

from appliance.config import Config
from appliance.domain import utc_now
from appliance.errors import SyncStateError
from appliance.services.status import sync_status
from appliance.store import ExamStore
from appliance.sync.targets import build_worker
from appliance.sync.worker import PassReport

log = logging.getLogger("appliance.sync")
EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    cmd = commands.add_parser("sync", parents=[common], help="send finished exams to the PACS and the EHR",
                              description="Send finished exams to the clinic's PACS (DICOM) and EHR (FHIR), as "
                                          "configured in [sync]; show the backlog; re-queue a parked item.")
    what = cmd.add_mutually_exclusive_group()
    what.add_argument("--once", action="store_true", help="send what is due, then exit (for a systemd timer)")
    what.add_argument("--status", action="store_true", help="show the backlog, last success and parked items")
    what.add_argument("--requeue", type=int, metavar="ITEM", help="send a parked item again (audited)")
    what.add_argument("--purge", action="store_true",
                      help="remove local photos the archive confirmed more than [sync] retention_days ago")
    cmd.add_argument("--json", action="store_true", help="with --status: machine-readable JSON")
    cmd.add_argument("--actor", default=os.environ.get("USER", "admin"), help="who re-queues, for the audit log")
    cmd.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    with ExamStore.open(config.data_path) as store:
        if args.status:
            _print_status(sync_status(store, config.sync), as_json=args.json)
            return 0
        if args.requeue is not None:
            try:
                item = store.outbox.requeue(args.requeue, actor=args.actor, now=utc_now())
            except SyncStateError as exc:
                print(f"error [{exc.reason_code}]: {exc.message}", file=sys.stderr)
                return EXIT_BAD_INPUT
            print(f"Re-queued item {item.id} ({item.kind}) of exam {item.exam_id}: it is sent at the next pass.")
            return 0
        if args.purge:
            return _purge(store, config)
        worker = build_worker(config.sync, store)
        if worker is None:
            print("Nothing to send to: set [sync] dicomweb_url, dimse_host or fhir_url.", file=sys.stderr)
            return EXIT_BAD_INPUT if args.once else 0
        if args.once:
            report = worker.drain(progress=_progress)
            print(f"sync: {report.sent} sent, {report.failed} to retry, {report.parked} parked.")
            for error in report.errors[:5]:
                print(f"  {error}")
            return 0
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        worker.run(stop, config.sync.interval_s)
        return 0


def _progress(total: PassReport) -> None:
    log.info("sync: %d sent, %d to retry, %d parked so far", total.sent, total.failed, total.parked)


def _purge(store: ExamStore, config: Config) -> int:
    days = config.sync.retention_days
    if days <= 0:
        print("[sync] retention_days is 0: photos are kept on the appliance. Nothing purged.")
        return 0
    report = store.purge_photos(confirmed_before=utc_now() - timedelta(days=days), actor="sync-purge")
    print(f"Purged {report.files} photo files ({report.bytes} bytes) of {report.exams} exams the archive confirmed "
          f"more than {days} days ago.")
    return 0


def _print_status(status: dict[str, object], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, indent=2))
        return
    print(f"sync: {'configured' if status['configured'] else 'not configured (nothing is sent)'}")
    for line in status["destinations"]:  # type: ignore[attr-defined]
        target = line["target"] or "not configured"
        print(f"  {line['kind']:<6} {target}: {line['pending']} waiting ({line['retrying']} retrying), "
              f"{line['parked']} parked, {line['sent']} sent; last success {line['last_success'] or 'never'}")
    for item in status["parked"]:  # type: ignore[attr-defined]
        print(f"  parked item {item['item']} ({item['kind']}, exam {item['exam_id']}): {item['reason']}")
        print(f"    re-queue once fixed: appliance sync --requeue {item['item']}")

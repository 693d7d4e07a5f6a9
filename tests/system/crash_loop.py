"""The whole box killed with SIGKILL at random moments, again and again, and what must hold after each restart.

`crash_loop` starts a real `appliance serve` (bench/box.py: embedded defaults, the demo users, the sync worker
sending each finished exam's FHIR Bundle to a local receiver every 0.2 s) on one data folder, runs exams
through its HTTP API as the kiosk does (open, four photos, finish) and kills it in one of three moments
chosen at random: while a photo is being taken in (capture), while the result is being made (result),
or while the sync worker is sending (sync), each after a random further delay. It restarts the server on
the same folder and checks `store_problems` and the kiosk's own answers, then goes on.

`store_problems` reads the store as an auditor would (read-only SQLite) against the ledger of what the
clients were told: every exam whose result was shown (its finish answered 200) is there, finished, with
its result rows; no half exam (a finished session has its result, image rows, DICOM UIDs and an outbox
item per destination; a result row has a finished session); every photo whose upload was answered 201 is
in its exam; the database passes `integrity_check` and `foreign_key_check`; every image file referenced
exists and has its hash; an item marked sent is at the receiver.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.sync.codes import EXAM_IDENTIFIER_SYSTEM
from bench.box import ServerProcess
from bench.photos import Photo, exam_photos
from tests.integration.sync.fhir_receiver import FhirReceiver
from tests.system.helpers import Kiosk

MOMENTS = ("capture", "result", "sync")
#: The longest random delay after the moment is reached before the kill (seconds), per moment: about the
#: time that step takes here, so the kill lands before, inside and after its writes.
DELAY_S = {"capture": 0.25, "result": 0.6, "sync": 0.4}


@dataclass
class Ledger:
    """What the clients were told: the exams whose result was shown, and the photos each exam accepted."""

    shown: dict[str, str] = field(default_factory=dict)  # exam id -> the outcome shown
    accepted: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Moments:
    capture: threading.Event = field(default_factory=threading.Event)
    result: threading.Event = field(default_factory=threading.Event)


def run_exams(kiosk: Kiosk, photos: list[list[Photo]], ledger: Ledger, moments: Moments,
              stop: threading.Event) -> None:
    """Exams back to back until the server dies or `stop` is set; the ledger gets what was answered."""
    n = 0
    try:
        while not stop.is_set():
            exam_photos_ = photos[n % len(photos)]
            n += 1
            opened = kiosk.post("/api/exams", json_body={"patient_id": f"CRASH-{n}"})
            if opened.status != 201:
                return
            exam_id = opened.json()["exam_id"]
            with ledger.lock:
                ledger.accepted[exam_id] = set()
            for photo in exam_photos_:
                moments.capture.set()
                answer = kiosk.post(f"/api/exams/{exam_id}/photos", fields={"eye": photo.eye.value},
                                    files=[("photo", photo.name, photo.jpeg)])
                if answer.status != 201:
                    return
                with ledger.lock:
                    ledger.accepted[exam_id].add(hashlib.sha256(photo.jpeg).hexdigest())
            moments.result.set()
            result = kiosk.post(f"/api/exams/{exam_id}/finish")
            if result.status != 200:
                return
            with ledger.lock:
                ledger.shown[exam_id] = result.json()["outcome"]
    except (OSError, http.client.HTTPException):
        return  # the server died under us: what was answered is in the ledger


def wait_for(moment: str, moments: Moments, receiver: FhirReceiver, deadline_s: float) -> bool:
    """Wait until the moment is reached (for sync: the receiver got a new Bundle); False at the deadline."""
    posts = receiver.posts
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if moment == "capture" and moments.capture.is_set():
            return True
        if moment == "result" and moments.result.is_set():
            return True
        if moment == "sync" and receiver.posts > posts:
            return True
        time.sleep(0.005)
    return False


def store_problems(data_dir: Path, ledger: Ledger, receiver: FhirReceiver | None = None) -> list[str]:
    """Every way the store breaks the promises above (empty: none)."""
    problems: list[str] = []
    db = sqlite3.connect(f"file:{data_dir / 'exams.sqlite3'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problems.append("integrity_check failed")
        if db.execute("PRAGMA foreign_key_check").fetchall():
            problems.append("foreign_key_check failed")
        states = {r["exam_id"]: r["state"] for r in db.execute("SELECT exam_id, state FROM exam_sessions")}
        results = {r["exam_id"] for r in db.execute("SELECT exam_id FROM exams")}
        image_rows: dict[str, int] = {}
        for r in db.execute("SELECT exam_id, COUNT(*) AS n FROM images GROUP BY exam_id"):
            image_rows[r["exam_id"]] = r["n"]
        uid_rows = {r["exam_id"] for r in db.execute("SELECT DISTINCT exam_id FROM exam_uids")}
        outbox: dict[str, dict[str, bool]] = {}
        for r in db.execute("SELECT exam_id, kind, sent_at FROM outbox"):
            outbox.setdefault(r["exam_id"], {})[r["kind"]] = r["sent_at"] is not None
        photos: dict[str, set[str]] = {}
        files = [(r["path"], r["sha256"]) for r in db.execute("SELECT path, sha256 FROM session_photos")]
        files += [(r["path"], r["sha256"]) for r in db.execute("SELECT path, sha256 FROM images")]
        for r in db.execute("SELECT exam_id, sha256 FROM session_photos"):
            photos.setdefault(r["exam_id"], set()).add(r["sha256"])
    finally:
        db.close()
    with ledger.lock:
        shown, accepted = dict(ledger.shown), {k: set(v) for k, v in ledger.accepted.items()}
    for exam_id in sorted(shown):
        if states.get(exam_id) != "finished" or exam_id not in results:
            problems.append(f"exam {exam_id} was shown with its result but is {states.get(exam_id, 'missing')}")
    for exam_id, state in states.items():
        if state == "finished" and not (exam_id in results and image_rows.get(exam_id, 0) >= 2
                                        and exam_id in uid_rows and len(outbox.get(exam_id, {})) == 2):
            problems.append(f"half exam {exam_id}: finished without its result rows, UIDs or outbox items")
    for exam_id in results:
        if states.get(exam_id) != "finished":
            problems.append(f"half exam {exam_id}: a result whose session is {states.get(exam_id, 'missing')}")
    for exam_id, hashes in accepted.items():
        if exam_id in states and not hashes <= photos.get(exam_id, set()):
            problems.append(f"exam {exam_id} lost photos that were accepted")
        if exam_id not in states and hashes:
            problems.append(f"exam {exam_id} with accepted photos is missing")
    for relative, sha256 in sorted(set(files)):
        path = data_dir / relative
        if not path.is_file():
            problems.append(f"image file {relative} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            problems.append(f"image file {relative} does not match its hash")
    if receiver is not None:
        received = {key.split("|", 1)[1] for key in receiver.reports_by_identifier()
                    if key.startswith(EXAM_IDENTIFIER_SYSTEM + "|")}
        for exam_id, kinds in outbox.items():
            if kinds.get("fhir") and exam_id not in received:
                problems.append(f"exam {exam_id} is marked sent to the EHR but the EHR never got it")
    return problems


@dataclass
class LoopReport:
    iterations: int = 0
    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MOMENTS, 0))
    moments_missed: int = 0
    problems: list[str] = field(default_factory=list)
    shown: int = 0
    ready_s: list[float] = field(default_factory=list)


def crash_loop(data_dir: Path, receiver: FhirReceiver, iterations: int, seed: int,
               progress: Callable[[str], None] = lambda _: None) -> LoopReport:
    """Kill and restart the box `iterations` times (see the module); the report holds every problem found."""
    rng = random.Random(seed)
    ledger = Ledger()
    report = LoopReport()
    photos = [exam_photos("512px", seed=s) for s in range(3)]
    env = {"APPLIANCE_SYNC_FHIR_URL": receiver.url, "APPLIANCE_SYNC_INTERVAL_S": "0.2",
           "APPLIANCE_SYNC_TIMEOUT_S": "3", "APPLIANCE_SYNC_LEASE_S": "4",
           "APPLIANCE_SYNC_BACKOFF_INITIAL_S": "0.05", "APPLIANCE_SYNC_BACKOFF_MAX_S": "0.5",
           "APPLIANCE_MODEL_INTRA_OP_THREADS": "1"}
    checked: set[str] = set()  # exams the kiosk was already asked about
    for i in range(iterations):
        box = ServerProcess.start(data_dir, **env)
        report.ready_s.append(box.ready_s)
        try:
            found = store_problems(data_dir, ledger, receiver) + kiosk_problems(box, ledger, checked)
            report.problems += [f"after restart {i}: {p}" for p in found]
            moment = rng.choice(MOMENTS)
            moments, stop = Moments(), threading.Event()
            client = threading.Thread(target=run_exams, args=(box.kiosk(), photos, ledger, moments, stop),
                                      daemon=True)
            client.start()
            if moment == "capture":  # not always the first photo of an exam
                time.sleep(rng.uniform(0.0, 0.6))
                moments.capture.clear()
            if not wait_for(moment, moments, receiver, deadline_s=20.0):
                report.moments_missed += 1
            time.sleep(rng.uniform(0.0, DELAY_S[moment]))
            box.kill()
            report.kills[moment] += 1
            stop.set()
            client.join(timeout=30)
        finally:
            box.kill()
        report.iterations += 1
        progress(f"{i + 1}/{iterations} killed at {moment}; {len(ledger.shown)} results shown so far")
    box = ServerProcess.start(data_dir, **env)
    try:
        report.problems += [f"at the end: {p}" for p in store_problems(data_dir, ledger, receiver)
                            + kiosk_problems(box, ledger, set())]
    finally:
        box.stop()
    report.shown = len(ledger.shown)
    return report


def kiosk_problems(box: ServerProcess, ledger: Ledger, checked: set[str]) -> list[str]:
    """The kiosk shows every exam whose result was shown (but those in `checked`, to which the ones asked
    about now are added) as finished, with the outcome shown."""
    kiosk = box.kiosk()
    with ledger.lock:
        shown = {k: v for k, v in ledger.shown.items() if k not in checked}
    problems = []
    for exam_id, outcome in sorted(shown.items()):
        answer = kiosk.get(f"/api/exams/{exam_id}")
        body = answer.json() if answer.status == 200 else {}
        if body.get("state") != "finished" or body.get("result", {}).get("outcome") != outcome:
            problems.append(f"the kiosk answers {answer.status} {body.get('state')} for exam {exam_id}, whose "
                            f"result {outcome} was shown")
        checked.add(exam_id)
    return problems

"""A real process killed with SIGKILL in the middle of exams loses nothing it reported stored.

The child runs exams in a loop (open, a photo of each eye, finish) and prints each step only after the
store's call returned; before the loop it opens one exam, stores a photo in it and leaves it open. The test
kills it mid-loop (usually inside a photo write or a commit), reopens the store and checks that every
reported finished exam is whole, every reported photo of an exam still open is there, the database is
intact, and interrupted temp files go away.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from appliance.domain import ExamState
from appliance.store import ExamStore
from appliance.store.files import is_temp_name

REPO = Path(__file__).resolve().parents[2]
EXAMS_BEFORE_KILL = 8
ROUNDS = 4
#: Only guards against a hung child; no assertion depends on time.
DEADLINE_S = 300
_FINAL_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png|tif|pdf|bin)$")

CHILD = r"""
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

from appliance.domain import (Exam, ExamSession, Eye, ModelInfo, Outcome, Patient, Prediction, QualityReport,
                              Result, ScreenedImage, SessionPhoto, utc_now)
from appliance.store import ExamStore

data_dir, prefix = Path(sys.argv[1]), sys.argv[2]
actor = "durability-test"
model = ModelInfo(name="dr-ref", version="0.1.0", sha256="ab" * 32, runner="onnxruntime-cpu")
rng = np.random.default_rng()
# One fundus-sized JPEG (noise compresses badly: ~2 MB), made unique per photo by a random tail
# after its end marker, so photo writes dominate the loop and the kill often lands inside one.
pixels = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
base = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
store = ExamStore.open(data_dir)


def open_exam(exam_id):
    store.open_session(ExamSession(exam_id=exam_id, patient=Patient("P-1"), operator=actor, opened_at=utc_now()),
                       actor=actor)
    print("opened", exam_id, flush=True)


def add_photo(exam_id, photo_id, eye):
    data = base + rng.bytes(16)
    sha = hashlib.sha256(data).hexdigest()
    photo = SessionPhoto(photo_id=photo_id, eye=eye, sha256=sha, quality=QualityReport(passed=True), source="file")
    store.add_photo(exam_id, photo, data, replaces=None, actor=actor)
    print("photo", exam_id, photo_id, sha, flush=True)
    return photo


# An exam left open between captures: its accepted photo must survive the kill.
open_exam(f"{prefix}-open")
add_photo(f"{prefix}-open", 1, Eye.RIGHT)
i = 0
while True:
    exam_id = f"{prefix}-{i}"
    open_exam(exam_id)
    photos = [add_photo(exam_id, 1, Eye.RIGHT), add_photo(exam_id, 2, Eye.LEFT)]
    result = Result(outcome=Outcome.NO_REFER, reasons=("right eye: fine", "left eye: fine"),
                    eye_scores={Eye.RIGHT: 0.2, Eye.LEFT: 0.2}, threshold=0.5)
    images = tuple(ScreenedImage(photo=p, prediction=Prediction(score=0.2, model=model)) for p in photos)
    store.finish_exam(Exam(exam_id=exam_id, patient=Patient("P-1"), images=images, result=result, model=model,
                           operator=actor), actor=actor)
    print("finished", exam_id, flush=True)
    i += 1
"""


def _run_and_kill(data_dir: Path, prefix: str, stderr_path: Path) -> tuple[list[list[str]], int]:
    """Start the child, SIGKILL it once it has reported EXAMS_BEFORE_KILL finished exams; returns every
    step it reported (each a line split into words: opened/photo/finished and their ids)."""
    with stderr_path.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data_dir), prefix],
            stdout=subprocess.PIPE, stderr=stderr, cwd=REPO,
        )
    assert child.stdout is not None
    reported: list[list[str]] = []
    arrivals: list[float] = []
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while len(arrivals) < EXAMS_BEFORE_KILL:
            if not selector.select(timeout=DEADLINE_S):
                child.kill()
                raise AssertionError(f"child printed nothing for {DEADLINE_S} s: {stderr_path.read_text()}")
            chunk = os.read(child.stdout.fileno(), 4096)
            if not chunk:
                child.wait()
                raise AssertionError(f"child exited early ({child.returncode}): {stderr_path.read_text()}")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            steps = [line.decode().split() for line in lines]
            reported += steps
            arrivals += [time.monotonic() for step in steps if step[0] == "finished"]
    # Kill at a random point of the next exam (not right after a print, when the child has not yet
    # begun writing): a random fraction of the observed time per exam.
    per_exam = (arrivals[-1] - arrivals[0]) / max(1, len(arrivals) - 1)
    time.sleep(random.uniform(0.0, per_exam))
    child.send_signal(signal.SIGKILL)
    child.wait()
    # Steps printed before the kill but not yet read are still in the pipe: they count too.
    rest = buffer + child.stdout.read()
    child.stdout.close()
    reported += [line.decode().split() for line in rest.split(b"\n") if line]
    assert child.returncode == -signal.SIGKILL
    return reported, child.pid


def _leftovers(images_dir: Path) -> list[Path]:
    return [p for p in images_dir.rglob("*") if p.is_file() and not _FINAL_NAME.match(p.name)]


def test_sigkill_mid_exam_loses_no_reported_exam_or_photo(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    finished: list[str] = []
    opened: list[str] = []
    photos: dict[tuple[str, int], str] = {}  # (exam id, photo id) -> sha256
    kept_open: list[str] = []
    for round_ in range(ROUNDS):
        steps, pid = _run_and_kill(data_dir, f"r{round_}", tmp_path / f"stderr-{round_}.txt")
        finished += [step[1] for step in steps if step[0] == "finished"]
        opened += [step[1] for step in steps if step[0] == "opened"]
        photos.update({(step[1], int(step[2])): step[3] for step in steps if step[0] == "photo"})
        kept_open.append(f"r{round_}-open")
        assert sum(step[0] == "finished" for step in steps) >= EXAMS_BEFORE_KILL

        # At most the one photo write in flight at the kill, under a recognisable temp name.
        leftovers = _leftovers(data_dir / "images")
        assert len(leftovers) <= 1, leftovers
        assert all(is_temp_name(p.name) and p.name.startswith(f".tmp-{pid}-") for p in leftovers)

        with ExamStore.open(data_dir) as store:
            assert _leftovers(data_dir / "images") == []  # opening cleaned them up
            for exam_id in finished:
                record = store.get_exam(exam_id)
                assert len(record.images) == 2
                assert [(exam_id, i.photo.photo_id) for i in record.images] == [(exam_id, 1), (exam_id, 2)]
                for image in record.images:
                    assert photos[(exam_id, image.photo.photo_id)] == image.sha256
                    data = store.image_bytes(image.sha256)
                    assert hashlib.sha256(data).hexdigest() == image.sha256 and data[:3] == b"\xff\xd8\xff"
                assert [e.action for e in store.audit_entries(exam_id)] == [
                    "exam_opened", "photo_taken", "photo_taken", "exam_created"]
                assert store.get_session(exam_id).state is ExamState.FINISHED
            assert set(finished) <= {m.exam_id for m in store.pending_outbox()}

            # Every reported exam is there; every photo reported stored is in its exam, bytes intact,
            # whether the exam was finished or was still open at the kill.
            for exam_id in opened:
                store.get_session(exam_id)
            for (exam_id, photo_id), sha in photos.items():
                session = store.get_session(exam_id)
                [photo] = [p for p in session.photos if p.photo_id == photo_id]
                assert photo.sha256 == sha and not photo.replaced
                assert hashlib.sha256(store.image_bytes(sha)).hexdigest() == sha
            for exam_id in kept_open:  # open between captures at the kill: still open, its photo kept
                session = store.get_session(exam_id)
                assert session.state is ExamState.OPEN
                assert [p.photo_id for p in session.photos] == [1]
                assert [e.exam_id for e in store.worklist(states=(ExamState.OPEN,), limit=100)
                        if e.exam_id == exam_id] == [exam_id]
            # The exam in flight at the kill is open (or finished, if the kill came after its commit).
            for exam_id in set(opened) - set(finished) - set(kept_open):
                assert store.get_session(exam_id).state in (ExamState.OPEN, ExamState.FINISHED)

        raw = sqlite3.connect(data_dir / "exams.sqlite3")
        try:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
            # Every exam with a result (reported or committed just before the kill) is whole: two images, a
            # finished session, an outbox message; no finished session lacks its result.
            assert raw.execute(
                "SELECT count(*) FROM exams WHERE (SELECT count(*) FROM images i"
                " WHERE i.exam_id = exams.exam_id) != 2"
            ).fetchone() == (0,)
            assert raw.execute(
                "SELECT count(*) FROM exam_sessions s LEFT JOIN exams e ON e.exam_id = s.exam_id"
                " WHERE (s.state = 'finished') != (e.exam_id IS NOT NULL)"
            ).fetchone() == (0,)
            assert raw.execute(
                "SELECT count(*) FROM exams WHERE exam_id NOT IN (SELECT exam_id FROM outbox)"
            ).fetchone() == (0,)
            # Every photo row points at a whole file (the file is written and fsynced before the row).
            for sha, path in raw.execute("SELECT sha256, path FROM session_photos").fetchall():
                assert hashlib.sha256((data_dir / path).read_bytes()).hexdigest() == sha
        finally:
            raw.close()

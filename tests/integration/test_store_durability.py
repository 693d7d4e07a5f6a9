"""A real process killed with SIGKILL in the middle of saving exams loses nothing it reported saved.

The child saves exams in a loop and prints each exam id only after save_exam returned; the test
kills it mid-loop (usually inside the next save: writing an image or committing), reopens the store
and checks every printed exam is whole, the database is intact, and interrupted temp files go away.
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

from appliance.store import ExamStore
from appliance.store.files import is_temp_name

REPO = Path(__file__).resolve().parents[2]
EXAMS_BEFORE_KILL = 8
ROUNDS = 4
#: Only guards against a hung child; no assertion depends on time.
DEADLINE_S = 300
_FINAL_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png|tif|bin)$")

CHILD = r"""
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from appliance.domain import (Capture, Exam, Eye, ModelInfo, Outcome, Prediction, QualityReport, Result,
                              ScreenedImage)
from appliance.store import ExamStore

data_dir, prefix = Path(sys.argv[1]), sys.argv[2]
model = ModelInfo(name="dr-ref", version="0.1.0", sha256="ab" * 32, runner="onnxruntime-cpu")
rng = np.random.default_rng()
# One fundus-sized JPEG (noise compresses badly: ~2 MB), made unique per image by a random tail
# after its end marker, so image writes dominate the loop and the kill often lands inside one.
pixels = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
base = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
store = ExamStore.open(data_dir)
i = 0
while True:
    images = []
    for eye in (Eye.RIGHT, Eye.LEFT):
        data = base + rng.bytes(16)
        images.append(ScreenedImage(capture=Capture(eye=eye, image=data, source="file"),
                                    quality=QualityReport(passed=True),
                                    prediction=Prediction(score=0.2, model=model)))
    result = Result(outcome=Outcome.NO_REFER, reasons=("right eye: fine", "left eye: fine"),
                    eye_scores={Eye.RIGHT: 0.2, Eye.LEFT: 0.2}, threshold=0.5)
    exam_id = f"{prefix}-{i}"
    store.save_exam(Exam(exam_id=exam_id, patient_id="P-1", images=tuple(images), result=result,
                         model=model), actor="durability-test")
    print(exam_id, flush=True)
    i += 1
"""


def _run_and_kill(data_dir: Path, prefix: str, stderr_path: Path) -> tuple[list[str], int]:
    """Start the child, SIGKILL it once it has reported EXAMS_BEFORE_KILL saves; returns all reported ids."""
    with stderr_path.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data_dir), prefix],
            stdout=subprocess.PIPE, stderr=stderr, cwd=REPO,
        )
    assert child.stdout is not None
    reported: list[str] = []
    arrivals: list[float] = []
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while len(reported) < EXAMS_BEFORE_KILL:
            if not selector.select(timeout=DEADLINE_S):
                child.kill()
                raise AssertionError(f"child printed nothing for {DEADLINE_S} s: {stderr_path.read_text()}")
            chunk = os.read(child.stdout.fileno(), 4096)
            if not chunk:
                child.wait()
                raise AssertionError(f"child exited early ({child.returncode}): {stderr_path.read_text()}")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            reported += [line.decode() for line in lines]
            arrivals += [time.monotonic()] * len(lines)
    # Kill at a random point of the next save (not right after a print, when the child has not yet
    # begun writing): a random fraction of the observed time per exam.
    per_exam = (arrivals[-1] - arrivals[0]) / max(1, len(arrivals) - 1)
    time.sleep(random.uniform(0.0, per_exam))
    child.send_signal(signal.SIGKILL)
    child.wait()
    # Ids printed before the kill but not yet read are still in the pipe: they count too.
    rest = buffer + child.stdout.read()
    child.stdout.close()
    reported += [line.decode() for line in rest.split(b"\n") if line]
    assert child.returncode == -signal.SIGKILL
    return reported, child.pid


def _leftovers(images_dir: Path) -> list[Path]:
    return [p for p in images_dir.rglob("*") if p.is_file() and not _FINAL_NAME.match(p.name)]


def test_sigkill_mid_save_loses_no_reported_exam(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    reported: list[str] = []
    for round_ in range(ROUNDS):
        ids, pid = _run_and_kill(data_dir, f"r{round_}", tmp_path / f"stderr-{round_}.txt")
        assert len(ids) >= EXAMS_BEFORE_KILL
        reported += ids

        # At most the one image write in flight at the kill, under a recognisable temp name.
        leftovers = _leftovers(data_dir / "images")
        assert len(leftovers) <= 1, leftovers
        assert all(is_temp_name(p.name) and p.name.startswith(f".tmp-{pid}-") for p in leftovers)

        with ExamStore.open(data_dir) as store:
            assert _leftovers(data_dir / "images") == []  # opening cleaned them up
            for exam_id in reported:
                record = store.get_exam(exam_id)
                assert len(record.images) == 2
                for image in record.images:
                    data = store.image_bytes(image.sha256)
                    assert hashlib.sha256(data).hexdigest() == image.sha256
                    assert len(data) == image.byte_size and data[:3] == b"\xff\xd8\xff"
                assert [e.action for e in store.audit_entries(exam_id)] == ["exam_created"]
            assert set(reported) <= {m.exam_id for m in store.pending_outbox()}

        raw = sqlite3.connect(data_dir / "exams.sqlite3")
        try:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
            # Every exam row in the database (reported or committed just before the kill) is whole.
            assert raw.execute(
                "SELECT count(*) FROM exams WHERE (SELECT count(*) FROM images i"
                " WHERE i.exam_id = exams.exam_id) != 2"
            ).fetchone() == (0,)
        finally:
            raw.close()

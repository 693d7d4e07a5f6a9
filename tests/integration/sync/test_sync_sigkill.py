"""The sync worker killed with SIGKILL at random points while it sends, again and again, restarted each time
(`appliance sync` as the systemd service runs it): every exam arrives exactly once in Orthanc and at the EHR,
and the store passes `PRAGMA integrity_check`."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fhir_receiver import FhirReceiver
from orthanc_server import PASSWORD, USER, Orthanc
from sync_exams import REAL_BUILDERS, store_exam

from appliance.store import ExamStore

REPO = Path(__file__).resolve().parents[3]
KILLS = int(os.environ.get("SYNC_KILLS", "50"))
EXAMS = int(os.environ.get("SYNC_KILL_EXAMS", "120"))
LEASE_S = 2.0


def sync_env(data_dir: Path, orthanc: Orthanc, fhir: FhirReceiver, password_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update({
        "APPLIANCE_DATA_DIR": str(data_dir), "APPLIANCE_SYNC_DICOMWEB_URL": orthanc.dicomweb_url,
        "APPLIANCE_SYNC_FHIR_URL": fhir.url, "APPLIANCE_SYNC_USERNAME": USER,
        "APPLIANCE_SYNC_PASSWORD_FILE": str(password_file), "APPLIANCE_SYNC_LEASE_S": str(LEASE_S),
        "APPLIANCE_SYNC_TIMEOUT_S": "1.5", "APPLIANCE_SYNC_INTERVAL_S": "0.2",
        "APPLIANCE_SYNC_BACKOFF_INITIAL_S": "0.05", "APPLIANCE_SYNC_BACKOFF_MAX_S": "0.5",
        "OMP_NUM_THREADS": "1",
    })
    return env


@pytest.mark.slow
@pytest.mark.skipif(not REAL_BUILDERS, reason="the DICOM/FHIR builders are not in the tree yet")
def test_sigkilled_worker_restarted_again_and_again_delivers_every_exam_exactly_once(
        tmp_path: Path, orthanc: Orthanc, fhir: FhirReceiver) -> None:
    data_dir = tmp_path / "data"
    with ExamStore.open(data_dir) as store:
        exam_ids = [store_exam(store, 5000 + n).exam_id for n in range(EXAMS)]
    password_file = tmp_path / "pacs-password"
    password_file.write_text(PASSWORD + "\n")
    env = sync_env(data_dir, orthanc, fhir, password_file)
    rng = random.Random(20240501)
    command = [sys.executable, "-m", "appliance", "sync"]
    killed_busy = 0
    for _ in range(KILLS):
        worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 3.0))
        assert worker.poll() is None, "the worker exited by itself"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed_busy += _leased_now(data_dir)

    time.sleep(LEASE_S + 0.5)  # the last victim's claims run out
    for _ in range(20):
        done = subprocess.run([*command, "--once"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        with ExamStore.open(data_dir) as store:
            if not any(b.pending for b in store.outbox.backlog()):
                break
        time.sleep(0.6)

    with ExamStore.open(data_dir) as store:
        backlog = {b.kind: b for b in store.outbox.backlog()}
        assert all(b.sent == EXAMS and b.pending == b.parked == 0 for b in backlog.values()), backlog
        attempts = [i.attempts for e in exam_ids for i in store.outbox.sync_state(e)]
    stats = orthanc.statistics()
    per_exam = int(stats["CountInstances"]) // EXAMS
    assert stats["CountStudies"] == stats["CountPatients"] == EXAMS
    assert stats["CountInstances"] == EXAMS * per_exam and per_exam >= 3
    assert fhir.count("DiagnosticReport") == EXAMS
    assert sorted(fhir.reports_by_identifier().values()) == [1] * EXAMS
    raw = sqlite3.connect(data_dir / "exams.sqlite3")
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        raw.close()
    # The kills did land mid-send: items were claimed when their worker died, and some were sent again.
    assert killed_busy > 0 and max(attempts) >= 2, (killed_busy, max(attempts))


def _leased_now(data_dir: Path) -> int:
    """Items still leased right after a kill: the claims the dead worker held."""
    raw = sqlite3.connect(data_dir / "exams.sqlite3")
    try:
        return int(raw.execute("SELECT count(*) FROM outbox WHERE lease_owner IS NOT NULL AND sent_at IS NULL")
                   .fetchone()[0])
    finally:
        raw.close()

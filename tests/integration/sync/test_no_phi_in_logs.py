"""No patient data in any log the box writes.

A real `appliance serve` (log level DEBUG, its stdout and stderr to a file, as journald keeps them) with a
real Orthanc as PACS and worklist and the validating FHIR receiver as EHR: test exams with made-up patient
ids, a date of birth and, through the clinic's worklist, a patient's name, go through every route that takes
patient data (open from an order, camera photos, uploads, a refused upload, a left/right doubt, finish, the
report, the worklist and a patient search, the one-shot form, cancel with a reason naming the patient, bad
input holding the id), are sent to the PACS and the EHR by the serve's sync thread, and the CLI runs on the
same data folder with -v (`screen`, `sync --once`, `sync --status`, `user list`). Then every log line (the
server's file, each command's stderr, and this process's caplog) is searched for the ids, the name, the
birth date and the accession number.

What the box is *meant* to hold (the store, the audit log, the PACS, the EHR, stdout of `screen`, which the
operator asked for) is not searched.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

import pytest
from fhir_receiver import FhirReceiver
from orthanc_server import PASSWORD, USER, Orthanc
from test_sync_worklist import write_order

from appliance.devices.simulated import SAMPLES_DIR
from tests.system.helpers import Kiosk, box_env, free_port, run_cli, running_server

pytestmark = pytest.mark.slow

PATIENT, ORDER_PATIENT, ONE_SHOT_PATIENT, CLI_PATIENT = "PHI-TEST-12345", "PHI-TEST-67890", "PHI-TEST-24680", \
    "PHI-TEST-13579"
NAME, BIRTH, ACCESSION = "PHITESTNAME^JANE", "1961-07-04", "PHIACC-4242"
#: What must appear in no log line: each id, the name (either part), the birth date in both spellings.
SECRETS = [PATIENT, ORDER_PATIENT, ONE_SHOT_PATIENT, CLI_PATIENT, "PHITESTNAME", "19610704", BIRTH, ACCESSION,
           "PHI-TEST"]


def sample(kind: str, eye: str) -> bytes:
    return sorted(SAMPLES_DIR.glob(f"{kind}_*_{eye}.jpg"))[0].read_bytes()


def exam_through_the_kiosk(kiosk: Kiosk) -> None:
    orders = kiosk.get("/api/worklist/orders").json()
    assert orders["available"], orders
    assert [o["patient_name"] for o in orders["orders"]], orders
    opened = kiosk.post("/api/exams", json_body={"patient_id": "", "accession_number": ACCESSION})
    assert opened.status == 201, opened.body
    exam_id = opened.json()["exam_id"]
    assert kiosk.post(f"/api/exams/{exam_id}/photos", json_body={"eye": "right", "kind": "dark"}).status == 201
    assert kiosk.post(f"/api/exams/{exam_id}/photos", json_body={"eye": "right", "kind": "healthy"}).status == 201
    refused = kiosk.post(f"/api/exams/{exam_id}/photos", fields={"eye": "left"},
                         files=[("photo", f"{PATIENT}.jpg", b"\xff\xd8\xff" + PATIENT.encode() * 20)])
    assert refused.status == 422
    assert kiosk.post(f"/api/exams/{exam_id}/photos", fields={"eye": "left"},
                      files=[("photo", f"{ORDER_PATIENT}_left.jpg", sample("healthy", "left"))]).status == 201
    finished = kiosk.post(f"/api/exams/{exam_id}/finish")
    assert finished.status == 200, finished.body
    assert kiosk.get(f"/api/exams/{exam_id}/report.pdf").status == 200
    assert kiosk.get(f"/exams/{exam_id}/report").status == 200

    second = kiosk.post("/api/exams", json_body={"patient_id": PATIENT, "birth_date": BIRTH, "sex": "female"})
    assert second.status == 201
    other = second.json()["exam_id"]
    doubt = kiosk.post(f"/api/exams/{other}/photos", fields={"eye": "left"},
                       files=[("photo", "r.jpg", sample("healthy", "right"))])
    assert doubt.status == 201
    assert kiosk.post(f"/api/exams/{other}/finish").status == 400  # no right eye yet
    assert kiosk.post(f"/api/exams/{other}/cancel", json_body={"reason": f"{PATIENT} {NAME} left"}).status == 200
    for bad in ({"patient_id": PATIENT, "birth_date": f"{PATIENT}"}, {"patient_id": PATIENT * 10},
                {"patient_id": PATIENT, "sex": NAME}, {"patient_id": PATIENT, "accession_number": f"X{PATIENT}"}):
        assert 400 <= kiosk.post("/api/exams", json_body=bad).status < 500
    assert kiosk.post("/api/worklist/search", json_body={"patient_id": PATIENT}).status == 200
    assert kiosk.get("/api/worklist").status == 200 and kiosk.get("/status").status == 200
    one_shot = kiosk.post("/api/exams", fields={"patient_id": ONE_SHOT_PATIENT, "birth_date": BIRTH},
                          files=[("right", "r.jpg", sample("healthy", "right")),
                                 ("left", "l.jpg", sample("healthy", "left"))])
    assert one_shot.status == 201, one_shot.body


def test_no_log_holds_patient_data(tmp_path: Path, orthanc: Orthanc, fhir: FhirReceiver,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for old in orthanc.worklists.glob("*.wl"):
        old.unlink()
    write_order(orthanc.worklists, ACCESSION, ORDER_PATIENT, name=NAME, day=date.today())
    password = tmp_path / "pacs-password"
    password.write_text(PASSWORD)
    data_dir = tmp_path / "var"
    env = box_env(data_dir, APPLIANCE_LOG_LEVEL="DEBUG", APPLIANCE_MODEL_INTRA_OP_THREADS="1",
                  APPLIANCE_SYNC_DICOMWEB_URL=orthanc.dicomweb_url, APPLIANCE_SYNC_FHIR_URL=fhir.url,
                  APPLIANCE_SYNC_USERNAME=USER, APPLIANCE_SYNC_PASSWORD_FILE=str(password),
                  APPLIANCE_SYNC_INTERVAL_S="0.2", APPLIANCE_SYNC_WORKLIST_HOST="127.0.0.1",
                  APPLIANCE_SYNC_WORKLIST_PORT=str(orthanc.dicom_port), APPLIANCE_SYNC_WORKLIST_AE_TITLE="ORTHANC")
    port = free_port()
    with running_server(env, port) as base:
        exam_through_the_kiosk(Kiosk(base))
        deadline = time.monotonic() + 60  # the serve's sync thread sends the two finished exams
        while fhir.count("DiagnosticReport") < 2:
            assert time.monotonic() < deadline, "the finished exams did not reach the EHR"
            time.sleep(0.2)
    logs = {"serve": (tmp_path / f"server-{port}.log").read_text()}
    right, left = sample("referable", "right"), sample("referable", "left")
    (tmp_path / f"{CLI_PATIENT}_right.jpg").write_bytes(right)
    (tmp_path / f"{CLI_PATIENT}_left.jpg").write_bytes(left)
    commands = {
        "screen": ["-v", "screen", "--patient-id", CLI_PATIENT, "--right", str(tmp_path / f"{CLI_PATIENT}_right.jpg"),
                   "--left", str(tmp_path / f"{CLI_PATIENT}_left.jpg")],
        "screen-bad": ["-v", "screen", "--patient-id", CLI_PATIENT, "--right", str(password), "--left",
                       str(tmp_path / f"{CLI_PATIENT}_left.jpg")],
        "sync-once": ["-v", "sync", "--once"],
        "sync-status": ["-v", "sync", "--status"],
        "user-list": ["-v", "user", "list"],
    }
    for name, args in commands.items():
        done = run_cli(args, env)
        assert done.returncode in (0, 2), (name, done.stderr)
        logs[name] = done.stderr
    logs["pytest"] = caplog.text

    # It did log, at DEBUG: the sync worker's sends, the refusals, the worklist's associations were made.
    assert "sync worker" in logs["serve"] and "image_corrupt" in logs["serve"] and "sent" in logs["serve"]
    found = {(where, secret) for where, text in logs.items() for secret in SECRETS if secret in text}
    assert not found, {where: [ln for ln in logs[where].splitlines() if any(s in ln for s in SECRETS)][:5]
                       for where, _ in found}

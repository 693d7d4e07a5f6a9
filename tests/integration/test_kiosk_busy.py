"""The kiosk at its bound of work in flight: a photo or a finish over the bound is answered 503 with
Retry-After and a plain sentence, nothing is stored, and the same request goes through once a slot is free."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from werkzeug.test import TestResponse

from appliance.admission import Admission
from appliance.devices.simulated import SAMPLES_DIR
from tests.integration.kiosk_app import Kiosk, changing, running_kiosk, signed_in
from tests.integration.test_kiosk_api import open_exam, take, upload


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    with running_kiosk(tmp_path / "var") as box:
        box.box.pipeline.admission = Admission.bounded(1, 1, 0.0)  # no wait: refused at once when taken
        yield box


def all_taken(kiosk: Kiosk, kind: str) -> ExitStack:
    """Hold every slot of `kind` (photos, results), as requests in flight would."""
    stack = ExitStack()
    slots = getattr(kiosk.box.pipeline.admission, kind)
    for _ in range(slots.slots):
        stack.enter_context(slots.held())
    return stack


def assert_busy(answer: TestResponse) -> None:
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert answer.get_json() == {"error": "appliance_busy", "message": "The appliance is busy: try again in a moment."}


def test_a_photo_over_the_bound_is_answered_busy_and_not_stored(kiosk: Kiosk) -> None:
    client, csrf = signed_in(kiosk)
    exam_id = open_exam(client, csrf, "BUSY-1")["exam_id"]
    photo = (SAMPLES_DIR / "healthy_01_right.jpg").read_bytes()
    with all_taken(kiosk, "photos"):
        assert_busy(upload(client, csrf, exam_id, photo, eye="right"))
        assert_busy(take(client, csrf, exam_id, "left", "healthy"))
    assert client.get(f"/api/exams/{exam_id}").get_json()["photos"] == []
    assert upload(client, csrf, exam_id, photo, eye="right").status_code == 201


def test_a_finish_over_the_bound_is_answered_busy_and_the_exam_stays_open(kiosk: Kiosk) -> None:
    client, csrf = signed_in(kiosk)
    exam_id = open_exam(client, csrf, "BUSY-2")["exam_id"]
    for eye in ("right", "left"):
        assert take(client, csrf, exam_id, eye, "healthy").status_code == 201
    with all_taken(kiosk, "results"):
        assert_busy(client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf)))
    assert client.get(f"/api/exams/{exam_id}").get_json()["state"] == "open"
    assert client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf)).status_code == 200

"""GET /metrics of the real kiosk over a real box (the shipped model, a real store): Prometheus' text format,
no sign-in and no patient data; each box counts in its own registry; `[metrics]` turns it off or asks for a
bearer token; the alert rules of deploy/prometheus name only metrics a box exposes; /healthz and the status
page carry the drift watch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from kiosk_app import box_env, running_kiosk, signed_in
from prometheus_client.parser import text_string_to_metric_families

from appliance.auth import Accounts
from appliance.config import load_config
from appliance.domain import Capture, Eye, Patient
from appliance.kiosk.app import create_app
from appliance.kiosk.context import KioskServices
from appliance.kiosk.metrics import MetricsExport
from appliance.runtime import Appliance, open_appliance

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "appliance" / "devices" / "samples"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
PATIENT = "PATIENT-METRICS-4711"


@contextmanager
def box_with_metrics(data_dir: Path, **env: str) -> Iterator[tuple[Flask, Appliance]]:
    """A box and its kiosk app as `appliance serve` assembles them, /metrics included."""
    config = load_config(env=box_env(data_dir, **env))
    with open_appliance(config, actor="kiosk") as box:
        services = KioskServices(screening=box.screening, exams=box.exams, status=box.status, admin=box.admin,
                                 accounts=Accounts(box.store, config.auth), max_attempts=config.quality.max_attempts,
                                 metrics=MetricsExport(box.metrics, config.metrics.token_file)
                                 if config.metrics.enabled else None)
        yield create_app(services, config.auth, allowed_hosts=["localhost"], max_upload_bytes=2 << 20), box


def screen(box: Appliance, name: str = "healthy_01") -> str:
    captures = [Capture(eye=eye, image=(SAMPLES / f"{name}_{eye.value}.jpg").read_bytes(), source="test")
                for eye in (Eye.RIGHT, Eye.LEFT)]
    exam = box.pipeline.screen(Patient(patient_id=PATIENT), captures, operator="tess")
    return exam.result.outcome.value


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(body: str, metric: str, **labels: str) -> float:
    return samples(body)[(metric, tuple(sorted(labels.items())))]


def test_metrics_need_no_sign_in_and_carry_no_patient_data(tmp_path: Path) -> None:
    with box_with_metrics(tmp_path / "data") as (app, box):
        outcome = screen(box)
        answer = app.test_client().get("/metrics")  # no cookie: a scraper
        body = answer.get_data(as_text=True)
        exam_ids = [row[0] for row in box.store.read(lambda c: c.execute("SELECT exam_id FROM exams").fetchall())]
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain; version=0.0.4")
    assert value(body, "appliance_exams_total", outcome=outcome) == 1
    assert sum(v for (name, _), v in samples(body).items() if name == "appliance_exams_total") == 1
    assert value(body, "appliance_photos_gated_total", verdict="passed") == 2
    assert value(body, "appliance_photos_gated_total", verdict="rejected") == 0
    assert value(body, "appliance_stage_duration_seconds_count", stage="model") == 1
    assert value(body, "appliance_stage_duration_seconds_count", stage="gate") == 2
    assert value(body, "appliance_model_ready") == 1 and value(body, "appliance_ok") == 1
    model = box.model.info
    assert value(body, "appliance_model_info", name=model.name, version=model.version, sha256=model.sha256,
                 runner=model.runner) == 1
    assert value(body, "appliance_sync_pending_items", destination="dicom") == 1  # the exam waits: no PACS here
    assert value(body, "appliance_sync_configured") == 0
    assert value(body, "appliance_drift_watch", check="rejects") == 0
    assert value(body, "appliance_drift_window_photos") == 2 and value(body, "appliance_drift_window_scores") == 2
    assert value(body, "appliance_update_state", state="factory") == 1  # no slots here: the installed firmware
    assert PATIENT not in body
    assert exam_ids and not any(exam_id in body for exam_id in exam_ids)


def test_a_rejected_photo_is_counted_by_its_first_reason(tmp_path: Path) -> None:
    with box_with_metrics(tmp_path / "data") as (app, box):
        exam = box.pipeline.open_exam(Patient(patient_id=PATIENT), operator="tess")
        verdict = box.pipeline.add_capture(exam.exam_id, Capture(
            eye=Eye.RIGHT, image=(SAMPLES / "dark_01_right.jpg").read_bytes(), source="test"), actor="tess")
        body = app.test_client().get("/metrics").get_data(as_text=True)
    assert not verdict.photo.quality.passed
    assert value(body, "appliance_photos_gated_total", verdict="rejected") == 1
    assert value(body, "appliance_gate_rejects_total", reason=verdict.photo.quality.reason_codes[0]) == 1


def test_each_box_counts_in_its_own_registry(tmp_path: Path) -> None:
    with box_with_metrics(tmp_path / "one") as (one, box_one), box_with_metrics(tmp_path / "two") as (two, _):
        screen(box_one)
        first = one.test_client().get("/metrics").get_data(as_text=True)
        second = two.test_client().get("/metrics").get_data(as_text=True)
    total = "appliance_photos_gated_total"
    assert value(first, total, verdict="passed") == 2 and value(second, total, verdict="passed") == 0


def test_metrics_off_answer_404(tmp_path: Path) -> None:
    with box_with_metrics(tmp_path / "data", APPLIANCE_METRICS_ENABLED="false") as (app, _):
        answer = app.test_client().get("/metrics")
    assert answer.status_code == 404 and answer.get_json()["error"] == "metrics_off"


def test_a_token_file_makes_scrapers_send_the_token(tmp_path: Path) -> None:
    token = tmp_path / "metrics.token"
    token.write_text("s3cret-token\n")
    with box_with_metrics(tmp_path / "data", APPLIANCE_METRICS_TOKEN_FILE=str(token)) as (app, _):
        client = app.test_client()
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        token.unlink()
        unreadable = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "s3cret" not in missing.get_data(as_text=True) + wrong.get_data(as_text=True)
    assert right.status_code == 200 and "appliance_ok" in right.get_data(as_text=True)
    assert unreadable.status_code == 503
    assert unreadable.get_json()["error"] == "metrics_unavailable" and str(token) in unreadable.get_json()["message"]


def test_another_host_is_refused_as_everywhere(tmp_path: Path) -> None:
    with box_with_metrics(tmp_path / "data") as (app, _):
        answer = app.test_client().get("/metrics", headers={"Host": "attacker.example"})
    assert answer.status_code == 400


def test_the_alert_rules_name_only_metrics_a_box_exposes(tmp_path: Path) -> None:
    with box_with_metrics(tmp_path / "data") as (app, box):
        screen(box)
        names = {name for name, _ in samples(app.test_client().get("/metrics").get_data(as_text=True))}
    used = set(re.findall(r"\b(appliance_[a-z_]+|process_[a-z_]+)\b", ALERTS.read_text()))
    assert used and used <= names, used - names


def test_healthz_and_the_status_page_carry_the_drift_watch(tmp_path: Path) -> None:
    with running_kiosk(tmp_path / "data") as kiosk:
        health = kiosk.app.test_client().get("/healthz").get_json()
        client, _ = signed_in(kiosk)
        page = client.get("/status").get_data(as_text=True)
    drift = health["drift"]
    assert health["ok"] is True and drift["state"] == "too_few"  # a new box: nothing to compare yet
    assert drift["rejects"]["photos"] == 0 and drift["scores"]["state"] == "too_few"
    assert 'id="drift"' in page and "Not enough photos yet" in page

"""The real kiosk over a real box, for Flask test-client tests: `open_appliance(load_config(...))` on a fresh
data folder (the shipped onnxruntime model, the simulated camera and its demo kinds), a technician and an
administrator made through `Accounts` (argon2id at cheap parameters), and `create_app` as the server
assembles it (appliance/kiosk/server.py), answering Host: localhost."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from auth_fakes import quick_hasher
from flask import Flask
from flask.testing import FlaskClient

from appliance.auth import Accounts, Role
from appliance.config import Config, load_config
from appliance.kiosk.app import create_app
from appliance.kiosk.context import KioskServices
from appliance.runtime import Appliance, open_appliance

ORIGIN = {"Origin": "http://localhost"}
TECH = ("tess", "Tess Technician", Role.TECHNICIAN, "4821")
ADMIN = ("ada", "Ada Admin", Role.ADMIN, "9876")
#: Values for the variables of the URL rules: a made-up exam id (32 hex digits, as the box makes them), photo hash...
PLACEHOLDERS = {"exam_id": uuid.uuid4().hex, "sha256": "ab" * 32, "photo_id": "1", "user_id": "someone",
                "change": "disable", "filename": "kiosk.css", "item_id": "1"}
#: Small enough that a test can go over it, large enough for every demo photo.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


@dataclass
class Kiosk:
    app: Flask
    box: Appliance
    accounts: Accounts
    config: Config

    @property
    def data_dir(self) -> Path:
        return self.config.data_path


def box_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The whole environment load_config sees (nothing from the caller's APPLIANCE_* variables)."""
    return {"APPLIANCE_DATA_DIR": str(data_dir), "APPLIANCE_MODEL_RUNNER": "onnxruntime",
            "APPLIANCE_MODEL_INTRA_OP_THREADS": "1", **extra}


@contextmanager
def running_kiosk(data_dir: Path) -> Iterator[Kiosk]:
    """A box on `data_dir` with its kiosk app, as `appliance serve` builds it (without waitress)."""
    config = load_config(env=box_env(data_dir))
    with open_appliance(config, actor="kiosk") as box:
        accounts = Accounts(box.store, config.auth, hasher=quick_hasher())
        for user_id, name, role, pin in (TECH, ADMIN):
            accounts.add_user(user_id, name, role, pin, actor="setup")
        services = KioskServices(screening=box.screening, exams=box.exams, status=box.status, admin=box.admin,
                                 accounts=accounts, max_attempts=config.quality.max_attempts)
        app = create_app(services, config.auth, allowed_hosts=["localhost", "127.0.0.1:8080"],
                         max_upload_bytes=MAX_UPLOAD_BYTES)
        yield Kiosk(app=app, box=box, accounts=accounts, config=config)


def sign_in(client: FlaskClient, user_id: str, pin: str) -> str:
    """Sign in as the page does (the pre-sign-in token of GET /api/session); the signed-in CSRF token."""
    pre = client.get("/api/session").get_json()["csrf_token"]
    answer = client.post("/api/session", json={"user_id": user_id, "pin": pin},
                         headers={**ORIGIN, "X-CSRF-Token": pre})
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["csrf_token"])


def signed_in(kiosk: Kiosk, who: tuple[str, str, Role, str] = TECH) -> tuple[FlaskClient, str]:
    """A fresh test client signed in as `who` (TECH or ADMIN), and the CSRF token of its sign-in."""
    client = kiosk.app.test_client()
    return client, sign_in(client, who[0], who[3])


def changing(csrf: str) -> dict[str, str]:
    """Headers of a state-changing request from the kiosk's own page."""
    return {**ORIGIN, "X-CSRF-Token": csrf}


def url_for_rule(rule: str) -> str:
    """The rule's path with plausible values for its variables (PLACEHOLDERS)."""
    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m: PLACEHOLDERS[m.group(1)], rule)

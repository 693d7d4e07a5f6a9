"""The box's health: `GET /healthz` (JSON, no sign-in, no patient data) for the fleet, and the status page."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from appliance.kiosk.context import services

status_pages = Blueprint("status_pages", __name__)


@status_pages.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when every check passes, 503 otherwise; the body says which failed."""
    health = services().status.health()
    return jsonify(health), 200 if health["ok"] else 503


@status_pages.get("/status")
def status_page() -> ResponseReturnValue:
    status = services().status
    return render_template("status.html", health=status.health(), sync=status.sync(with_reasons=True))

"""The box's health: `GET /healthz` (JSON, no sign-in, no patient data) for the fleet, and the status page."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from appliance.domain import NOT_VALIDATED_NOTICE
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
    return render_template("status.html", health=status.health(), sync=status.sync(with_reasons=True),
                           notice=NOT_VALIDATED_NOTICE, when=when_words)


def when_words(iso: str | None, *, now: datetime | None = None) -> str:
    """A stored UTC time in the box's local time, as people say it: "today 09:30", "3 Mar 2025 17:02";
    "never" when absent."""
    if not iso:
        return "never"
    try:
        moment = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso
    today = (now or datetime.now().astimezone()).date()
    day = "today" if moment.date() == today else f"{moment.day} {moment:%b %Y}"
    return f"{day} {moment:%H:%M}"

"""What the kiosk's routes are given (narrow services, never the model or the camera) and the small
request helpers every blueprint shares: the signed-in user, JSON bodies, bounded parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from flask import current_app, g, request

from appliance.auth.accounts import Accounts
from appliance.devices.scanner import BarcodeScanner
from appliance.errors import ApplianceError, ExamInputError
from appliance.services import Administration, BoxStatus, ExamRecords, Screening
from appliance.services.orders import ScheduledOrders

if TYPE_CHECKING:
    from appliance.kiosk.metrics import MetricsExport


class UnsupportedMediaTypeError(ApplianceError):
    """The request body is not of the content type the route takes."""

    reason_code = "unsupported_media_type"
    http_status = 415


@dataclass
class KioskServices:
    screening: Screening
    exams: ExamRecords
    status: BoxStatus
    admin: Administration
    accounts: Accounts
    #: Failed photos of one eye after which the kiosk advises dilation or referral.
    max_attempts: int
    #: Today's scheduled patients from the clinic's worklist (None: no worklist configured).
    orders: ScheduledOrders | None = None
    #: What GET /metrics serves (None: `[metrics] enabled = false`, it answers 404).
    metrics: MetricsExport | None = None
    #: The barcode scanner for the patient id (None: the page's keyboard-wedge reading only).
    scanner: BarcodeScanner | None = None


def services() -> KioskServices:
    return cast(KioskServices, current_app.extensions["kiosk"])


def actor() -> str:
    """The signed-in user's id: every audit row names who did it."""
    user = getattr(g, "user", None)
    user_id = getattr(user, "user_id", None)
    if not isinstance(user_id, str) or not user_id:
        raise RuntimeError("a protected route ran without a signed-in user")  # the security layer's job
    return user_id


def json_body() -> dict[str, Any]:
    """The request's JSON object. Raises UnsupportedMediaTypeError (not JSON), ExamInputError (not an object)."""
    if not request.is_json:
        raise UnsupportedMediaTypeError("Send this request as application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ExamInputError("The request body must be a JSON object.", reason_code="body_invalid")
    return body


def text(body: dict[str, Any], key: str, *, required: bool = False, max_length: int = 200) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > max_length:
        raise ExamInputError(f"'{key}' must be text of at most {max_length} characters.", reason_code="body_invalid")
    if required and not value.strip():
        raise ExamInputError(f"'{key}' is required.", reason_code="body_invalid")
    return value


def positive_int(value: Any, name: str, *, maximum: int) -> int:
    """An integer in 1..maximum from JSON or a query string. Raises ExamInputError."""
    if isinstance(value, bool):
        value = None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON 1e400 is an infinite float
        number = 0
    if isinstance(value, float) or not 1 <= number <= maximum:
        raise ExamInputError(f"'{name}' must be a whole number from 1 to {maximum}.", reason_code="parameter_invalid")
    return number

"""JSON API of the worklist: today's exams (each with where its result is on the way to the clinic), the open
ones, a search by patient id (in the body, never the URL: no patient data in URLs or logs), and today's
scheduled patients from the clinic's DICOM Modality Worklist."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from appliance.domain import ExamState
from appliance.errors import ExamInputError, WorklistUnavailableError
from appliance.kiosk.context import actor, json_body, services, text
from appliance.pipeline import MAX_PATIENT_ID_LENGTH
from appliance.summary import order_dict, worklist_dict

worklist_api = Blueprint("worklist_api", __name__)
SCOPES = ("today", "open")


@worklist_api.get("/worklist")
def worklist() -> ResponseReturnValue:
    """`?scope=today` (default): exams opened today; `?scope=open`: every exam still open, any day."""
    scope = request.args.get("scope", "today")
    if scope not in SCOPES:
        raise ExamInputError("'scope' must be today or open.", reason_code="parameter_invalid")
    open_only = scope == "open"
    entries = services().exams.worklist(reader=actor(), today_only=not open_only,
                                        states=(ExamState.OPEN,) if open_only else ())
    return jsonify({"scope": scope, "exams": [worklist_dict(e) for e in entries]})


@worklist_api.post("/worklist/search")
def search() -> ResponseReturnValue:
    """JSON {patient_id}: every exam of that patient, any day, newest first."""
    patient_id = text(json_body(), "patient_id", required=True, max_length=MAX_PATIENT_ID_LENGTH).strip()
    entries = services().exams.worklist(reader=actor(), patient_id=patient_id, today_only=False)
    return jsonify({"scope": "patient", "exams": [worklist_dict(e) for e in entries]})


@worklist_api.get("/worklist/orders")
def orders() -> ResponseReturnValue:
    """Today's scheduled patients for this box: `{"available": true, "configured": true, "orders": [...]}` (each
    with its accession number, patient id, name, birth date, sex, procedure and start), or
    `{"available": false, "configured": ..., "reason": ...}` when no worklist is configured or it cannot be
    asked (the technician then types the id; the kiosk says so only when one is configured)."""
    book = services().orders
    if book is None or not book.configured:
        return jsonify({"available": False, "configured": False,
                        "reason": "No worklist is configured: type the patient's id."})
    try:
        found = book.today()
    except WorklistUnavailableError as exc:
        return jsonify({"available": False, "configured": True, "reason": exc.message})
    services().exams.store.record_audit("orders_viewed", actor=actor(), detail={"rows": len(found)})
    return jsonify({"available": True, "configured": True, "orders": [order_dict(o) for o in found]})

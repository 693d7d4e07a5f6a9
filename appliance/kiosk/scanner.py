"""The barcode scanner for the new-exam form: whether a serial scanner is configured, the pattern a patient id
must match (the page checks keyboard-wedge scans with it too), and the next scan as a long poll."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from appliance.devices.scanner import DEFAULT_PATTERN
from appliance.kiosk.context import positive_int, services

scanner_api = Blueprint("scanner_api", __name__)
#: The longest a page waits in one request (a waitress thread is held meanwhile).
MAX_WAIT_S = 20


@scanner_api.get("/scanner")
def scanner() -> ResponseReturnValue:
    """{configured, connected, pattern}: `pattern` is the regular expression a scanned id must match in full."""
    device = services().scanner
    if device is None:
        return jsonify({"configured": False, "connected": False, "pattern": DEFAULT_PATTERN})
    return jsonify({"configured": device.configured, "connected": device.configured and device.connected(),
                    "pattern": device.pattern.pattern})


@scanner_api.get("/scanner/next")
def next_scan() -> ResponseReturnValue:
    """?wait=S (1..20, default 10): the next scan within S seconds, {configured, scan: {patient_id, refused} | null}.
    Pages send it with X-Idle-Poll: 1 (waiting for a scan is no activity)."""
    device = services().scanner
    if device is None or not device.configured:
        return jsonify({"configured": False, "scan": None})
    wait = request.args.get("wait")
    seconds = 10 if wait in (None, "") else positive_int(wait, "wait", maximum=MAX_WAIT_S)
    scan = device.next_scan(seconds)
    return jsonify({"configured": True, "scan": None if scan is None else scan.as_dict()})

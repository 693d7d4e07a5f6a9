"""JSON API: screen an exam (uploaded files or the camera), read exams back, fetch images."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from appliance.domain import Capture, Eye
from appliance.imaging import decode_image
from appliance.inference.heatmap import HeatmapUnavailableError
from appliance.operating_point import status as operating_point_status
from appliance.runtime import Appliance
from appliance.summary import exam_summary, record_summary

api = Blueprint("api", __name__)
_IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}


def _box() -> Appliance:
    return cast(Appliance, current_app.extensions["appliance"])


@api.get("/health")
def health() -> ResponseReturnValue:
    box = _box()
    info = box.manifest.info(box.runner.name)
    # The operating point in force, and why a stored site operating point is not applied (another model).
    point = operating_point_status(box.store.site_operating_point(), box.manifest)
    return jsonify({"status": "ok", "model": info.__dict__, "camera": box.camera.name, "operating_point": point})


@api.post("/exams")
def create_exam() -> ResponseReturnValue:
    """Screen one exam.

    Form fields: `patient_id`, `operator` (optional), and either files `right` and `left`
    (each once or twice) or `use_camera=1` to photograph both eyes with the configured camera.
    Returns 201 with the exam summary; 4xx JSON {error, message} on bad input.
    """
    box = _box()
    operator = request.form.get("operator", "kiosk")
    if request.form.get("use_camera") in {"1", "true", "on"}:
        captures = [box.camera.capture(Eye.RIGHT), box.camera.capture(Eye.LEFT)]
    else:
        captures = [
            Capture(eye=eye, image=upload.read(), source=f"upload:{upload.filename or 'unnamed'}")
            for eye in Eye
            for upload in request.files.getlist(eye.value)
        ]
    exam = box.pipeline.screen(request.form.get("patient_id", ""), captures, operator=operator)
    summary = exam_summary(exam, box.config.quality)
    box.store.record_audit("result_shown", actor=operator, exam_id=exam.exam_id,
                           detail={"outcome": exam.result.outcome.value, "via": "kiosk"})
    return jsonify(summary), 201


@api.get("/exams")
def list_exams() -> ResponseReturnValue:
    limit = request.args.get("limit", default=50, type=int) or 50
    return jsonify([record_summary(record) for record in _box().store.list_exams(limit=min(limit, 500))])


@api.get("/exams/<exam_id>")
def get_exam(exam_id: str) -> ResponseReturnValue:
    return jsonify(record_summary(_box().store.get_exam(exam_id)))


def _stored(sha256: str) -> bytes | None:
    try:
        return _box().store.image_bytes(sha256)
    except KeyError:
        return None


_NOT_FOUND = {"error": "image_not_found", "message": "No such image on this appliance."}


@api.get("/images/<sha256>/heatmap")
def heatmap(sha256: str) -> ResponseReturnValue:
    """PNG: the model's view of a stored photo with its class-activation heatmap (a review aid, not validated)."""
    box = _box()
    if box.heatmap is None:
        error = HeatmapUnavailableError(f"Model {box.manifest.name} {box.manifest.version} has no heatmap model.")
        return jsonify(error.to_dict()), error.http_status
    data = _stored(sha256)
    if data is None:
        return jsonify(_NOT_FOUND), 404
    png = box.heatmap.overlay_png(decode_image(data, box.config.limits))
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


@api.get("/images/<sha256>")
def image(sha256: str) -> ResponseReturnValue:
    data = _stored(sha256)
    if data is None:
        return jsonify(_NOT_FOUND), 404
    mime = next((m for magic, m in _IMAGE_TYPES.items() if data.startswith(magic)), "application/octet-stream")
    return Response(data, mimetype=mime)

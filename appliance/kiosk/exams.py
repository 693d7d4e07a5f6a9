"""JSON API of the exam: open it, take or upload photos (each gated at once), confirm an eye, finish or
cancel it, read it back; the one-shot form for integrations; photos and heatmaps."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from appliance import timing
from appliance.domain import Capture, ExamState, Eye, Field, Patient, ScheduledOrder, Sex
from appliance.errors import BusyError, ExamInputError, ExamNotFoundError
from appliance.kiosk.context import (
    UnsupportedMediaTypeError,
    actor,
    json_body,
    positive_int,
    services,
    text,
)
from appliance.pipeline import MAX_PATIENT_ID_LENGTH, MAX_PHOTOS, CaptureVerdict
from appliance.summary import exam_summary, photo_dict, session_summary

log = logging.getLogger(__name__)
exams_api = Blueprint("exams_api", __name__)
_EXAM_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}


@exams_api.before_request
def record_stages() -> None:
    timing.start_recording()


@exams_api.after_request
def answer_stages(response: Response) -> Response:
    """The seconds each step of the exam took in this request, as a `Server-Timing` header (read by
    bench/exam.py and a browser's developer tools; durations only, nothing about the patient)."""
    recorded = timing.take_recorded()
    if recorded:
        response.headers["Server-Timing"] = timing.server_timing(recorded)
    return response


@exams_api.app_errorhandler(BusyError)
def busy(exc: BusyError) -> ResponseReturnValue:
    """503 with Retry-After: the box is at its bound of work in flight (appliance/admission.py)."""
    log.warning("%s: %s", exc.reason_code, exc.detail)
    response = jsonify(exc.to_dict())
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response, exc.http_status


def exam_id_or_404(exam_id: str) -> str:
    """Ids from the client are checked before use so that none is ever logged raw."""
    if not _EXAM_ID.match(exam_id):
        raise ExamNotFoundError("This exam was not found on the appliance.")
    return exam_id


def patient_from(values: dict[str, Any]) -> Patient:
    """The patient of a new exam from JSON or form fields. Raises ExamInputError."""
    birth_text = text(values, "birth_date", max_length=10).strip()
    birth: date | None = None
    if birth_text:
        try:
            birth = date.fromisoformat(birth_text)
        except ValueError:
            birth = None
        if birth is None or birth.year < 1900:
            raise ExamInputError("Enter the date of birth as YYYY-MM-DD.", reason_code="birth_date_invalid")
    sex_text = text(values, "sex", max_length=10).strip() or Sex.UNKNOWN.value
    try:
        sex = Sex(sex_text)
    except ValueError:
        raise ExamInputError("Sex must be female, male, other or unknown.", reason_code="sex_invalid") from None
    return Patient(patient_id=text(values, "patient_id", max_length=MAX_PATIENT_ID_LENGTH * 4), birth_date=birth,
                   sex=sex)


def patient_and_order(body: dict[str, Any]) -> tuple[Patient, ScheduledOrder | None]:
    """The patient of a new exam and, when `accession_number` is given, the worklist order it is for.
    Raises ExamInputError (no worklist, order not on it, a patient id that is not the order's),
    WorklistUnavailableError."""
    patient = patient_from(body)
    accession = text(body, "accession_number", max_length=64).strip()
    if not accession:
        return patient, None
    orders = services().orders
    if orders is None or not orders.configured:
        raise ExamInputError("No worklist is configured: type the patient's id instead.",
                             reason_code="worklist_not_configured")
    order = orders.find(accession)
    typed = patient.patient_id.strip()
    if typed and typed != order.patient_id:
        raise ExamInputError("The patient id typed is not the order's: pick the order again or type the id alone.",
                             reason_code="order_patient_mismatch")
    return Patient(patient_id=order.patient_id, birth_date=patient.birth_date or order.birth_date,
                   sex=patient.sex if patient.sex is not Sex.UNKNOWN else order.sex), order


def eye_from(value: Any) -> Eye:
    try:
        return Eye(value)
    except ValueError:
        raise ExamInputError("'eye' must be right or left.", reason_code="eye_invalid") from None


def field_from(value: Any) -> Field:
    try:
        return Field(value or Field.UNKNOWN.value)
    except ValueError:
        raise ExamInputError("'field' must be macula, disc or unknown.", reason_code="field_invalid") from None


@exams_api.post("/exams")
def create_exam() -> ResponseReturnValue:
    """JSON {patient_id, birth_date?, sex?, accession_number?}: open an exam (201, the open exam, and how many
    other exams this patient had today); with `accession_number` (one of GET /api/worklist/orders) the exam
    is the order's: its patient (id, birth date, sex unless given) and its accession number and study.
    multipart/form-data: the one-shot form (see `one_shot`)."""
    if request.mimetype == "multipart/form-data":
        return one_shot()
    body = json_body()
    box = services()
    patient, order = patient_and_order(body)
    session = box.screening.open_exam(patient, operator=actor(), order=order)
    others = [e for e in box.exams.exams_today(session.patient_id) if e.exam_id != session.exam_id]
    summary = session_summary(session, box.max_attempts)
    summary["same_day_exams"] = len(others)
    return jsonify(summary), 201


def one_shot() -> ResponseReturnValue:
    """Form fields patient_id, birth_date?, sex?, confirm_eyes?, and files `right` and `left` (each once or
    twice) or `use_camera=1`: open, fill and finish one exam. 201 with the result."""
    box = services()
    form = request.form.to_dict()
    who = actor()
    if form.get("use_camera") in {"1", "true", "on"}:
        camera = box.screening.camera
        captures = [camera.capture(Eye.RIGHT), camera.capture(Eye.LEFT)]
    else:
        captures = [Capture(eye=eye, image=upload.read(), source="upload")
                    for eye in Eye for upload in request.files.getlist(eye.value)]
    exam = box.screening.screen(patient_from(form), captures, operator=who,
                                confirm_eyes=form.get("confirm_eyes") in {"1", "true", "on"})
    box.exams.result_shown(exam, reader=who, via="api")
    return jsonify(exam_summary(exam)), 201


@exams_api.get("/exams/<exam_id>")
def get_exam(exam_id: str) -> ResponseReturnValue:
    """The exam as a session (open, finished or cancelled) and, once finished, its result."""
    box = services()
    session = box.exams.session(exam_id_or_404(exam_id), reader=actor())
    answer = session_summary(session, box.max_attempts)
    if session.state is ExamState.FINISHED:
        answer["result"] = exam_summary(box.exams.store.get_exam(session.exam_id))
    return jsonify(answer)


@exams_api.post("/exams/<exam_id>/photos")
def add_photo(exam_id: str) -> ResponseReturnValue:
    """JSON {eye, field?, replaces?, kind?}: photograph the eye with the box's camera (`kind`: a demo photo
    on the simulated camera). multipart: fields eye, field?, replaces? and the file `photo`. 201 with the
    photo's verdict, the advice for that eye and the exam."""
    box = services()
    exam_id = exam_id_or_404(exam_id)
    if request.mimetype == "multipart/form-data":
        values: dict[str, Any] = request.form.to_dict()
        upload = request.files.get("photo")
        if upload is None:
            raise ExamInputError("Attach the photo as the file field 'photo'.", reason_code="photo_missing")
        replaces = _replaces(values)
        capture = Capture(eye=eye_from(values.get("eye")), image=upload.read(), source="upload",
                          field=field_from(values.get("field")))
        verdict = box.screening.add_photo(exam_id, capture, actor=actor(), replaces=replaces)
    elif request.is_json:
        values = json_body()
        kind = text(values, "kind", max_length=40).strip() or None
        _check_kind(kind)
        verdict = box.screening.take_photo(exam_id, eye_from(values.get("eye")), actor=actor(),
                                           field=field_from(values.get("field")), replaces=_replaces(values),
                                           kind=kind)
    else:
        raise UnsupportedMediaTypeError("Send JSON to use the camera, or multipart/form-data to upload a photo.")
    return jsonify(verdict_dict(verdict, box.max_attempts)), 201


def _check_kind(kind: str | None) -> None:
    """A demo photo kind the camera has: asking for another is the client's mistake (400), not a camera
    failure (503). The kind is not repeated in the sentence, which is logged."""
    if kind is None:
        return
    kinds = services().screening.camera.kinds()
    if kind not in kinds:
        raise ExamInputError(f"The camera has no such kind of demo photo: choose one of {', '.join(kinds)}."
                             if kinds else "This camera takes real photos only: leave out 'kind'.",
                             reason_code="camera_kind_invalid")


def _replaces(values: dict[str, Any]) -> int | None:
    value = values.get("replaces")
    return None if value in (None, "") else positive_int(value, "replaces", maximum=MAX_PHOTOS)


def verdict_dict(verdict: CaptureVerdict, max_attempts: int) -> dict[str, Any]:
    return {
        "photo": photo_dict(verdict.photo),
        "advice": {"message": verdict.guidance.message, "failed_attempts": verdict.guidance.failed_attempts,
                   "escalate": verdict.guidance.escalate},
        "eye_warning": verdict.eye_warning,
        "exam": session_summary(verdict.session, max_attempts),
    }


@exams_api.post("/exams/<exam_id>/photos/<int:photo_id>/confirm-eye")
def confirm_eye(exam_id: str, photo_id: int) -> ResponseReturnValue:
    box = services()
    session = box.screening.confirm_eye(exam_id_or_404(exam_id), photo_id, actor=actor())
    return jsonify(session_summary(session, box.max_attempts))


@exams_api.post("/exams/<exam_id>/finish")
def finish(exam_id: str) -> ResponseReturnValue:
    """Score, decide and store; 200 with the result (stored before it is answered)."""
    box = services()
    who = actor()
    exam = box.screening.finish(exam_id_or_404(exam_id), actor=who)
    box.exams.result_shown(exam, reader=who, via="kiosk")
    return jsonify(exam_summary(exam))


@exams_api.post("/exams/<exam_id>/cancel")
def cancel(exam_id: str) -> ResponseReturnValue:
    """JSON {reason}: stop an open exam without a result (audited)."""
    box = services()
    reason = text(json_body(), "reason", max_length=200)
    session = box.screening.cancel(exam_id_or_404(exam_id), actor=actor(), reason=reason)
    return jsonify(session_summary(session, box.max_attempts))


@exams_api.get("/camera")
def camera() -> ResponseReturnValue:
    """The camera's kind and, for the simulated camera, the demo photo kinds it can give."""
    cam = services().screening.camera
    return jsonify({"kind": cam.name, "demo_kinds": list(cam.kinds())})


_NOT_FOUND = {"error": "image_not_found", "message": "No such image on this appliance."}


def _photo_or_none(sha256: str) -> bytes | None:
    if not _SHA256.match(sha256):
        return None
    try:
        return services().exams.photo(sha256)
    except KeyError:
        return None


@exams_api.get("/images/<sha256>")
def image(sha256: str) -> ResponseReturnValue:
    data = _photo_or_none(sha256)
    if data is None:
        return jsonify(_NOT_FOUND), 404
    mime = next((m for magic, m in _IMAGE_TYPES.items() if data.startswith(magic)), "application/octet-stream")
    return Response(data, mimetype=mime)


@exams_api.get("/images/<sha256>/heatmap")
def heatmap(sha256: str) -> ResponseReturnValue:
    """PNG: the model's view of a stored photo with its class-activation heatmap (a review aid, not validated)."""
    if _photo_or_none(sha256) is None:
        return jsonify(_NOT_FOUND), 404
    return Response(services().exams.heatmap(sha256), mimetype="image/png")

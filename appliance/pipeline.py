"""The exam as a session, start to finish: the only place that knows the order of the steps.

open_exam(patient, operator) → add_capture(exam, capture) for each photo: decode → quality gate at once →
the photo stored with its verdict (durable), the retake sentence or, after `[quality] max_attempts` failed
photos of an eye, dilation/referral advice; a retake replaces a photo → finish(exam): the model on the
gradable photos → decision at the operating point in force (the model's locked threshold, or the site's
adopted one, read for every exam) → the result stored durably before anyone can see it.

`screen()` is the one-shot form for integrations and the CLI: the same session opened, filled and
finished in one call, with nothing stored unless every photo could be decoded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from appliance.admission import Admission
from appliance.config import Config
from appliance.decision import decide
from appliance.domain import (
    Capture,
    Exam,
    ExamSession,
    ExamState,
    Eye,
    GateSettings,
    Patient,
    Prediction,
    ScheduledOrder,
    ScreenedImage,
    SessionPhoto,
    utc_now,
)
from appliance.errors import ExamInputError, ExamStateError, EyeSideDoubtError, ImageError
from appliance.imaging import decode_image
from appliance.inference.model import Model
from appliance.observability.hooks import UNOBSERVED, ExamObserver
from appliance.operating_point import effective_operating_point
from appliance.quality import (
    RetakeGuidance,
    assess,
    circle_from_metrics,
    eye_from_metrics,
    field_from_metrics,
    retake_guidance,
)
from appliance.store import ExamStore
from appliance.timing import stage

MAX_IMAGES_PER_EYE = 2
MAX_PATIENT_ID_LENGTH = 64
#: Photos one exam may hold, retakes included: far more than any real exam takes.
MAX_PHOTOS = 40


@dataclass(frozen=True)
class CaptureVerdict:
    """What the technician sees at once after a photo: the photo with its gate verdict, the advice for
    that eye (retake sentence, or dilate/refer once escalated), and a left/right warning ("" if none)."""

    photo: SessionPhoto
    guidance: RetakeGuidance
    eye_warning: str
    session: ExamSession


@dataclass
class ScreeningPipeline:
    config: Config
    model: Model
    store: ExamStore
    #: Told of every gate verdict, refused photo and finished exam (the box's metrics).
    observer: ExamObserver = UNOBSERVED
    #: The photos decoded and gated, and the exams scored, at once ([server] photos_at_once, results_at_once).
    admission: Admission = field(init=False, repr=False)

    def __post_init__(self) -> None:
        server = self.config.server
        self.admission = Admission.bounded(server.photos_at_once, server.results_at_once, server.busy_wait_s)

    def open_exam(self, patient: Patient, *, operator: str, order: ScheduledOrder | None = None) -> ExamSession:
        """Open an exam for a patient, durable on return; `order` is the worklist order it was chosen from
        (its Accession Number and Study Instance UID then go with everything the exam sends).

        Raises:
            ExamInputError: no or bad patient id, a birth date in the future. StorageError.
        """
        patient = dataclasses.replace(patient, patient_id=clean_patient_id(patient.patient_id))
        if patient.birth_date is not None and patient.birth_date > utc_now().date():
            raise ExamInputError("The date of birth is in the future: check it.", reason_code="birth_date_invalid")
        session = ExamSession(exam_id=new_exam_id(), patient=patient, operator=operator, opened_at=utc_now(),
                              order=order)
        self.store.open_session(session, actor=operator)
        return session

    def add_capture(self, exam_id: str, capture: Capture, *, actor: str, replaces: int | None = None) -> CaptureVerdict:
        """Gate one photo at once and store it with its verdict (durable on return).

        A retake replaces `replaces` (a photo of the same eye still in use) or, when not given, the eye's
        newest failed photo. An eye holds at most two photos in use.

        Raises:
            ImageError: the photo cannot be decoded or is of an unsupported kind (nothing stored).
            ExamInputError: too many photos of the eye, a bad `replaces`, or the same photo as the other
            eye's (EyeSideDoubtError; nothing stored), a file labelled with another patient (nothing stored).
            ExamStateError / ExamNotFoundError. StorageError. BusyError: too many photos at once (nothing
            stored; try again). A file labelled as the other eye is stored with a
            left/right doubt, as is a photo whose optic disc is on the other side.
        """
        session = self.store.get_session(exam_id)
        if session.state is not ExamState.OPEN:
            raise ExamStateError(f"This exam is already {session.state.value}: start a new exam.")
        sha256 = hashlib.sha256(capture.image).hexdigest()
        with self.admission.photos.held():  # every pixel is decoded: BusyError when too many are at once
            try:
                if len(session.photos) >= MAX_PHOTOS:
                    raise ExamInputError(f"This exam already has {MAX_PHOTOS} photos: finish or cancel it.",
                                         reason_code="too_many_photos")
                replaced = _photo_to_replace(session, capture.eye, replaces)
                _refuse_same_photo_for_both_eyes(session, capture.eye, sha256)
                _refuse_other_patients_photo(session, capture)
                with stage("decode"):
                    image = decode_image(capture.image, self.config.limits)
            except (ExamInputError, ImageError) as exc:
                self.store.record_audit("photo_rejected", actor=actor, exam_id=exam_id, detail={
                    "eye": capture.eye.value, "reason_code": exc.reason_code})
                self.observer.photo_refused(exc.reason_code)
                raise
            with stage("gate"):
                report = assess(image, self.config.quality)
            del image  # the pixels are not needed while the photo is stored
        # A file labelled as the other eye (a DICOM header) is doubted like a disc on the other side.
        labelled = capture.labelled_eye if capture.labelled_eye not in (None, capture.eye) else None
        looks_like = labelled or (eye_from_metrics(report.metrics) if report.passed else None)
        photo = SessionPhoto(
            photo_id=1 + max((p.photo_id for p in session.photos), default=0), eye=capture.eye, sha256=sha256,
            quality=report, source=capture.source, field=capture.field, device=capture.device,
            captured_at=capture.captured_at, detected_field=field_from_metrics(report.metrics),
            looks_like=looks_like, eye_confirmed=looks_like is None or looks_like is capture.eye,
        )
        with stage("store"):
            self.store.add_photo(exam_id, photo, capture.image, replaces=replaced, actor=actor)
        self.observer.photo_gated(report)
        session = self.store.get_session(exam_id)
        guidance = retake_guidance([p.quality for p in session.attempts(capture.eye)], self.config.quality.max_attempts)
        return CaptureVerdict(photo=photo, guidance=guidance, eye_warning=eye_warning(photo), session=session)

    def confirm_eye(self, exam_id: str, photo_id: int, *, actor: str) -> ExamSession:
        """The technician confirms the declared eye of a photo the gate doubted (audited).

        Raises:
            ExamInputError: no such photo in use. ExamStateError / ExamNotFoundError. StorageError.
        """
        session = self.store.get_session(exam_id)
        if not any(p.photo_id == photo_id for p in session.current()):
            raise ExamInputError("There is no such photo in this exam to confirm.", reason_code="photo_not_found")
        self.store.confirm_eye(exam_id, photo_id, actor=actor)
        return self.store.get_session(exam_id)

    def cancel(self, exam_id: str, *, actor: str, reason: str) -> ExamSession:
        """Stop an open exam without a result (audited with its reason). Raises ExamStateError, StorageError."""
        self.store.cancel_session(exam_id, actor=actor, reason=reason.strip()[:200] or "cancelled")
        return self.store.get_session(exam_id)

    def finish(self, exam_id: str, *, actor: str) -> Exam:
        """Score the gradable photos in use, decide, and store the result durably before returning it.

        Raises:
            ExamInputError: an eye without any photo; EyeSideDoubtError: a left/right doubt not yet confirmed.
            ExamStateError / ExamNotFoundError. ModelError: the model failed. StorageError. BusyError: too many
            exams being scored at once (nothing changed; try again).
        """
        session = self.store.get_session(exam_id)
        if session.state is not ExamState.OPEN:
            raise ExamStateError(f"This exam is already {session.state.value}: start a new exam.")
        photos = session.current()
        check_complete(photos)
        gradable = [p for p in photos if p.quality.passed]
        with self.admission.results.held():  # BusyError when too many exams are being scored at once
            with stage("decode"):
                # At the model's size (the gate, which needs every pixel, judged them at capture).
                images = [decode_image(self.store.image_bytes(p.sha256), self.config.limits, reduced=True)
                          for p in gradable]
            with stage("model"):
                # Cut around the aperture circle the gate fitted at capture: not fitted a second time.
                circles = [circle_from_metrics(p.quality.metrics, *image.shape[:2])
                           for p, image in zip(gradable, images, strict=True)]
                scores = self.model.score(images, circles)
            del images
        by_id = dict(zip((p.photo_id for p in gradable), scores, strict=True))
        model = self.model.info
        screened = tuple(ScreenedImage(photo=p, prediction=None if p.photo_id not in by_id
                                       else Prediction(score=by_id[p.photo_id], model=model)) for p in photos)
        findings = [i.finding for i in screened]
        quality = self.config.quality
        with stage("decision"):
            # Read per exam: an operating point adopted or reverted while the box runs applies at once.
            result = decide(findings, effective_operating_point(self.store.site_operating_point(), self.model.manifest))
        exam = Exam(
            exam_id=exam_id, patient=session.patient, images=screened, result=result, model=model,
            gate=GateSettings(profile=quality.profile, max_attempts=quality.max_attempts,
                              thresholds=dataclasses.asdict(quality)),
            opened_at=session.opened_at, operator=session.operator, attempts=session.photos, order=session.order,
        )
        with stage("store"):
            self.store.finish_exam(exam, actor=actor)
        self.observer.exam_finished(result.outcome)
        return exam

    def screen(self, patient: Patient | str, captures: Sequence[Capture], *, operator: str,
               confirm_eyes: bool = False) -> Exam:
        """The one-shot exam: open, add every photo, finish. Nothing is stored unless every photo decodes
        and the exam has both eyes; a left/right doubt cancels the exam (audited) and raises
        EyeSideDoubtError unless `confirm_eyes` says the caller vouches for the eye labels (audited).

        Raises:
            ExamInputError, ImageError (nothing stored), EyeSideDoubtError, ModelError, StorageError.
        """
        if isinstance(patient, str):
            patient = Patient(patient_id=patient)
        try:
            clean_patient_id(patient.patient_id)
            check_shape(captures)
            for capture in captures:
                decode_image(capture.image, self.config.limits, reduced=True)  # can it be decoded at all
        except (ExamInputError, ImageError) as exc:
            self.store.record_audit("exam_rejected", actor=operator, detail={
                "reason_code": exc.reason_code, "message": exc.message})
            raise
        session = self.open_exam(patient, operator=operator)
        for capture in captures:
            verdict = self.add_capture(session.exam_id, capture, actor=operator)
            if verdict.eye_warning:
                if not confirm_eyes:
                    self.cancel(session.exam_id, actor=operator, reason="left/right doubt in a one-shot exam")
                    raise EyeSideDoubtError(verdict.eye_warning + " Nothing was screened.")
                self.confirm_eye(session.exam_id, verdict.photo.photo_id, actor=operator)
        return self.finish(session.exam_id, actor=operator)


def eye_warning(photo: SessionPhoto) -> str:
    """The left/right sentence for a photo the gate thinks shows the other eye ("" otherwise)."""
    if photo.eye_confirmed or photo.looks_like is None:
        return ""
    return (f"This photo looks like a {photo.looks_like.value} eye (by its optic disc or its file's label), but "
            f"it was taken as the {photo.eye.value} eye: confirm it is the {photo.eye.value} eye, or retake.")


def clean_patient_id(patient_id: str) -> str:
    """The patient id without surrounding spaces. Raises ExamInputError: empty, too long, unprintable."""
    cleaned = patient_id.strip()
    if not cleaned:
        raise ExamInputError("Enter the patient's id before screening.", reason_code="patient_id_missing")
    if len(cleaned) > MAX_PATIENT_ID_LENGTH or not cleaned.isprintable():
        raise ExamInputError(
            f"The patient id must be at most {MAX_PATIENT_ID_LENGTH} printable characters.",
            reason_code="patient_id_invalid",
        )
    return cleaned


def check_shape(captures: Sequence[Capture]) -> None:
    """A one-shot exam: both eyes, at most two photos each, no photo given for both eyes."""
    for eye in Eye:
        _check_eye_count(eye, sum(1 for c in captures if c.eye is eye))
    right = {hashlib.sha256(c.image).hexdigest() for c in captures if c.eye is Eye.RIGHT}
    if any(hashlib.sha256(c.image).hexdigest() in right for c in captures if c.eye is Eye.LEFT):
        raise EyeSideDoubtError(SAME_PHOTO)


def check_complete(photos: Sequence[SessionPhoto]) -> None:
    """Before finishing: both eyes photographed, no left/right doubt waiting."""
    for eye in Eye:
        _check_eye_count(eye, sum(1 for p in photos if p.eye is eye))
    doubtful = [p for p in photos if p.eye_doubt]
    if doubtful:
        raise EyeSideDoubtError(
            f"Photo {doubtful[0].photo_id} may show the other eye: confirm the eye or retake it before finishing.")


SAME_PHOTO = "The same photo was given for both eyes: photograph each eye separately."


def _check_eye_count(eye: Eye, count: int) -> None:
    if count == 0:
        raise ExamInputError(f"No {eye.value}-eye image: photograph both eyes before screening.",
                             reason_code=f"{eye.value}_eye_missing")
    if count > MAX_IMAGES_PER_EYE:
        raise ExamInputError(f"Too many {eye.value}-eye images ({count}): at most {MAX_IMAGES_PER_EYE} per eye.",
                             reason_code="too_many_images")


def _photo_to_replace(session: ExamSession, eye: Eye, replaces: int | None) -> int | None:
    in_use = session.current(eye)
    if replaces is not None:
        if not any(p.photo_id == replaces for p in in_use):
            raise ExamInputError(f"Photo {replaces} is not a {eye.value}-eye photo in use: nothing to retake.",
                                 reason_code="photo_not_found")
        return replaces
    failed = [p for p in in_use if not p.quality.passed]
    if failed:
        return failed[-1].photo_id
    if len(in_use) >= MAX_IMAGES_PER_EYE:
        raise ExamInputError(f"The {eye.value} eye already has {MAX_IMAGES_PER_EYE} good photos: choose one to retake.",
                             reason_code="too_many_images")
    return None


def _refuse_other_patients_photo(session: ExamSession, capture: Capture) -> None:
    """A photo whose file names another patient (a DICOM Patient ID) is never put in this exam."""
    labelled = (capture.labelled_patient_id or "").strip()
    if labelled and labelled != session.patient_id:
        raise ExamInputError("This photo's file is for another patient than this exam's: check who is at the "
                             "camera and which exam is open, then photograph again.",
                             reason_code="photo_patient_mismatch")


def _refuse_same_photo_for_both_eyes(session: ExamSession, eye: Eye, sha256: str) -> None:
    if any(p.sha256 == sha256 for p in session.current() if p.eye is not eye):
        raise EyeSideDoubtError(SAME_PHOTO)


def new_exam_id() -> str:
    return uuid.uuid4().hex

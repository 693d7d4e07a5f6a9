"""The clinic's nouns: exams, captures, quality reports, predictions, results. Plain data, no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any


class Eye(str, Enum):
    RIGHT = "right"
    LEFT = "left"


class Field(str, Enum):
    """Which 45° field the photo shows (disc-centred, macula-centred) when known."""

    MACULA = "macula"
    DISC = "disc"
    UNKNOWN = "unknown"


class Sex(str, Enum):
    """Administrative sex as the clinic records it (optional on an exam)."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class ExamState(str, Enum):
    """Where an exam is in its life: photos being taken, a stored result, or stopped without one."""

    OPEN = "open"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class Outcome(str, Enum):
    REFER = "REFER"
    NO_REFER = "NO_REFER"
    UNGRADABLE = "UNGRADABLE"


#: What the operator reads, in the autonomous devices' plain wording (CLINICAL.md).
OUTCOME_MESSAGES: dict[Outcome, str] = {
    Outcome.REFER: "More than mild diabetic retinopathy detected: refer to an eye care professional.",
    Outcome.NO_REFER: "Negative for more than mild diabetic retinopathy: rescreen in 12 months.",
    Outcome.UNGRADABLE: "Insufficient exam quality: retake the images.",
}

#: Shown beside every result: no model trained here is clinically validated.
NOT_VALIDATED_NOTICE = (
    "Reference model for development: not clinically validated. Not for diagnostic use."
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Patient:
    """Who is screened: the clinic's identifier, and the date of birth and sex when given."""

    patient_id: str
    birth_date: date | None = None
    sex: Sex = Sex.UNKNOWN


@dataclass(frozen=True)
class ScheduledOrder:
    """A screening the clinic scheduled for this box: one item of its DICOM Modality Worklist.

    An exam opened from an order carries its Accession Number and Study Instance UID into everything it
    sends, so the PACS and the EHR file the result under the order. `patient_name` is the DICOM person
    name as the worklist gave it ("FAMILY^GIVEN"); `scheduled_start` is the step's local date and time
    as given ("" when absent).
    """

    accession_number: str
    study_instance_uid: str = ""
    requested_procedure: str = ""
    patient_name: str = ""
    patient_id: str = ""
    birth_date: date | None = None
    sex: Sex = Sex.UNKNOWN
    scheduled_start: str = ""


@dataclass(frozen=True)
class GateSettings:
    """The quality gate's camera profile and every threshold it judged with: recorded on each exam."""

    profile: str
    max_attempts: int
    thresholds: Mapping[str, Any]


@dataclass(frozen=True)
class Capture:
    """One photograph of one eye, as it came from a source (camera, file, upload).

    `labelled_eye` and `labelled_patient_id` are what the source's file says (a DICOM header's laterality and
    Patient ID; None when it says nothing): the exam doubts a photo labelled as the other eye and refuses one
    labelled with another patient.
    """

    eye: Eye
    image: bytes
    source: str
    field: Field = Field.UNKNOWN
    device: str = ""
    captured_at: datetime = dataclasses.field(default_factory=utc_now)
    labelled_eye: Eye | None = None
    labelled_patient_id: str | None = None


@dataclass(frozen=True)
class QualityReport:
    """The quality gate's verdict on one image.

    `reason_codes` are stable identifiers (e.g. "blurred", "too_dark"), ordered by what to fix
    first; `operator_message` is one sentence of retake guidance ("" when the image passed);
    `metrics` are the measured values behind the verdict.
    """

    passed: bool
    reason_codes: tuple[str, ...] = ()
    operator_message: str = ""
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of the model that produced a score: every result records it."""

    name: str
    version: str
    sha256: str
    runner: str


@dataclass(frozen=True)
class Prediction:
    """The model's probability of referable DR (ICDR grade >= 2) for one image, in [0, 1]."""

    score: float
    model: ModelInfo


@dataclass(frozen=True)
class ImageFinding:
    """What the exam decision needs to know of one image."""

    eye: Eye
    gradable: bool
    score: float | None = None


class OperatingPointSource(str, Enum):
    """Where a result's threshold came from: the model's locked one, or one a site adopted."""

    LOCKED = "locked"
    SITE = "site"


@dataclass(frozen=True)
class SiteOperatingPoint:
    """A threshold an administrator adopted from a site-validation report (`appliance operating-point adopt`).

    It applies only to the model whose sha256 it was adopted for. `n_photos` is the number of the
    site's labelled, gate-passed photos it was chosen on (`n_referable` of them referable), to
    reach `target_sensitivity` on them; `report_sha256` identifies the report it came from.
    """

    threshold: float
    model_sha256: str
    adopted_at: datetime
    adopted_by: str
    n_photos: int
    n_referable: int
    target_sensitivity: float
    report_sha256: str
    site_data: str = ""


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a result was decided at, and where it came from; recorded on every result.

    `locked_threshold` is the model's own (manifest) threshold, kept even when a site's applies.
    `note` says, in plain words, why a stored site operating point was NOT applied ("" otherwise).
    """

    source: OperatingPointSource
    threshold: float
    locked_threshold: float
    adopted_at: datetime | None = None
    n_photos: int | None = None
    n_referable: int | None = None
    note: str = ""

    @classmethod
    def locked(cls, threshold: float, note: str = "") -> OperatingPoint:
        return cls(OperatingPointSource.LOCKED, threshold, threshold, note=note)

    @classmethod
    def from_site(cls, site: SiteOperatingPoint, locked_threshold: float) -> OperatingPoint:
        return cls(OperatingPointSource.SITE, site.threshold, locked_threshold, site.adopted_at,
                   site.n_photos, site.n_referable)

    @property
    def description(self) -> str:
        """What the operator reads beside the result."""
        if self.source is OperatingPointSource.SITE and self.adopted_at is not None:
            return (f"site operating point adopted on {self.adopted_at.date().isoformat()} from {self.n_photos} "
                    f"photos (threshold {self.threshold:.4f}; the model's locked threshold is "
                    f"{self.locked_threshold:.4f})")
        text = f"the model's locked threshold {self.threshold:.4f}"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class Result:
    """The exam-level outcome for the person, with reasons and the operating point used.

    `threshold` is the referable-DR probability the eyes were compared with; `operating_point`
    says where it came from (None only for results made before operating points existed).
    """

    outcome: Outcome
    reasons: tuple[str, ...]
    eye_scores: dict[Eye, float | None]
    threshold: float
    operating_point: OperatingPoint | None = None

    @property
    def message(self) -> str:
        return OUTCOME_MESSAGES[self.outcome]


@dataclass(frozen=True)
class Exam:
    """A finished screening exam of one person: both eyes, one or two images each, its result,
    the model and the gate settings that made it. `created_at` is when the result was made;
    `opened_at` when the exam was opened (the same for a one-shot exam)."""

    exam_id: str
    patient: Patient
    images: tuple[ScreenedImage, ...]
    result: Result
    model: ModelInfo
    gate: GateSettings | None = None
    created_at: datetime = dataclasses.field(default_factory=utc_now)
    opened_at: datetime | None = None
    operator: str = ""
    #: Every photo taken during the exam, retaken ones included (for the retake and escalation advice).
    attempts: tuple[SessionPhoto, ...] = ()
    #: The worklist order the exam was opened from (None when the patient id was typed).
    order: ScheduledOrder | None = None

    @property
    def patient_id(self) -> str:
        return self.patient.patient_id


@dataclass(frozen=True)
class SessionPhoto:
    """One photo taken during an exam, judged by the gate at once; its bytes are in the store.

    `photo_id` numbers the exam's photos from 1 in the order taken. `field` is the field the source
    declared, `detected_field` the one the gate found. `looks_like` is the eye the gate thinks the
    photo shows (None when it cannot tell); `eye_confirmed` is False while a left/right doubt waits
    for the technician. `replaced` is True once a retake took its place (kept for the record and
    for counting failed attempts).
    """

    photo_id: int
    eye: Eye
    sha256: str
    quality: QualityReport
    source: str = ""
    field: Field = Field.UNKNOWN
    device: str = ""
    captured_at: datetime = dataclasses.field(default_factory=utc_now)
    detected_field: Field = Field.UNKNOWN
    looks_like: Eye | None = None
    eye_confirmed: bool = True
    replaced: bool = False

    @property
    def eye_doubt(self) -> bool:
        """The gate thinks this photo shows the other eye, and nobody has confirmed it yet."""
        return not self.eye_confirmed


@dataclass(frozen=True)
class ScreenedImage:
    """One photo of a finished exam: the photo and, when it was gradable, the model's prediction."""

    photo: SessionPhoto
    prediction: Prediction | None

    @property
    def eye(self) -> Eye:
        return self.photo.eye

    @property
    def quality(self) -> QualityReport:
        return self.photo.quality

    @property
    def sha256(self) -> str:
        return self.photo.sha256

    @property
    def finding(self) -> ImageFinding:
        """What the exam decision needs of this photo."""
        return ImageFinding(eye=self.eye, gradable=self.quality.passed,
                            score=None if self.prediction is None else self.prediction.score)


@dataclass(frozen=True)
class ExamSession:
    """An exam while (or after) photos are taken: durable from the moment it is opened.

    `photos` holds every photo in the order taken, retaken ones included (marked `replaced`).
    `closed_at` / `closed_by` / `close_reason` are set when it is finished or cancelled.
    """

    exam_id: str
    patient: Patient
    operator: str
    opened_at: datetime
    state: ExamState = ExamState.OPEN
    photos: tuple[SessionPhoto, ...] = ()
    closed_at: datetime | None = None
    closed_by: str = ""
    close_reason: str = ""
    #: The worklist order the exam was opened from (None when the patient id was typed).
    order: ScheduledOrder | None = None

    @property
    def patient_id(self) -> str:
        return self.patient.patient_id

    def current(self, eye: Eye | None = None) -> tuple[SessionPhoto, ...]:
        """The photos in use (not replaced), of one eye or of both."""
        return tuple(p for p in self.photos if not p.replaced and (eye is None or p.eye is eye))

    def attempts(self, eye: Eye) -> tuple[SessionPhoto, ...]:
        """Every photo of one eye, retaken ones included, oldest first."""
        return tuple(p for p in self.photos if p.eye is eye)


@dataclass(frozen=True)
class WorklistEntry:
    """One line of the worklist: an exam open, finished or cancelled, without its photos."""

    exam_id: str
    patient: Patient
    operator: str
    opened_at: datetime
    state: ExamState
    photos: int
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    #: Where the finished exam's result is on its way to the clinic (appliance.store.outbox.summary_state:
    #: "pending", "retrying", "parked", "sent"); None for an exam without a result.
    sync_state: str | None = None

"""What the DICOM and FHIR builders share: their error, and the exam's facts in the form both send.

The builders are pure (objects in, objects out); a payload that cannot be built from the exam and its
bytes raises PayloadError, which the sync worker parks for a person, since resending cannot fix it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from appliance.domain import Exam, Eye, Field, ScreenedImage, SessionPhoto
from appliance.errors import ApplianceError
from appliance.summary import eye_findings as summary_eye_findings


class PayloadError(ApplianceError):
    """A DICOM object or FHIR bundle cannot be built from this exam (a photo's bytes missing or unreadable,
    a UID missing for a photo, an identifier system not given)."""

    reason_code = "sync_payload_invalid"
    http_status = 422


def aware(moment: datetime) -> datetime:
    """The moment with its UTC offset: the store keeps UTC; a naive time is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def exam_started(exam: Exam) -> datetime:
    """When the exam was opened (photos taken from then on); a one-shot exam's is its result time."""
    return aware(exam.opened_at or exam.created_at)


def photo_field(photo: SessionPhoto) -> Field:
    """The field the source declared, else the one the gate detected (UNKNOWN when neither knows)."""
    return photo.field if photo.field is not Field.UNKNOWN else photo.detected_field


def eye_findings(exam: Exam) -> dict[Eye, tuple[str, tuple[ScreenedImage, ...]]]:
    """Per eye: the finding ('referable', 'not_referable', 'ungradable', from the one serializer,
    appliance.summary) and the images the model scored for it."""
    words = summary_eye_findings(exam)
    return {eye: (words[eye.value]["finding"],
                  tuple(i for i in exam.images if i.eye is eye and i.prediction is not None)) for eye in Eye}

"""What every object sent names: this box (the acquisition device) and the exam's DICOM UIDs.

UIDs are made once, when the exam's result is stored, and kept in the store: they are the idempotency
keys (a resend carries the same SOP Instance UIDs, so the PACS keeps one copy). They are UUID-derived
`2.25.<decimal>` UIDs (PS3.5 B.2), which need no registered org root.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def new_uid() -> str:
    """A fresh UUID-derived DICOM UID (at most 64 characters: '2.25.' + up to 39 digits)."""
    return f"2.25.{uuid.uuid4().int}"


@dataclass(frozen=True)
class DeviceIdentity:
    """The box as DICOM and FHIR name it (from `[sync]` config and the firmware)."""

    manufacturer: str = "DR screening appliance (reference build)"
    model_name: str = "DR screening appliance"
    software_version: str = ""
    station_name: str = "DRSCREEN"
    ae_title: str = "DRSCREEN"
    device_serial: str = ""
    institution_name: str = ""


@dataclass(frozen=True)
class StudyUids:
    """The DICOM UIDs of one exam: its study, one series per kind of object, and one SOP Instance UID per
    photo (by photo_id), for the SR and for the encapsulated PDF."""

    study: str
    op_series: str
    sr_series: str
    pdf_series: str
    sr_instance: str
    pdf_instance: str
    photos: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def new(cls, photo_ids: Iterable[int], *, study: str | None = None) -> StudyUids:
        """Fresh UIDs for an exam; `study` is the order's Study Instance UID when the exam came from a worklist."""
        return cls(study=study or new_uid(), op_series=new_uid(), sr_series=new_uid(), pdf_series=new_uid(),
                   sr_instance=new_uid(), pdf_instance=new_uid(), photos={pid: new_uid() for pid in photo_ids})

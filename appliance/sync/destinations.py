"""What one outbox item sends, per destination: the exam's DICOM study to the PACS (STOW-RS and/or DIMSE
C-STORE), its FHIR transaction Bundle to the EHR.

Everything sent is rebuilt from the store on each attempt with the exam's stored UIDs and business
identifier, so a resend is byte-for-byte the same exam and the receiver keeps one copy. The DICOM and
FHIR builders (appliance.sync.dicom, appliance.sync.fhir) are pure; a builder that cannot build the exam
is a fault no resend fixes, so the item is parked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydicom.dataset import Dataset

from appliance.domain import Exam
from appliance.errors import ExamNotFoundError, StorageError
from appliance.store import ExamStore
from appliance.store.records import OutboxItem
from appliance.sync.cstore import DimseTarget
from appliance.sync.identity import DeviceIdentity, StudyUids
from appliance.sync.stow import store_instances
from appliance.sync.transport import HttpTarget, SendError

log = logging.getLogger(__name__)

#: StorageError reasons that no later attempt can fix.
LOST_FOR_GOOD = frozenset({"image_corrupt", "report_corrupt", "photo_purged"})

StudyBuilder = Callable[..., list[Dataset]]
Part10Writer = Callable[[Dataset], bytes]
BundleBuilder = Callable[..., dict[str, Any]]


class Destination(Protocol):
    """One receiver of outbox items of one kind."""

    kind: str

    def send(self, item: OutboxItem) -> dict[str, Any]:
        """Deliver the item's exam; what was sent (counts, no patient data) for the audit log.
        Raises SendError."""


@dataclass(frozen=True)
class ExamMaterial:
    """Everything one exam sends, read from the store."""

    exam: Exam
    photos: Mapping[str, bytes]
    pdf: bytes
    uids: StudyUids

    @property
    def order_fields(self) -> dict[str, str]:
        """What the worklist order adds to every object ("" when the patient id was typed)."""
        order = self.exam.order
        return {"accession_number": "" if order is None else order.accession_number,
                "patient_name": "" if order is None else order.patient_name}


def gather(store: ExamStore, exam_id: str, *, actor: str, with_photos: bool = True) -> ExamMaterial:
    """The exam, its photos' bytes (when asked, or needed to make the report), its PDF report (made and
    stored now if it never was), its UIDs. Raises SendError (permanent when the exam or a photo is gone
    for good)."""
    try:
        exam = store.get_exam(exam_id)
        pdf = store.report_pdf(exam_id)
        photos = {i.sha256: store.image_bytes(i.sha256) for i in exam.images} if with_photos or pdf is None else {}
        if pdf is None:
            pdf = _make_report(store, exam, photos, actor=actor)
        return ExamMaterial(exam=exam, photos=photos, pdf=pdf, uids=store.study_uids(exam_id))
    except ExamNotFoundError as err:
        raise SendError(f"The exam is no longer on the appliance ({err.message})", permanent=True) from err
    except StorageError as err:
        raise SendError(err.message, permanent=err.reason_code in LOST_FOR_GOOD) from err


def _make_report(store: ExamStore, exam: Exam, photos: Mapping[str, bytes], *, actor: str) -> bytes:
    from appliance.report import exam_report_pdf
    from appliance.summary import exam_summary

    pdf = exam_report_pdf(exam_summary(exam), dict(photos))
    store.save_report(exam.exam_id, pdf, actor=actor)
    return store.report_pdf(exam.exam_id) or pdf  # the stored copy: the first one made, if another was


def _built(what: str, build: Callable[[], Any]) -> Any:
    """Run a builder; a failure is parked (resending the same exam builds the same failure)."""
    try:
        return build()
    except Exception as err:
        log.exception("building the %s failed", what)
        message = getattr(err, "message", None) or str(err) or type(err).__name__
        raise SendError(f"The appliance could not build the {what}: {message}", permanent=True) from err


@dataclass
class DicomDestination:
    """The PACS: OP photos, the Comprehensive SR and the Encapsulated PDF, by STOW-RS and/or C-STORE."""

    store: ExamStore
    device: DeviceIdentity
    stow: HttpTarget | None = None
    dimse: DimseTarget | None = None
    build: StudyBuilder | None = None
    part10: Part10Writer | None = None
    actor: str = "sync"
    kind: str = "dicom"

    def send(self, item: OutboxItem) -> dict[str, Any]:
        material = gather(self.store, item.exam_id, actor=self.actor)
        build, part10 = self.build, self.part10
        if build is None or part10 is None:
            from appliance.sync.dicom import study_datasets, to_part10

            build, part10 = build or study_datasets, part10 or to_part10
        datasets: list[Dataset] = _built("exam's DICOM objects", lambda: build(
            material.exam, material.photos, material.pdf, material.uids, self.device, **material.order_fields))
        sent: dict[str, Any] = {"objects": len(datasets), "study_uid": material.uids.study}
        if self.stow is not None:
            files = _built("exam's DICOM files", lambda: [part10(ds) for ds in datasets])
            sent["stow_rs"] = store_instances(self.stow, files)
        if self.dimse is not None:
            sent["c_store"] = self.dimse.store(datasets)
        return sent


@dataclass
class FhirDestination:
    """The EHR: a transaction Bundle (the Patient matched on the clinic's identifier system, the
    DiagnosticReport with the PDF and its Observations created only if none has the exam's business
    identifier)."""

    store: ExamStore
    device: DeviceIdentity
    target: HttpTarget
    identifier_system: str
    build: BundleBuilder | None = None
    actor: str = "sync"
    kind: str = "fhir"

    def send(self, item: OutboxItem) -> dict[str, Any]:
        material = gather(self.store, item.exam_id, actor=self.actor, with_photos=False)
        build = self.build
        if build is None:
            from appliance.sync.fhir import report_bundle

            build = report_bundle
        bundle = _built("exam's FHIR Bundle", lambda: build(
            material.exam, self.device, identifier_system=self.identifier_system,
            accession_number=material.order_fields["accession_number"], pdf=material.pdf))
        answer = self.target.post("", json.dumps(bundle).encode("utf-8"), content_type="application/fhir+json",
                                  accept="application/fhir+json")
        statuses = _entry_statuses(answer.content)
        refused = [s for s in statuses if not s.startswith("2")]
        if refused:
            raise SendError(f"The EHR refused part of the transaction ({', '.join(refused)}).", permanent=True)
        return {"entries": len(bundle.get("entry", [])), "statuses": sorted(set(statuses))}


def _entry_statuses(content: bytes) -> list[str]:
    """The status line of each entry of a transaction-response Bundle (empty when the body is not one)."""
    try:
        body = json.loads(content) if content.strip() else {}
    except ValueError:
        return []
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return []
    return [str((entry.get("response") or {}).get("status", "")).split(" ")[0] or "?"
            for entry in body.get("entry") or [] if isinstance(entry, dict)]

"""Orders in: the clinic's DICOM Modality Worklist (C-FIND with pynetdicom, IHE Eye Care's scheduled
workflow) asked for today's ophthalmic-photography steps scheduled for this box's AE title.

Each answer becomes a ScheduledOrder; an exam opened from one carries its Accession Number and Study
Instance UID into the DICOM and FHIR it sends. Any failure (not configured, unreachable, refused) is a
WorklistUnavailableError with a sentence: the technician then types the patient id as usual.
"""

from __future__ import annotations

import logging
from datetime import date

from pydicom.dataset import Dataset

from appliance.config import SyncConfig
from appliance.domain import ScheduledOrder, Sex
from appliance.errors import WorklistUnavailableError
from appliance.sync.dimse import unreachable

log = logging.getLogger(__name__)
MODALITY = "OP"
_PENDING = frozenset({0xFF00, 0xFF01})
_SEX = {"F": Sex.FEMALE, "M": Sex.MALE, "O": Sex.OTHER}


def worklist_query(ae_title: str, day: date) -> Dataset:
    """The C-FIND identifier: every return key asked for, matching on modality, station AE title and date."""
    step = Dataset()
    step.Modality = MODALITY
    step.ScheduledStationAETitle = ae_title
    step.ScheduledProcedureStepStartDate = day.strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProcedureStepID = ""
    query = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                    "StudyInstanceUID", "RequestedProcedureDescription", "RequestedProcedureID"):
        setattr(query, keyword, "")
    query.ScheduledProcedureStepSequence = [step]
    return query


def order_from(answer: Dataset) -> ScheduledOrder | None:
    """One worklist answer as an order; None when it has no accession number or patient id to use."""
    accession = str(answer.get("AccessionNumber", "") or "").strip()
    patient_id = str(answer.get("PatientID", "") or "").strip()
    if not accession or not patient_id:
        return None
    steps = answer.get("ScheduledProcedureStepSequence") or [Dataset()]
    step = steps[0]
    start = " ".join(p for p in (_iso_date(str(step.get("ScheduledProcedureStepStartDate", "") or "")),
                                 _hhmm(str(step.get("ScheduledProcedureStepStartTime", "") or ""))) if p)
    procedure = (str(answer.get("RequestedProcedureDescription", "") or "")
                 or str(step.get("ScheduledProcedureStepDescription", "") or ""))
    return ScheduledOrder(
        accession_number=accession, study_instance_uid=str(answer.get("StudyInstanceUID", "") or ""),
        requested_procedure=procedure.strip(), patient_name=str(answer.get("PatientName", "") or ""),
        patient_id=patient_id, birth_date=_date(str(answer.get("PatientBirthDate", "") or "")),
        sex=_SEX.get(str(answer.get("PatientSex", "") or "").upper(), Sex.UNKNOWN), scheduled_start=start,
    )


def query_worklist(config: SyncConfig, day: date) -> list[ScheduledOrder]:
    """Today's orders for this box, sorted by scheduled start then accession number.

    Raises:
        WorklistUnavailableError: no worklist configured, or it cannot be reached or refused the query.
    """
    if not config.worklist_configured:
        raise WorklistUnavailableError("No worklist is configured: type the patient's id.")
    why = unreachable(config.worklist_host, config.worklist_port, config.timeout_s)
    if why:
        raise WorklistUnavailableError("The clinic's worklist cannot be reached now: type the patient's id.",
                                       detail=f"{config.worklist_host}:{config.worklist_port}: {why}")
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

    ae = AE(ae_title=config.ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = config.timeout_s
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate(config.worklist_host, config.worklist_port, ae_title=config.worklist_ae_title)
    if not assoc.is_established:
        raise WorklistUnavailableError("The clinic's worklist cannot be reached now: type the patient's id.",
                                       detail=f"{config.worklist_host}:{config.worklist_port} association failed")
    orders: list[ScheduledOrder] = []
    try:
        for status, identifier in assoc.send_c_find(worklist_query(config.ae_title, day),
                                                    ModalityWorklistInformationFind):
            code = int(getattr(status, "Status", -1)) if status else -1
            if code in _PENDING and identifier is not None:
                order = order_from(identifier)
                if order is not None:
                    orders.append(order)
            elif code != 0x0000:
                raise WorklistUnavailableError("The clinic's worklist did not answer the query: type the patient's id.",
                                               detail=f"C-FIND status {code:#06x}")
    finally:
        if assoc.is_established:
            assoc.release()
    return sorted(orders, key=lambda o: (o.scheduled_start, o.accession_number))


def _iso_date(text: str) -> str:
    parsed = _date(text)
    return "" if parsed is None else parsed.isoformat()


def _date(text: str) -> date | None:
    text = text.strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _hhmm(text: str) -> str:
    digits = text.strip()[:4]
    return f"{digits[:2]}:{digits[2:]}" if len(digits) == 4 and digits.isdigit() else ""

"""The modules every DICOM object of an exam shares: SOP Common, Patient, General Study, the series'
identity and General Equipment; and the DA/TM/DT and code-item forms.

Times are sent in UTC with Timezone Offset From UTC "+0000" (the store keeps UTC; the box may not know
the clinic's zone). The same exam always gives the same datasets: nothing here reads the clock.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from appliance import __version__
from appliance.domain import Exam, Sex
from appliance.sync.codes import PRODUCT_OID, SCREENING_PROCEDURE, Code
from appliance.sync.identity import DeviceIdentity
from appliance.sync.payload import aware, exam_started

#: Written in every file's meta header (PS3.10 7.1): this product's implementation.
IMPLEMENTATION_CLASS_UID = f"{PRODUCT_OID}.4"
IMPLEMENTATION_VERSION = f"DRSCREEN_{__version__}"[:16]
STUDY_DESCRIPTION = "Diabetic retinopathy screening"
#: Patient's Sex (0010,0040) enumerated values; unknown is sent empty (type 2).
_SEX = {Sex.FEMALE: "F", Sex.MALE: "M", Sex.OTHER: "O", Sex.UNKNOWN: ""}


def utc(moment: datetime) -> datetime:
    return aware(moment).astimezone(timezone.utc)


def da(moment: datetime) -> str:
    return utc(moment).strftime("%Y%m%d")


def tm(moment: datetime) -> str:
    return utc(moment).strftime("%H%M%S.%f")


def dt(moment: datetime) -> str:
    return utc(moment).strftime("%Y%m%d%H%M%S.%f")


def code_item(code: Code) -> Dataset:
    """One item of a code sequence (Basic Code Sequence Macro)."""
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme
    item.CodeMeaning = code.meaning
    return item


def code_sequence(*codes: Code) -> Sequence:
    return Sequence([code_item(code) for code in codes])


def new_dataset(sop_class: str, sop_instance: str, transfer_syntax: str) -> Dataset:
    """An empty dataset with its file meta information and SOP Common module (UTF-8, UTC)."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = UID(sop_instance)
    ds.TimezoneOffsetFromUTC = "+0000"
    return ds


def add_patient_and_study(ds: Dataset, exam: Exam, study_uid: str, *, accession_number: str,
                          patient_name: str) -> None:
    """Patient and General Study modules. Patient's Name is empty (type 2) unless the order gave one."""
    patient = exam.patient
    ds.PatientName = patient_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = "" if patient.birth_date is None else patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = _SEX[patient.sex]
    started = exam_started(exam)
    ds.StudyInstanceUID = UID(study_uid)
    ds.StudyDate = da(started)
    ds.StudyTime = tm(started)
    ds.ReferringPhysicianName = ""
    # Study ID is SH (16 characters at most): the exam id's start, for people; the UIDs identify the study.
    ds.StudyID = exam.exam_id[:16]
    ds.AccessionNumber = accession_number
    ds.StudyDescription = STUDY_DESCRIPTION
    ds.ProcedureCodeSequence = code_sequence(SCREENING_PROCEDURE)


def add_series(ds: Dataset, modality: str, series_uid: str, number: int, description: str) -> None:
    ds.Modality = modality
    ds.SeriesInstanceUID = UID(series_uid)
    ds.SeriesNumber = number
    ds.SeriesDescription = description


def add_equipment(ds: Dataset, device: DeviceIdentity) -> None:
    """General Equipment module: this box, which made the object."""
    ds.Manufacturer = device.manufacturer
    if device.institution_name:
        ds.InstitutionName = device.institution_name
    ds.StationName = device.station_name[:16]
    ds.ManufacturerModelName = device.model_name
    if device.device_serial:
        ds.DeviceSerialNumber = device.device_serial
    ds.SoftwareVersions = device.software_version or __version__

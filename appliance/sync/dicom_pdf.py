"""The printable exam report as a DICOM Encapsulated PDF (PS3.3 A.45.1), modality DOC, in the exam's study.

The PDF shows the patient id and the photos (burned-in annotation YES), and is made from the OP images
(Source Instance Sequence). Its bytes are carried unchanged; DICOM pads them to an even length with one
NUL, which `Encapsulated Document Length` lets a reader strip.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from appliance.domain import Exam
from appliance.sync.codes import REPORT_TITLE
from appliance.sync.dicom_common import (
    add_equipment,
    add_patient_and_study,
    add_series,
    code_sequence,
    da,
    dt,
    new_dataset,
    tm,
)
from appliance.sync.dicom_op import EXPLICIT_VR_LITTLE_ENDIAN, OP_8BIT_IMAGE
from appliance.sync.identity import DeviceIdentity, StudyUids
from appliance.sync.payload import PayloadError, exam_started

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
PDF_SERIES_NUMBER = 3
DOCUMENT_TITLE = "Diabetic retinopathy screening report"


def report_pdf(exam: Exam, pdf: bytes, uids: StudyUids, device: DeviceIdentity, *, accession_number: str = "",
               patient_name: str = "") -> Dataset:
    """The report PDF (appliance.report.exam_report_pdf) as an Encapsulated PDF instance.

    Raises:
        PayloadError: `pdf` is not a PDF file.
    """
    if not pdf.startswith(b"%PDF-"):
        raise PayloadError(f"The report of exam {exam.exam_id} is not a PDF file.", detail=f"first bytes {pdf[:8]!r}")
    ds = new_dataset(ENCAPSULATED_PDF, uids.pdf_instance, EXPLICIT_VR_LITTLE_ENDIAN)
    add_patient_and_study(ds, exam, uids.study, accession_number=accession_number, patient_name=patient_name)
    add_series(ds, "DOC", uids.pdf_series, PDF_SERIES_NUMBER, "Diabetic retinopathy screening report (PDF)")
    add_equipment(ds, device)
    # SC Equipment module: made on this box's own software, not digitized from paper.
    ds.ConversionType = "WSD"
    # Encapsulated Document module.
    ds.InstanceNumber = 1
    ds.ContentDate = da(exam.created_at)
    ds.ContentTime = tm(exam.created_at)
    ds.AcquisitionDateTime = dt(exam_started(exam))
    ds.BurnedInAnnotation = "YES"
    ds.SourceInstanceSequence = Sequence([_source(uid) for uid in _photo_uids(exam, uids)])
    ds.DocumentTitle = DOCUMENT_TITLE
    ds.ConceptNameCodeSequence = code_sequence(REPORT_TITLE)
    ds.VerificationFlag = "UNVERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    return ds


def _photo_uids(exam: Exam, uids: StudyUids) -> list[str]:
    missing = [i.photo.photo_id for i in exam.images if not uids.photos.get(i.photo.photo_id)]
    if missing:
        raise PayloadError(f"Photos {missing} of exam {exam.exam_id} have no DICOM UID.")
    return [uids.photos[i.photo.photo_id] for i in exam.images]


def _source(sop_uid: str) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = OP_8BIT_IMAGE
    ref.ReferencedSOPInstanceUID = sop_uid
    return ref

"""A finished exam as the DICOM objects the PACS receives, in one study: each photo as an Ophthalmic
Photography 8 Bit Image (appliance.sync.dicom_op), the result as a Comprehensive SR (dicom_sr) and the
printable report as an Encapsulated PDF (dicom_pdf); and a dataset as the bytes of a DICOM file.

Pure: bytes and objects in, datasets out. Every UID comes from the exam's StudyUids, made once and kept by
the store, so a resend carries the same SOP Instance UIDs and the PACS keeps one copy.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from pydicom import dcmwrite
from pydicom.dataset import Dataset

from appliance.domain import Exam
from appliance.sync.dicom_op import op_image
from appliance.sync.dicom_pdf import report_pdf
from appliance.sync.dicom_sr import result_sr
from appliance.sync.identity import DeviceIdentity, StudyUids
from appliance.sync.payload import PayloadError

__all__ = ["op_image", "report_pdf", "result_sr", "study_datasets", "to_part10"]


def study_datasets(exam: Exam, photos: Mapping[str, bytes], pdf: bytes | None, uids: StudyUids,
                   device: DeviceIdentity, *, accession_number: str = "", patient_name: str = "") -> list[Dataset]:
    """Every object of the exam's study: one OP image per photo of the exam (in exam order), the SR,
    and the PDF when given.

    Args:
        photos: the photos' bytes by sha256 (as the store keeps them).
        pdf: the report PDF (appliance.report.exam_report_pdf), or None to send no PDF.
        accession_number, patient_name: from the worklist order ("" when the id was typed).
    Raises:
        PayloadError: a photo's bytes are missing or unreadable, a UID is missing, `pdf` is not a PDF.
    """
    order = {"accession_number": accession_number, "patient_name": patient_name}
    datasets = []
    for image in exam.images:
        data = photos.get(image.sha256)
        if data is None:
            raise PayloadError(f"Photo {image.photo.photo_id} of exam {exam.exam_id} is no longer on the box.",
                               detail=f"sha256 {image.sha256}")
        datasets.append(op_image(exam, image, data, uids, device, **order))
    datasets.append(result_sr(exam, uids, device, **order))
    if pdf is not None:
        datasets.append(report_pdf(exam, pdf, uids, device, **order))
    return datasets


def to_part10(ds: Dataset) -> bytes:
    """The dataset as a DICOM Part 10 file: 128-byte preamble, "DICM", file meta information, and the
    dataset in the transfer syntax its builder chose. Deterministic: the same dataset, the same bytes."""
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()

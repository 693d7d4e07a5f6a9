"""The DICOM builders: OP 8-bit images, the Comprehensive SR and the Encapsulated PDF of an exam, each
checked by dciodvfy (dicom3tools) and read back with pydicom."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.sr._concepts_dict import concepts

from appliance.domain import Eye, Outcome
from appliance.sync import codes as c
from appliance.sync.dicom import op_image, report_pdf, result_sr, study_datasets, to_part10
from appliance.sync.dicom_op import EXPLICIT_VR_LITTLE_ENDIAN, JPEG_BASELINE, OP_8BIT_IMAGE
from appliance.sync.dicom_pdf import ENCAPSULATED_PDF
from appliance.sync.dicom_sr import COMPREHENSIVE_SR
from appliance.sync.payload import PayloadError
from tests.unit.sync.builder_exams import (
    DEVICE,
    BuiltExam,
    ExamBuilder,
    decoded_rgb,
    no_refer_exam,
    png_exam,
    reencoded,
    refer_exam,
    sample,
    ungradable_exam,
)

DCIODVFY = shutil.which("dciodvfy")
needs_dciodvfy = pytest.mark.skipif(
    DCIODVFY is None, reason="dciodvfy is not installed (Debian package dicom3tools: `make .system-deps`)")
#: The only warnings dciodvfy may give: it does not know a private coding scheme (PS3.16 allows "99..."
#: designators, declared in the SR's Coding Scheme Identification Sequence).
ALLOWED_WARNINGS = (
    re.compile(r"^Warning - Unrecognized defined term <99DRSCREEN> for value 1 of attribute "
               r"<Coding Scheme Designator>$"),
    re.compile(rf"^Warning - Unrecognized defined term <{re.escape(c.PRIVATE_SCHEME_UID)}> for value 1 of attribute "
               r"<Coding Scheme UID>$"),
)


def verify(ds: Dataset, tmp_path: Path) -> list[str]:
    """Run dciodvfy on the dataset's Part 10 file; assert no error and no warning but the allowed ones."""
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    path.write_bytes(to_part10(ds))
    assert DCIODVFY is not None
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith("Error")], "\n".join(lines)
    warnings = [line for line in lines if line.startswith("Warning")]
    assert not [w for w in warnings if not any(p.match(w) for p in ALLOWED_WARNINGS)], "\n".join(warnings)
    return lines


def read_back(ds: Dataset) -> Dataset:
    return pydicom.dcmread(io.BytesIO(to_part10(ds)))


def datasets(built: BuiltExam, **order: str) -> list[Dataset]:
    return study_datasets(built.exam, built.photos, built.pdf, built.uids, DEVICE, **order)


@needs_dciodvfy
@pytest.mark.parametrize("make", [refer_exam, no_refer_exam, ungradable_exam, png_exam])
def test_every_object_of_the_study_passes_dciodvfy(make: Callable[[], BuiltExam], tmp_path: Path) -> None:
    built = make()
    objects = datasets(built, accession_number="ACC-2025-17", patient_name="DOE^JANE")
    assert [ds.SOPClassUID for ds in objects] == [OP_8BIT_IMAGE] * len(built.exam.images) + [
        COMPREHENSIVE_SR, ENCAPSULATED_PDF]
    iods = [verify(ds, tmp_path)[0] for ds in objects]
    assert iods == ["OphthalmicPhotography8BitImage"] * len(built.exam.images) + ["ComprehensiveSR", "EncapsulatedPDF"]


@needs_dciodvfy
def test_objects_without_an_order_pass_dciodvfy_too(tmp_path: Path) -> None:
    for ds in datasets(refer_exam()):
        verify(ds, tmp_path)


def test_a_camera_jpeg_is_carried_unchanged_under_jpeg_baseline() -> None:
    built = refer_exam()
    image = built.exam.images[0]
    data = built.photos[image.sha256]
    ds = read_back(op_image(built.exam, image, data, built.uids, DEVICE))
    assert ds.file_meta.TransferSyntaxUID == JPEG_BASELINE
    (fragment,) = list(generate_frames(ds.PixelData, number_of_frames=1))
    assert fragment[:len(data)] == data and fragment[len(data):] in (b"", b"\x00")
    height, width = decoded_rgb(data).shape[:2]
    assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (height, width, 3)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"  # the samples are 4:2:0 YCbCr (JFIF)
    assert ds.LossyImageCompression == "01" and ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert float(ds.LossyImageCompressionRatio) == pytest.approx(height * width * 3 / len(data), abs=0.01)
    assert ds.NumberOfFrames == 1 and ds.pixel_array.shape == (height, width, 3)


def test_a_png_goes_uncompressed_as_rgb_and_lossless() -> None:
    built = png_exam()
    image = built.exam.images[0]
    data = built.photos[image.sha256]
    ds = read_back(op_image(built.exam, image, data, built.uids, DEVICE))
    assert ds.file_meta.TransferSyntaxUID == EXPLICIT_VR_LITTLE_ENDIAN
    assert ds.PhotometricInterpretation == "RGB" and ds.PlanarConfiguration == 0
    assert ds.LossyImageCompression == "00" and "LossyImageCompressionRatio" not in ds
    assert np.array_equal(ds.pixel_array, decoded_rgb(data))


@needs_dciodvfy
@pytest.mark.parametrize("params", [(cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
                                    (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)], ids=["4:4:4", "progressive"])
def test_a_jpeg_dicom_cannot_label_goes_uncompressed_and_stays_lossy(params: tuple[int, int], tmp_path: Path) -> None:
    data = reencoded(sample("healthy", Eye.RIGHT), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95, *params)
    built = ExamBuilder().add(Eye.RIGHT, data, score=0.1).add(Eye.LEFT, sample("healthy", Eye.LEFT), score=0.1).build()
    ds = op_image(built.exam, built.exam.images[0], data, built.uids, DEVICE)
    verify(ds, tmp_path)
    back = read_back(ds)
    assert back.file_meta.TransferSyntaxUID == EXPLICIT_VR_LITTLE_ENDIAN and back.PhotometricInterpretation == "RGB"
    assert back.LossyImageCompression == "01" and float(back.LossyImageCompressionRatio) > 1
    assert np.array_equal(back.pixel_array, decoded_rgb(data))


def test_laterality_uids_and_patient_are_those_of_the_exam() -> None:
    built = no_refer_exam()
    uids = built.uids
    objects = [read_back(ds) for ds in datasets(built, accession_number="ACC-1")]
    photos, sr, pdf = objects[:-2], objects[-2], objects[-1]
    assert [ds.ImageLaterality for ds in photos] == ["R", "R", "L", "L"]
    assert [ds.SOPInstanceUID for ds in photos] == [uids.photos[i.photo.photo_id] for i in built.exam.images]
    assert {ds.SeriesInstanceUID for ds in photos} == {uids.op_series}
    assert (sr.SOPInstanceUID, sr.SeriesInstanceUID) == (uids.sr_instance, uids.sr_series)
    assert (pdf.SOPInstanceUID, pdf.SeriesInstanceUID) == (uids.pdf_instance, uids.pdf_series)
    assert {ds.StudyInstanceUID for ds in objects} == {uids.study}
    assert {ds.file_meta.MediaStorageSOPInstanceUID for ds in objects} == {ds.SOPInstanceUID for ds in objects}
    for ds in objects:
        assert (ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex) == ("P-7", "", "", "")
        assert ds.AccessionNumber == "ACC-1" and ds.StudyDate == "20250314" and ds.StudyTime == "092253.123456"
    assert [ds.RelativeImagePositionCodeSequence[0].CodeValue for ds in photos] == ["111900", "111901"] * 2
    assert photos[0].AnatomicRegionSequence[0].CodeValue == c.RETINA.value
    assert photos[0].AcquisitionDeviceTypeCodeSequence[0].CodeValue == c.FUNDUS_CAMERA.value
    assert photos[0].PatientOrientation == "" and photos[0].BurnedInAnnotation == "NO"


def test_patient_name_and_sex_when_known() -> None:
    built = refer_exam()
    ds = read_back(result_sr(built.exam, built.uids, DEVICE, patient_name="DOE^JANE"))
    assert (str(ds.PatientName), ds.PatientBirthDate, ds.PatientSex) == ("DOE^JANE", "19610502", "F")


def _content(items: pydicom.Sequence) -> list[Dataset]:
    """Every content item of an SR tree, depth first."""
    found = []
    for item in items:
        found.append(item)
        found += _content(item.get("ContentSequence", []))
    return found


def _concept(item: Dataset) -> tuple[str, str]:
    if "ConceptNameCodeSequence" not in item:
        return "", ""
    code = item.ConceptNameCodeSequence[0]
    return code.CodingSchemeDesignator, code.CodeValue


def test_the_sr_holds_outcome_findings_model_and_quality() -> None:
    built = ungradable_exam()
    sr = read_back(result_sr(built.exam, built.uids, DEVICE))
    assert (sr.Modality, sr.CompletionFlag, sr.VerificationFlag) == ("SR", "COMPLETE", "UNVERIFIED")
    assert _concept(sr) == ("LN", c.REPORT_TITLE.value)
    items = _content(sr.ContentSequence)
    conclusion = next(i for i in items if _concept(i) == ("DCM", c.CONCLUSION.value))
    assert conclusion.ConceptCodeSequence[0].CodeValue == c.OUTCOME_CODES[Outcome.UNGRADABLE].value
    texts = {i.TextValue for i in items if i.ValueType == "TEXT"}
    assert built.exam.model.sha256 in texts and built.exam.result.message in texts
    findings = [i for i in sr.ContentSequence if i.ValueType == "CODE" and _concept(i) == ("DCM", c.FINDING.value)]
    by_side = {f.ContentSequence[0].ConceptCodeSequence[0].CodeMeaning: f.ConceptCodeSequence[0].CodeValue
               for f in findings}
    assert by_side == {"Right": "UNGRADABLE", "Left": "NOT-REFERABLE"}
    left = next(f for f in findings if f.ContentSequence[0].ConceptCodeSequence[0].CodeMeaning == "Left")
    assert [r.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for r in left.ContentSequence
            if r.ValueType == "IMAGE"] == [built.uids.photos[3]]
    quality = [i.ConceptCodeSequence[0].CodeValue for i in items if _concept(i) == ("DCM", c.IMAGE_QUALITY.value)]
    assert quality == [c.UNUSABLE.value, c.UNUSABLE.value, c.USABLE.value]
    assert "too_dark, uneven_illumination" in texts
    images = [i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in items if i.ValueType == "IMAGE"]
    assert set(images) == set(built.uids.photos.values())
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == built.uids.study
    assert [r.ReferencedSOPInstanceUID for r in evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence] == [
        built.uids.photos[i] for i in (1, 2, 3)]
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeUID == c.PRIVATE_SCHEME_UID


def test_the_pdf_round_trips() -> None:
    built = refer_exam()
    ds = read_back(report_pdf(built.exam, built.pdf, built.uids, DEVICE))
    assert (ds.Modality, ds.MIMETypeOfEncapsulatedDocument, ds.BurnedInAnnotation) == ("DOC", "application/pdf", "YES")
    assert len(ds.EncapsulatedDocument) % 2 == 0
    assert bytes(ds.EncapsulatedDocument[:ds.EncapsulatedDocumentLength]) == built.pdf
    assert ds.ConceptNameCodeSequence[0].CodeValue == c.REPORT_TITLE.value
    with pytest.raises(PayloadError):
        report_pdf(built.exam, b"<html>", built.uids, DEVICE)


def test_the_same_exam_gives_the_same_files() -> None:
    built = refer_exam()
    first = [to_part10(ds) for ds in datasets(built)]
    assert first == [to_part10(ds) for ds in datasets(built)]
    assert all(f[128:132] == b"DICM" for f in first)


def test_a_missing_photo_or_uid_is_a_payload_error() -> None:
    built = refer_exam()
    with pytest.raises(PayloadError, match="no longer on the box"):
        study_datasets(built.exam, {}, None, built.uids, DEVICE)
    no_uids = type(built.uids)(**{**built.uids.__dict__, "photos": {}})
    with pytest.raises(PayloadError, match="no DICOM UID"):
        study_datasets(built.exam, built.photos, None, no_uids, DEVICE)
    with pytest.raises(PayloadError, match="not a readable JPEG"):
        op_image(built.exam, built.exam.images[0], b"\xff\xd8\xff\xe0\x00", built.uids, DEVICE)


def _codes(ds: Dataset) -> set[tuple[str, str, str]]:
    """Every (designator, value, meaning) in the dataset's code sequences, nested ones included."""
    found = set()
    for element in ds.iterall():
        if element.VR == "SQ":
            found |= {(i.CodingSchemeDesignator, i.CodeValue, i.CodeMeaning) for i in element.value
                      if "CodeValue" in i}
    return found


def test_every_code_sent_is_in_the_table() -> None:
    table = {(code.scheme, code.value, code.meaning) for code in c.ALL_CODES}
    for make in (refer_exam, ungradable_exam):
        for ds in datasets(make()):
            assert _codes(ds) <= table


def test_the_standard_dicom_codes_are_those_of_ps3_16() -> None:
    # Not in PS3.16's tables: the FHIR-only eye structures (checked against FHIR profiles) and LOINC 10xxxx-x.
    outside = {c.RIGHT_EYE, c.LEFT_EYE, c.REPORT_TITLE, c.SCREENING_PROCEDURE}
    for code in c.ALL_CODES - outside:
        if code.scheme == c.PRIVATE_SCHEME:
            assert len(code.value) <= 16 and len(code.meaning) <= 64
            continue
        table: dict[str, dict[str, tuple[str, list[int]]]] = concepts[code.scheme]  # type: ignore[assignment]
        meanings = {m for by_code in table.values() for v, (m, _cids) in by_code.items() if v == code.value}
        assert code.meaning in meanings, (code, meanings)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF APP1 segment (little-endian TIFF, IFD0 holding only Orientation) after SOI."""
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    body = b"Exif\x00\x00" + tiff + struct.pack("<I", 0)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


@needs_dciodvfy
def test_a_grey_jpeg_stays_jpeg_and_a_rotated_one_is_sent_upright(tmp_path: Path) -> None:
    grey = cv2.imencode(".jpg", cv2.cvtColor(decoded_rgb(sample("healthy", Eye.LEFT)), cv2.COLOR_RGB2GRAY))[1].tobytes()
    rotated = _with_exif_orientation(sample("healthy", Eye.RIGHT), 6)
    built = ExamBuilder().add(Eye.RIGHT, rotated, score=0.1).add(Eye.LEFT, grey, score=0.1).build()
    upright, mono = (op_image(built.exam, image, built.photos[image.sha256], built.uids, DEVICE)
                     for image in built.exam.images)
    for ds in (upright, mono):
        verify(ds, tmp_path)
    assert (mono.file_meta.TransferSyntaxUID, mono.PhotometricInterpretation) == (JPEG_BASELINE, "MONOCHROME2")
    assert mono.PresentationLUTShape == "IDENTITY" and mono.SamplesPerPixel == 1
    stored = decoded_rgb(sample("healthy", Eye.RIGHT))
    assert upright.file_meta.TransferSyntaxUID == EXPLICIT_VR_LITTLE_ENDIAN
    assert (upright.Rows, upright.Columns) == (stored.shape[1], stored.shape[0])  # EXIF 6: turned a quarter
    assert upright.LossyImageCompression == "01"

"""The exam's result as a DICOM Comprehensive SR (PS3.3 A.35.3) in the exam's study, its own series.

Content tree (no template; codes in appliance.sync.codes):

    CONTAINER  Retinal eye screening report (LN 103592-2)
      CODE       Conclusion = REFER | NO-REFER | UNGRADABLE-EXAM
      TEXT       Recommendation = the clinic sentence
      TEXT       Decision reason (one per eye)
      CODE       Finding = REFERABLE | NOT-REFERABLE | UNGRADABLE            (one per eye)
        HAS CONCEPT MOD  CODE Laterality = Right | Left
        HAS PROPERTIES   NUM  Probability of referable DR (the eye's score, when gradable)
        INFERRED FROM    IMAGE  each OP image the score came from
      CONTAINER  Screening algorithm: name, version, model sha256, runtime, threshold, operating point,
                 quality gate profile
      CONTAINER  Screened fundus photograph                                  (one per OP image)
        HAS CONCEPT MOD  CODE Laterality; IMAGE; CODE Image Quality = usable | unusable;
        TEXT quality failure reasons, retake guidance; NUM probability (when scored)
      TEXT       Comment = the not-validated notice

The document is UNVERIFIED (no person signed it) and COMPLETE.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from appliance.domain import NOT_VALIDATED_NOTICE, Exam, ScreenedImage
from appliance.sync import codes as c
from appliance.sync.dicom_common import (
    add_equipment,
    add_patient_and_study,
    add_series,
    code_sequence,
    da,
    new_dataset,
    tm,
)
from appliance.sync.dicom_op import EXPLICIT_VR_LITTLE_ENDIAN, OP_8BIT_IMAGE
from appliance.sync.identity import DeviceIdentity, StudyUids
from appliance.sync.payload import PayloadError, eye_findings

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SR_SERIES_NUMBER = 2


def result_sr(exam: Exam, uids: StudyUids, device: DeviceIdentity, *, accession_number: str = "",
              patient_name: str = "") -> Dataset:
    """The exam's outcome, per-eye findings, model provenance and quality verdicts as a Comprehensive SR.

    Raises:
        PayloadError: an image of the exam has no SOP Instance UID in `uids`.
    """
    ds = new_dataset(COMPREHENSIVE_SR, uids.sr_instance, EXPLICIT_VR_LITTLE_ENDIAN)
    ds.CodingSchemeIdentificationSequence = Sequence([_private_scheme()])
    add_patient_and_study(ds, exam, uids.study, accession_number=accession_number, patient_name=patient_name)
    add_series(ds, "SR", uids.sr_series, SR_SERIES_NUMBER, "Diabetic retinopathy screening result")
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    add_equipment(ds, device)
    # SR Document General module.
    ds.InstanceNumber = 1
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentDate = da(exam.created_at)
    ds.ContentTime = tm(exam.created_at)
    ds.PerformedProcedureCodeSequence = code_sequence(c.SCREENING_PROCEDURE)
    if accession_number:
        ds.ReferencedRequestSequence = Sequence([_request(uids.study, accession_number)])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([_evidence(exam, uids)])
    # SR Document Content module: the root container.
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = code_sequence(c.REPORT_TITLE)
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = Sequence(_content(exam, uids))
    return ds


def _content(exam: Exam, uids: StudyUids) -> list[Dataset]:
    result = exam.result
    items = [_code("CONTAINS", c.CONCLUSION, c.OUTCOME_CODES[result.outcome]),
             _text("CONTAINS", c.RECOMMENDATION, result.message)]
    items += [_text("CONTAINS", c.DECISION_REASON, reason) for reason in result.reasons]
    for eye, (finding, used) in eye_findings(exam).items():
        children = [_code("HAS CONCEPT MOD", c.LATERALITY, c.EYE_LATERALITY[eye])]
        score = result.eye_scores.get(eye)
        if score is not None:
            children.append(_num("HAS PROPERTIES", c.DR_PROBABILITY, score))
        children += [_image("INFERRED FROM", _uid(uids, image)) for image in used]
        items.append(_code("CONTAINS", c.FINDING, c.FINDING_CODES[finding], children))
    items.append(_container("CONTAINS", c.SCREENING_ALGORITHM, _algorithm(exam)))
    items += [_container("CONTAINS", c.SCREENED_PHOTO, _photo(image, _uid(uids, image))) for image in exam.images]
    items.append(_text("CONTAINS", c.COMMENT, NOT_VALIDATED_NOTICE))
    return items


def _algorithm(exam: Exam) -> list[Dataset]:
    model, result = exam.model, exam.result
    items = [_text("CONTAINS", c.ALGORITHM_NAME, model.name),
             _text("CONTAINS", c.ALGORITHM_VERSION, model.version),
             _text("CONTAINS", c.MODEL_SHA256, model.sha256),
             _text("CONTAINS", c.INFERENCE_RUNTIME, model.runner),
             _num("CONTAINS", c.DR_THRESHOLD, result.threshold)]
    if result.operating_point is not None:
        items.append(_text("CONTAINS", c.OPERATING_POINT, result.operating_point.description))
    if exam.gate is not None:
        items.append(_text("CONTAINS", c.QUALITY_PROFILE, exam.gate.profile))
    return items


def _photo(image: ScreenedImage, sop_uid: str) -> list[Dataset]:
    quality = image.quality
    items = [_code("HAS CONCEPT MOD", c.LATERALITY, c.EYE_LATERALITY[image.eye]),
             _image("CONTAINS", sop_uid),
             _code("CONTAINS", c.IMAGE_QUALITY, c.USABLE if quality.passed else c.UNUSABLE)]
    if quality.reason_codes:
        items.append(_text("CONTAINS", c.QUALITY_REASONS, ", ".join(quality.reason_codes)))
    if quality.operator_message:
        items.append(_text("CONTAINS", c.RETAKE_ADVICE, quality.operator_message))
    if image.prediction is not None:
        items.append(_num("CONTAINS", c.DR_PROBABILITY, image.prediction.score))
    return items


def _uid(uids: StudyUids, image: ScreenedImage) -> str:
    uid = uids.photos.get(image.photo.photo_id)
    if not uid:
        raise PayloadError(f"Photo {image.photo.photo_id} has no DICOM UID: the report cannot reference it.")
    return uid


def _item(relationship: str, value_type: str, concept: c.Code | None) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    if concept is not None:
        item.ConceptNameCodeSequence = code_sequence(concept)
    return item


def _with_children(item: Dataset, children: Iterable[Dataset]) -> Dataset:
    children = list(children)
    if children:
        item.ContentSequence = Sequence(children)
    return item


def _text(relationship: str, concept: c.Code, text: str) -> Dataset:
    item = _item(relationship, "TEXT", concept)
    item.TextValue = text
    return item


def _code(relationship: str, concept: c.Code, value: c.Code, children: Iterable[Dataset] = ()) -> Dataset:
    item = _item(relationship, "CODE", concept)
    item.ConceptCodeSequence = code_sequence(value)
    return _with_children(item, children)


def _num(relationship: str, concept: c.Code, value: float) -> Dataset:
    item = _item(relationship, "NUM", concept)
    measured = Dataset()
    measured.NumericValue = f"{value:.6g}"
    measured.MeasurementUnitsCodeSequence = code_sequence(c.NO_UNITS)
    item.MeasuredValueSequence = Sequence([measured])
    return item


def _image(relationship: str, sop_uid: str) -> Dataset:
    item = _item(relationship, "IMAGE", None)
    item.ReferencedSOPSequence = Sequence([_sop_reference(sop_uid)])
    return item


def _container(relationship: str, concept: c.Code, children: Iterable[Dataset]) -> Dataset:
    item = _item(relationship, "CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    return _with_children(item, children)


def _sop_reference(sop_uid: str) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = OP_8BIT_IMAGE
    ref.ReferencedSOPInstanceUID = sop_uid
    return ref


def _evidence(exam: Exam, uids: StudyUids) -> Dataset:
    """Hierarchical reference to the OP images the report rests on (all are in this study)."""
    series = Dataset()
    series.SeriesInstanceUID = uids.op_series
    series.ReferencedSOPSequence = Sequence([_sop_reference(_uid(uids, image)) for image in exam.images])
    study = Dataset()
    study.StudyInstanceUID = uids.study
    study.ReferencedSeriesSequence = Sequence([series])
    return study


def _request(study_uid: str, accession_number: str) -> Dataset:
    """The worklist order the exam answers: its accession number (the rest is not known here)."""
    request = Dataset()
    request.StudyInstanceUID = study_uid
    request.ReferencedStudySequence = Sequence()
    request.AccessionNumber = accession_number
    request.PlacerOrderNumberImagingServiceRequest = ""
    request.FillerOrderNumberImagingServiceRequest = ""
    request.RequestedProcedureID = ""
    request.RequestedProcedureDescription = ""
    request.RequestedProcedureCodeSequence = Sequence()
    return request


def _private_scheme() -> Dataset:
    scheme = Dataset()
    scheme.CodingSchemeDesignator = c.PRIVATE_SCHEME
    scheme.CodingSchemeUID = c.PRIVATE_SCHEME_UID
    scheme.CodingSchemeName = c.PRIVATE_SCHEME_NAME
    return scheme


"""Every coded concept the DICOM objects and the FHIR bundle carry, with what it means and how it was checked.

`fhir.resources` and `dciodvfy` check structure, not code values, so every code sent is listed here and the
tests check that nothing else is sent.

How the codes were checked:
- DCM, SCT codes used in DICOM and the UCUM unit: against the DICOM PS3.16 tables that pydicom ships
  (`pydicom.sr._concepts_dict`), code and meaning; the context group each comes from is named below.
  The tests repeat that check.
- SCT 18944008 "Right eye structure" and 8966001 "Left eye structure" (FHIR bodySite): not in PS3.16;
  checked against the SNOMED CT names in published FHIR eye-exam value sets and implementations.
- LOINC 103592-2 "Retinal eye screening report" (document, DOC.MISC) and 104212-6 "Views screening for
  diabetic retinopathy of Eyes" (imaging procedure, Doc scale): checked against their LOINC term pages
  (long name, component, system, scale); no LOINC table ships with the box. LOINC 105914-6 "Eye Diabetic
  retinopathy screening Autonomous artificial intelligence" is deliberately NOT used: it is defined for
  FDA-cleared autonomous AI, and this model is neither cleared nor clinically validated. 71490-7 / 71491-5
  (DR severity level by ophthalmoscopy) are not used either: the model gives no severity level.
- No standard code says "referable (more than mild) diabetic retinopathy detected / not detected /
  ungradable" for one screening algorithm, nor names a model's sha256: those are private codes of this
  product (scheme designator 99DRSCREEN in DICOM, with its UID in the Coding Scheme Identification
  Sequence; the same UID as an `urn:oid:` system in FHIR). SNOMED CT 4855003 "Diabetic retinopathy" is
  not sent as a finding: a screening result is not a diagnosis, and "referable" is not the same concept.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.domain import Eye, Field, Outcome

#: This product's UUID-derived OID root (PS3.5 B.2, no registration needed); its arcs: .1 the private
#: code system, .2 exam business identifiers, .3 screening-device identifiers. Fixed: never change it.
PRODUCT_OID = "2.25.250392228778115319639474795893804662118"
PRIVATE_SCHEME = "99DRSCREEN"
PRIVATE_SCHEME_UID = f"{PRODUCT_OID}.1"
PRIVATE_SCHEME_NAME = "DR screening appliance codes"
EXAM_IDENTIFIER_SYSTEM = f"urn:oid:{PRODUCT_OID}.2"
DEVICE_IDENTIFIER_SYSTEM = f"urn:oid:{PRODUCT_OID}.3"

#: FHIR system URI of each DICOM coding scheme designator used here.
FHIR_SYSTEMS = {
    "DCM": "http://dicom.nema.org/resources/ontology/DCM",
    "SCT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "UCUM": "http://unitsofmeasure.org",
    PRIVATE_SCHEME: f"urn:oid:{PRIVATE_SCHEME_UID}",
}


@dataclass(frozen=True)
class Code:
    """One coded concept: DICOM's (value, scheme designator, meaning); `system` is its FHIR system URI."""

    value: str
    scheme: str
    meaning: str

    @property
    def system(self) -> str:
        return FHIR_SYSTEMS[self.scheme]


def _private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


# DICOM PS3.16 (DCM): CID 7002/3419 (report elements), CID 3114/6044 (image quality), CID 4207 (image position).
FINDING = Code("121071", "DCM", "Finding")
CONCLUSION = Code("121077", "DCM", "Conclusion")
RECOMMENDATION = Code("121075", "DCM", "Recommendation")
COMMENT = Code("121106", "DCM", "Comment")
ALGORITHM_NAME = Code("111001", "DCM", "Algorithm Name")
ALGORITHM_VERSION = Code("111003", "DCM", "Algorithm Version")
IMAGE_QUALITY = Code("111101", "DCM", "Image Quality")
USABLE = Code("111237", "DCM", "Usable - Meets the quality control standard")
UNUSABLE = Code("111235", "DCM", "Unusable - Quality renders image unusable")
MACULA_CENTERED = Code("111900", "DCM", "Macula centered")
DISC_CENTERED = Code("111901", "DCM", "Disc centered")
# SNOMED CT: CID 4202 (acquisition device), CID 4209 (ophthalmic anatomy), CID 244 (laterality).
FUNDUS_CAMERA = Code("409898007", "SCT", "Fundus Camera")
RETINA = Code("5665001", "SCT", "Retina")
LATERALITY = Code("272741003", "SCT", "Laterality")
RIGHT = Code("24028007", "SCT", "Right")
LEFT = Code("7771000", "SCT", "Left")
RIGHT_EYE = Code("18944008", "SCT", "Right eye structure")
LEFT_EYE = Code("8966001", "SCT", "Left eye structure")
# UCUM (CID 7181): a probability has no unit.
NO_UNITS = Code("1", "UCUM", "no units")
# LOINC.
REPORT_TITLE = Code("103592-2", "LN", "Retinal eye screening report")
SCREENING_PROCEDURE = Code("104212-6", "LN", "Views screening for diabetic retinopathy of Eyes")
# Private (99DRSCREEN): what no standard code says.
SCREENING_OUTCOME = _private("OUTCOME", "Diabetic retinopathy screening outcome")
EYE_FINDING = _private("EYE-FINDING", "Referable diabetic retinopathy finding of one eye")
DR_PROBABILITY = _private("DR-PROBABILITY", "Probability of referable diabetic retinopathy")
DR_THRESHOLD = _private("DR-THRESHOLD", "Referable diabetic retinopathy threshold")
OPERATING_POINT = _private("OPERATING-POINT", "Operating point")
SCREENING_ALGORITHM = _private("ALGORITHM", "Screening algorithm")
MODEL_SHA256 = _private("MODEL-SHA256", "Model file SHA-256")
INFERENCE_RUNTIME = _private("RUNTIME", "Inference runtime")
QUALITY_PROFILE = _private("QUALITY-PROFILE", "Image quality gate profile")
QUALITY_REASONS = _private("QUALITY-REASONS", "Image quality failure reasons")
RETAKE_ADVICE = _private("RETAKE-ADVICE", "Retake guidance")
DECISION_REASON = _private("DECISION-REASON", "Decision reason")
SCREENED_PHOTO = _private("PHOTO", "Screened fundus photograph")

OUTCOME_CODES: dict[Outcome, Code] = {
    Outcome.REFER: _private("REFER", "Refer: more than mild diabetic retinopathy detected"),
    Outcome.NO_REFER: _private("NO-REFER", "No referral: rescreen in 12 months"),
    Outcome.UNGRADABLE: _private("UNGRADABLE-EXAM", "Ungradable exam: insufficient image quality"),
}
#: By the finding words of appliance.summary.eye_findings.
FINDING_CODES: dict[str, Code] = {
    "referable": _private("REFERABLE", "Referable diabetic retinopathy detected"),
    "not_referable": _private("NOT-REFERABLE", "Referable diabetic retinopathy not detected"),
    "ungradable": _private("UNGRADABLE", "Ungradable: no photo good enough to grade"),
}
EYE_LATERALITY: dict[Eye, Code] = {Eye.RIGHT: RIGHT, Eye.LEFT: LEFT}
EYE_STRUCTURE: dict[Eye, Code] = {Eye.RIGHT: RIGHT_EYE, Eye.LEFT: LEFT_EYE}
FIELD_POSITION: dict[Field, Code] = {Field.MACULA: MACULA_CENTERED, Field.DISC: DISC_CENTERED}

#: Every code above, for the tests: nothing else may be sent.
ALL_CODES: frozenset[Code] = frozenset({
    FINDING, CONCLUSION, RECOMMENDATION, COMMENT, ALGORITHM_NAME, ALGORITHM_VERSION, IMAGE_QUALITY, USABLE,
    UNUSABLE, MACULA_CENTERED, DISC_CENTERED, FUNDUS_CAMERA, RETINA, LATERALITY, RIGHT, LEFT, RIGHT_EYE,
    LEFT_EYE, NO_UNITS, REPORT_TITLE, SCREENING_PROCEDURE, SCREENING_OUTCOME, EYE_FINDING, DR_PROBABILITY,
    DR_THRESHOLD, OPERATING_POINT, SCREENING_ALGORITHM, MODEL_SHA256, INFERENCE_RUNTIME, QUALITY_PROFILE,
    QUALITY_REASONS, RETAKE_ADVICE, DECISION_REASON, SCREENED_PHOTO,
    *OUTCOME_CODES.values(), *FINDING_CODES.values(),
})

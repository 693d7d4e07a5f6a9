"""A finished exam as a FHIR R4 transaction Bundle for the clinic's EHR: the Patient (matched by the clinic's
identifier), the screening device and model, one Observation for the outcome and one per eye, and the
DiagnosticReport that gathers them (with the printable PDF when given).

Exactly once from the receiver's side: every resource is a conditional create (`ifNoneExist`) on a
business identifier that a resend repeats (the patient's id; the exam id, and "<exam id>/<part>" for
each Observation; the box and model hash for the Device), so a second send of the same exam makes nothing
new. fullUrls are urn:uuid values derived from those identifiers: the same exam always gives the same
bundle. Codes are those of appliance.sync.codes plus the two FHIR terminology codes below; the bundle
is checked against them and parsed with fhir.resources (R4B, structure only) before it is returned.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from appliance import __version__
from appliance.domain import NOT_VALIDATED_NOTICE, Exam, Eye, Sex
from appliance.summary import FINDING_WORDS
from appliance.sync import codes as c
from appliance.sync.dicom_pdf import DOCUMENT_TITLE
from appliance.sync.identity import DeviceIdentity
from appliance.sync.payload import PayloadError, aware, exam_started, eye_findings

#: FHIR terminology codes used besides appliance.sync.codes: (system, code) -> display.
IMAGING = ("http://terminology.hl7.org/CodeSystem/observation-category", "imaging", "Imaging")
ACCESSION = ("http://terminology.hl7.org/CodeSystem/v2-0203", "ACSN", "Accession ID")
FHIR_CODES: dict[tuple[str, str], str] = {
    **{(code.system, code.value): code.meaning for code in c.ALL_CODES},
    (IMAGING[0], IMAGING[1]): IMAGING[2],
    (ACCESSION[0], ACCESSION[1]): ACCESSION[2],
}
_GENDER = {Sex.FEMALE: "female", Sex.MALE: "male", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, c.PRODUCT_OID)


def report_bundle(exam: Exam, device: DeviceIdentity, *, identifier_system: str, accession_number: str = "",
                  patient_name: str = "", pdf: bytes | None = None,
                  exam_identifier_system: str = c.EXAM_IDENTIFIER_SYSTEM) -> dict[str, Any]:
    """The exam as a transaction Bundle (JSON-ready dict).

    Args:
        identifier_system: the URI of the clinic's patient identifiers (the Patient is matched on it).
        accession_number: the worklist order's, added to the report's identifiers ("" when none).
        patient_name: the order's DICOM person name ("FAMILY^GIVEN"), "" when the id was typed.
        pdf: the printable report, sent as the DiagnosticReport's presentedForm (None to leave it out).
        exam_identifier_system: the system of the exam's business identifier (this product's by default).
    Raises:
        PayloadError: no identifier system, or a bundle that fails validate_bundle (a bug).
    """
    if not identifier_system or not exam_identifier_system:
        raise PayloadError("The FHIR patient identifier system is not configured.", reason_code="sync_config_invalid")
    key = f"{exam_identifier_system}|{exam.exam_id}"
    patient = _entry("Patient", _patient(exam, patient_name), f"{key}|patient",
                     identifier_system, exam.patient_id)
    device_id = f"{device.device_serial or device.station_name}/{exam.model.sha256}"
    box = _entry("Device", _device(exam, device, device_id), f"{key}|device", c.DEVICE_IDENTIFIER_SYSTEM, device_id)
    common = _observation_common(exam, patient["fullUrl"], box["fullUrl"])
    eyes = [_entry("Observation", {**common, **_eye(exam, eye, finding)}, f"{key}|{eye.value}",
                   exam_identifier_system, f"{exam.exam_id}/{eye.value}")
            for eye, (finding, _used) in eye_findings(exam).items()]
    outcome = _entry("Observation", {**common, **_outcome(exam, [e["fullUrl"] for e in eyes])}, f"{key}|outcome",
                     exam_identifier_system, f"{exam.exam_id}/outcome")
    report = _entry("DiagnosticReport",
                    _report(exam, patient["fullUrl"], [outcome["fullUrl"], *(e["fullUrl"] for e in eyes)],
                            exam_identifier_system, accession_number, pdf),
                    key, exam_identifier_system, exam.exam_id)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [patient, box, outcome, *eyes, report]}
    validate_bundle(bundle)
    return bundle


def validate_bundle(bundle: dict[str, Any], *, check_codes: bool = True) -> None:
    """Parse the bundle with fhir.resources (R4B) and check every coding and unit against FHIR_CODES.

    Raises:
        PayloadError: the structure is not valid FHIR, or a code is not one of ours (or has another display).
    """
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise PayloadError("The FHIR bundle is not valid FHIR R4.", detail=str(exc)) from exc
    if not check_codes:
        return
    for system, code, display in _codings(bundle):
        known = FHIR_CODES.get((system, code))
        if known is None or (display is not None and display != known):
            raise PayloadError("The FHIR bundle carries a code this box does not define.",
                               detail=f"{system}|{code} {display!r}")


def _codings(node: Any) -> Iterator[tuple[str, str, str | None]]:
    """Every (system, code, display) pair in the bundle: Codings and coded Quantities."""
    if isinstance(node, dict):
        if "system" in node and "code" in node:
            yield node["system"], node["code"], node.get("display")
        for value in node.values():
            yield from _codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codings(value)


def _entry(kind: str, resource: dict[str, Any], key: str, system: str, value: str) -> dict[str, Any]:
    """A conditional-create entry: POST unless a resource with this identifier exists."""
    token = f"{quote(_escape(system), safe=':/')}|{quote(_escape(value), safe=':/')}"
    return {"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}",
            "resource": {"resourceType": kind, "identifier": [{"system": system, "value": value}], **resource},
            "request": {"method": "POST", "url": kind, "ifNoneExist": f"identifier={token}"}}


def _escape(text: str) -> str:
    """FHIR search escaping of a token part (\\ , $ | are literal only when escaped)."""
    for char in "\\,$|":
        text = text.replace(char, "\\" + char)
    return text


def _coding(code: c.Code) -> dict[str, str]:
    return {"system": code.system, "code": code.value, "display": code.meaning}


def _concept(code: c.Code, text: str = "") -> dict[str, Any]:
    return {"coding": [_coding(code)], "text": text or code.meaning}


def _quantity(value: float) -> dict[str, Any]:
    return {"value": round(value, 6), "unit": c.NO_UNITS.meaning, "system": c.NO_UNITS.system,
            "code": c.NO_UNITS.value}


def _patient(exam: Exam, dicom_name: str) -> dict[str, Any]:
    patient = exam.patient
    resource: dict[str, Any] = {"gender": _GENDER[patient.sex]}
    family, *given = (dicom_name.split("^") + [""] * 3)[:3]
    if family or any(given):
        resource["name"] = [{k: v for k, v in (("family", family), ("given", [g for g in given if g])) if v}]
    if patient.birth_date is not None:
        resource["birthDate"] = patient.birth_date.isoformat()
    return resource


def _device(exam: Exam, device: DeviceIdentity, device_id: str) -> dict[str, Any]:
    model = exam.model
    resource: dict[str, Any] = {
        "status": "active",
        "manufacturer": device.manufacturer,
        "deviceName": [{"name": device.model_name, "type": "model-name"},
                       {"name": device.station_name, "type": "user-friendly-name"}],
        "version": [{"type": {"text": "firmware"}, "value": device.software_version or __version__},
                    {"type": {"text": "screening model"},
                     "value": f"{model.name} {model.version} (sha256 {model.sha256}, {model.runner})"}],
        "note": [{"text": NOT_VALIDATED_NOTICE}],
    }
    if device.device_serial:
        resource["serialNumber"] = device.device_serial
    return resource


def _observation_common(exam: Exam, patient_url: str, device_url: str) -> dict[str, Any]:
    model, result = exam.model, exam.result
    provenance = (f"Screening model {model.name} {model.version}, sha256 {model.sha256}; "
                  f"decided at {result.operating_point.description if result.operating_point else result.threshold}.")
    return {"status": "final",
            "category": [{"coding": [dict(zip(("system", "code", "display"), IMAGING, strict=True))]}],
            "subject": {"reference": patient_url},
            "effectiveDateTime": exam_started(exam).isoformat(),
            "issued": aware(exam.created_at).isoformat(),
            "device": {"reference": device_url},
            "note": [{"text": provenance}, {"text": NOT_VALIDATED_NOTICE}]}


def _eye(exam: Exam, eye: Eye, finding: str) -> dict[str, Any]:
    score = exam.result.eye_scores.get(eye)
    components = [] if score is None else [{"code": _concept(c.DR_PROBABILITY), "valueQuantity": _quantity(score)}]
    components.append({"code": _concept(c.DR_THRESHOLD), "valueQuantity": _quantity(exam.result.threshold)})
    return {"code": _concept(c.EYE_FINDING), "bodySite": _concept(c.EYE_STRUCTURE[eye]),
            "valueCodeableConcept": _concept(c.FINDING_CODES[finding], FINDING_WORDS[finding]),
            "component": components}


def _outcome(exam: Exam, eye_urls: list[str]) -> dict[str, Any]:
    result = exam.result
    return {"code": _concept(c.SCREENING_OUTCOME),
            "valueCodeableConcept": _concept(c.OUTCOME_CODES[result.outcome], result.message),
            "hasMember": [{"reference": url} for url in eye_urls]}


def _report(exam: Exam, patient_url: str, result_urls: list[str], exam_system: str, accession_number: str,
            pdf: bytes | None) -> dict[str, Any]:
    result = exam.result
    identifiers: list[dict[str, Any]] = [{"system": exam_system, "value": exam.exam_id}]
    if accession_number:
        identifiers.append({"type": {"coding": [dict(zip(("system", "code", "display"), ACCESSION, strict=True))]},
                            "value": accession_number})
    resource: dict[str, Any] = {
        "identifier": identifiers,
        "status": "final",
        "category": [{"coding": [dict(zip(("system", "code", "display"), IMAGING, strict=True))]}],
        "code": _concept(c.SCREENING_PROCEDURE),
        "subject": {"reference": patient_url},
        "effectiveDateTime": exam_started(exam).isoformat(),
        "issued": aware(exam.created_at).isoformat(),
        "result": [{"reference": url} for url in result_urls],
        "conclusion": result.message,
        "conclusionCode": [_concept(c.OUTCOME_CODES[result.outcome])],
    }
    if pdf is not None:
        resource["presentedForm"] = [{"contentType": "application/pdf", "title": DOCUMENT_TITLE, "size": len(pdf),
                                      "creation": aware(exam.created_at).isoformat(),
                                      "data": base64.b64encode(pdf).decode("ascii")}]
    return resource

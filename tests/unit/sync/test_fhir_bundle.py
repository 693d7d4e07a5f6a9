"""The FHIR transaction Bundle of an exam: valid R4 (fhir.resources R4B), conditional creates on stable business
identifiers so a resend makes nothing new, references resolved inside the bundle, and only our codes."""

from __future__ import annotations

import base64
import copy
from typing import Any
from urllib.parse import parse_qs

import pytest
from fhir.resources.R4B.bundle import Bundle

from appliance.domain import Eye, Patient, Sex
from appliance.sync import codes as c
from appliance.sync.fhir import FHIR_CODES, report_bundle, validate_bundle
from appliance.sync.payload import PayloadError
from tests.unit.sync.builder_exams import DEVICE, ExamBuilder, refer_exam, sample, ungradable_exam

CLINIC = "urn:oid:1.2.826.0.1.3680043.10.1234"


def entries(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def test_the_bundle_is_a_valid_r4_transaction() -> None:
    built = refer_exam()
    bundle = report_bundle(built.exam, DEVICE, identifier_system=CLINIC, accession_number="ACC-9", pdf=built.pdf)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "transaction"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient", "Device", "Observation", "Observation", "Observation", "DiagnosticReport"]
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(url.startswith("urn:uuid:") for url in full_urls)
    assert set(references(bundle)) <= full_urls


def test_every_entry_is_a_conditional_create_on_its_business_identifier() -> None:
    built = refer_exam()
    bundle = report_bundle(built.exam, DEVICE, identifier_system=CLINIC)
    for entry in bundle["entry"]:
        identifier = entry["resource"]["identifier"][0]
        assert entry["request"]["method"] == "POST"
        assert parse_qs(entry["request"]["ifNoneExist"]) == {
            "identifier": [f"{identifier['system']}|{identifier['value']}"]}
    (patient,) = entries(bundle, "Patient")
    assert patient["request"]["ifNoneExist"] == f"identifier={CLINIC}|P-0042"
    assert patient["resource"]["birthDate"] == "1961-05-02" and patient["resource"]["gender"] == "female"
    (report,) = entries(bundle, "DiagnosticReport")
    exam_id = built.exam.exam_id
    assert report["resource"]["identifier"][0] == {"system": c.EXAM_IDENTIFIER_SYSTEM, "value": exam_id}
    assert report["request"]["ifNoneExist"] == f"identifier={c.EXAM_IDENTIFIER_SYSTEM}|{exam_id}"
    assert sorted(o["resource"]["identifier"][0]["value"] for o in entries(bundle, "Observation")) == [
        f"{exam_id}/left", f"{exam_id}/outcome", f"{exam_id}/right"]


def test_two_builds_of_the_same_exam_are_the_same_bundle() -> None:
    built = refer_exam()
    first = report_bundle(built.exam, DEVICE, identifier_system=CLINIC)
    again = report_bundle(built.exam, DEVICE, identifier_system=CLINIC)
    assert first == again
    assert entries(first, "DiagnosticReport")[0]["resource"]["identifier"] == entries(
        again, "DiagnosticReport")[0]["resource"]["identifier"]


def test_the_report_carries_outcome_per_eye_findings_model_and_pdf() -> None:
    built = ungradable_exam()
    bundle = report_bundle(built.exam, DEVICE, identifier_system=CLINIC, accession_number="ACC-9", pdf=built.pdf)
    report = entries(bundle, "DiagnosticReport")[0]["resource"]
    assert report["status"] == "final" and report["conclusion"] == built.exam.result.message
    assert report["code"]["coding"][0]["code"] == "104212-6"
    assert report["conclusionCode"][0]["coding"][0]["code"] == "UNGRADABLE-EXAM"
    assert report["identifier"][1]["value"] == "ACC-9"
    assert report["issued"] == "2025-03-14T09:26:53.123456+00:00"
    (form,) = report["presentedForm"]
    assert form["contentType"] == "application/pdf" and base64.b64decode(form["data"]) == built.pdf
    by_site = {o["resource"]["bodySite"]["coding"][0]["code"]: o["resource"]
               for o in entries(bundle, "Observation") if "bodySite" in o["resource"]}
    right, left = by_site[c.RIGHT_EYE.value], by_site[c.LEFT_EYE.value]
    assert right["valueCodeableConcept"]["coding"][0]["code"] == "UNGRADABLE"
    assert [k["code"]["coding"][0]["code"] for k in right["component"]] == ["DR-THRESHOLD"]
    assert left["valueCodeableConcept"]["coding"][0]["code"] == "NOT-REFERABLE"
    assert left["component"][0]["valueQuantity"]["value"] == pytest.approx(0.15)
    notes = " ".join(n["text"] for n in left["note"])
    assert built.exam.model.sha256 in notes and "not clinically validated" in notes
    device = entries(bundle, "Device")[0]["resource"]
    assert any(built.exam.model.sha256 in v["value"] for v in device["version"])
    assert left["device"]["reference"] == entries(bundle, "Device")[0]["fullUrl"]


def test_no_pdf_no_presented_form_and_a_name_from_the_order() -> None:
    built = refer_exam()
    bundle = report_bundle(built.exam, DEVICE, identifier_system=CLINIC, patient_name="DOE^JANE^Q")
    assert "presentedForm" not in entries(bundle, "DiagnosticReport")[0]["resource"]
    assert entries(bundle, "Patient")[0]["resource"]["name"] == [{"family": "DOE", "given": ["JANE", "Q"]}]


def test_every_code_is_in_the_table_and_a_foreign_one_is_refused() -> None:
    built = ungradable_exam()
    bundle = report_bundle(built.exam, DEVICE, identifier_system=CLINIC, accession_number="A")
    sent = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "system" in node and "code" in node:
                sent.add((node["system"], node["code"]))
                assert node.get("display", FHIR_CODES[(node["system"], node["code"])]) == FHIR_CODES[
                    (node["system"], node["code"])]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(bundle)
    assert sent <= set(FHIR_CODES)
    assert ("http://loinc.org", "104212-6") in sent and ("http://snomed.info/sct", "18944008") in sent
    foreign = copy.deepcopy(bundle)
    entries(foreign, "DiagnosticReport")[0]["resource"]["code"]["coding"][0]["code"] = "105914-6"
    with pytest.raises(PayloadError, match="code this box does not define"):
        validate_bundle(foreign)
    broken = copy.deepcopy(bundle)
    del entries(broken, "DiagnosticReport")[0]["resource"]["status"]
    with pytest.raises(PayloadError, match="not valid FHIR"):
        validate_bundle(broken)


def test_identifier_values_are_escaped_in_the_search() -> None:
    built = ExamBuilder(Patient("A|B&C,1", None, Sex.OTHER)).add(
        Eye.RIGHT, sample("healthy", Eye.RIGHT), score=0.1).build()
    bundle = report_bundle(built.exam, DEVICE, identifier_system=CLINIC)
    patient = entries(bundle, "Patient")[0]
    assert parse_qs(patient["request"]["ifNoneExist"]) == {"identifier": [f"{CLINIC}|A\\|B&C\\,1"]}
    assert patient["resource"]["gender"] == "other"


def test_no_identifier_system_is_refused() -> None:
    with pytest.raises(PayloadError):
        report_bundle(refer_exam().exam, DEVICE, identifier_system="")

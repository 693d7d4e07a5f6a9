"""docs/openapi.yaml describes the real kiosk: a valid OpenAPI 3 document, every URL rule under /api (and
/healthz) with each of its methods is an operation there and every operation there is a rule, the path
variables agree, and a few real answers match their schemas. tests/system/test_api_fuzz.py fuzzes the running
server against it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.integration.kiosk_app import ADMIN, Kiosk, changing, running_kiosk, signed_in

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
DOCUMENTED = ("/api/", "/healthz")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return dict(yaml.safe_load(SPEC.read_text()))


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    with running_kiosk(tmp_path_factory.mktemp("openapi") / "var") as made:
        yield made


def openapi_path(rule: str) -> str:
    """Flask's /api/exams/<exam_id>/photos/<int:photo_id> as OpenAPI's /api/exams/{exam_id}/photos/{photo_id}."""
    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule)


def test_the_document_is_valid_openapi_3(spec: dict[str, Any]) -> None:
    import schemathesis

    assert spec["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_path(SPEC)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 24
    assert all(o.definition.raw.get("operationId") for o in operations)


def test_every_api_rule_is_described_and_every_operation_is_a_rule(kiosk: Kiosk, spec: dict[str, Any]) -> None:
    served = {(openapi_path(rule.rule), method.lower()) for rule in kiosk.app.url_map.iter_rules()
              if rule.rule.startswith(DOCUMENTED) for method in (rule.methods or set()) & METHODS}
    described = {(path, method) for path, item in spec["paths"].items() for method in item
                 if method.upper() in METHODS}
    assert served - described == set(), "served but not in docs/openapi.yaml"
    assert described - served == set(), "in docs/openapi.yaml but not served"


def test_path_variables_are_declared(spec: dict[str, Any]) -> None:
    parameters = spec["components"]["parameters"]
    for path, item in spec["paths"].items():
        declared = set()
        for parameter in item.get("parameters", []):
            parameter = parameters[parameter["$ref"].rsplit("/", 1)[1]] if "$ref" in parameter else parameter
            declared.add(parameter["name"])
        assert set(re.findall(r"{(\w+)}", path)) == declared, path


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its $refs pointing into `spec`, in the JSON-Schema dialect OpenAPI 3.0 means
    (nullable), for jsonschema."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
            out = {k: walk(v) for k, v in node.items() if k != "nullable"}
            if node.get("nullable"):
                out = {"anyOf": [out, {"type": "null"}]}
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    return dict(walk(schema))


def test_real_answers_match_their_schemas(kiosk: Kiosk, spec: dict[str, Any]) -> None:
    client, csrf = signed_in(kiosk, ADMIN)
    schemas = spec["components"]["schemas"]
    opened = client.post("/api/exams", json={"patient_id": "SPEC-1"}, headers=changing(csrf))
    exam_id = opened.get_json()["exam_id"]
    photo = client.post(f"/api/exams/{exam_id}/photos", json={"eye": "right", "kind": "healthy"},
                        headers=changing(csrf))
    client.post(f"/api/exams/{exam_id}/photos", json={"eye": "left", "kind": "healthy"}, headers=changing(csrf))
    finished = client.post(f"/api/exams/{exam_id}/finish", headers=changing(csrf))
    answers = [
        (opened.get_json(), schemas["ExamSession"]),
        (photo.get_json()["exam"], schemas["ExamSession"]),
        (photo.get_json()["photo"], schemas["Photo"]),
        (finished.get_json(), schemas["ExamResult"]),
        (client.get(f"/api/exams/{exam_id}").get_json(), schemas["ExamSession"]),
        (client.get("/api/worklist").get_json(), schemas["Worklist"]),
        (client.get("/api/session").get_json(), schemas["Session"]),
        (client.get("/api/admin/settings").get_json(), schemas["Settings"]),
        (client.get("/api/admin/sync").get_json(), schemas["SyncStatus"]),
        (client.get("/healthz").get_json(), schemas["Health"]),
        (client.get("/api/exams/" + "0" * 32).get_json(), schemas["Error"]),
    ]
    for user in client.get("/api/admin/users").get_json()["users"]:
        answers.append((user, schemas["User"]))
    for body, schema in answers:
        jsonschema.validate(body, resolve(spec, schema))

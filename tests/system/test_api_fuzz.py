"""The running `appliance serve` (a real process on loopback, demo users on) fuzzed with schemathesis against
docs/openapi.yaml: every operation with generated valid and invalid bodies, parameters and files, signed in
as demo-admin (the session cookie, the page's Origin and the CSRF header, as the kiosk's pages send them).

Checked on every answer: no 5xx but the ones the document names for a reason (503: camera or worklist
unavailable, 507: storage), a documented status code, and the documented content type and body schema.
Signing out (`DELETE /api/session`) is left out: it would end the run's sign-in (the sign-in routes are
tested in tests/integration/test_kiosk_attack_surface.py). Examples per operation: API_FUZZ_EXAMPLES
(CI: 12, about 40 s here); `make fuzz` runs more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.system.helpers import box_env, free_port, running_server

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class SignedIn:
    base: str
    session: requests.Session
    csrf: str
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedIn]:
    data_dir = tmp_path_factory.mktemp("api-fuzz") / "var"
    port = free_port()
    env = box_env(data_dir, APPLIANCE_MODEL_INTRA_OP_THREADS="1")
    with running_server(env, port) as base:
        session = requests.Session()
        pre = session.get(f"{base}/api/session", timeout=30).json()["csrf_token"]
        answer = session.post(f"{base}/api/session", json={"user_id": "demo-admin", "pin": "9876"},
                              headers={"Origin": base, "X-CSRF-Token": pre}, timeout=30)
        assert answer.status_code == 200, answer.text
        yield SignedIn(base, session, answer.json()["csrf_token"], data_dir.parent / f"server-{port}.log")


# Loaded here, not from a fixture: schemathesis.pytest.from_fixture reads pytest internals that pytest 9 removed.
# The server's address is given to each call.
schema = schemathesis.openapi.from_path(SPEC).exclude(path="/api/session", method="DELETE")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=os.environ.get("FUZZ_RANDOM") != "1",
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error_or_off_its_description(case: schemathesis.Case,
                                                                    served: SignedIn) -> None:
    response = case.call(base_url=served.base, session=served.session, timeout=60,
                         headers={"Origin": served.base, "X-CSRF-Token": served.csrf})
    allowed_5xx = {503, 507}
    if response.status_code not in allowed_5xx:
        case.validate_response(response, checks=[not_a_server_error])
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                             response_schema_conformance])


def test_the_run_kept_its_sign_in_and_logged_no_unexpected_error(served: SignedIn) -> None:
    """After the fuzzing (module order): still signed in, and the server logged no 'unexpected error'."""
    assert served.session.get(f"{served.base}/api/session", timeout=30).json()["user"] == "demo-admin"
    log = served.log.read_text()
    assert "unexpected error" not in log and "Traceback" not in log

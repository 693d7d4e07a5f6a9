"""HTTP answers sorted into sent / retry / park with the server's words and never a credential; credentials
read from files; STOW-RS bodies and failed-instance lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from appliance.config import SyncConfig
from appliance.errors import ConfigError
from appliance.sync.credentials import Credentials, load_credentials
from appliance.sync.stow import _failed_instances, multipart_related
from appliance.sync.transport import HttpTarget, SendError

SECRET = "pa55-w0rd-xyz"


def answer(status: int, body: object = "", content_type: str = "application/json") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = (json.dumps(body) if not isinstance(body, str) else body).encode()
    response.headers["Content-Type"] = content_type
    return response


def target() -> HttpTarget:
    return HttpTarget("PACS", "https://pacs.example/dicom-web/", Credentials("box", SECRET))


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (404, True), (409, True), (413, True), (422, True),
                                                   (408, False), (429, False), (500, False), (502, False),
                                                   (503, False)])
def test_only_4xx_other_than_408_and_429_are_refusals_for_good(status: int, permanent: bool) -> None:
    with pytest.raises(SendError) as caught:
        target().check(answer(status, {"Message": "Bad file format", "Details": "Cannot parse"}))
    assert caught.value.permanent is permanent
    assert caught.value.message == f"The PACS answered HTTP {status}: Bad file format — Cannot parse"


@pytest.mark.parametrize("status", [401, 403])
def test_wrong_credentials_get_a_sentence_that_says_what_to_check_and_no_secret(status: int) -> None:
    with pytest.raises(SendError) as caught:
        target().check(answer(status, f"user box password {SECRET} refused", "text/plain"))
    message = caught.value.message
    assert caught.value.permanent and SECRET not in message
    assert message.startswith(f"The PACS refused the appliance's credentials (HTTP {status}): check [sync] username")


def test_a_fhir_operation_outcome_is_quoted() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid",
                                                              "diagnostics": "Bundle.entry[1] is not valid"}]}
    with pytest.raises(SendError, match=r"HTTP 422: Bundle.entry\[1\] is not valid"):
        HttpTarget("EHR", "https://ehr.example/fhir", Credentials()).check(answer(422, outcome))


def test_2xx_passes() -> None:
    target().check(answer(200, {}))
    target().check(answer(202, {}))


def test_redact_removes_passwords_tokens_their_basic_encoding_and_url_userinfo() -> None:
    basic = Credentials("box", SECRET)
    encoded = basic.headers()["Authorization"].split()[1]
    text = f"GET https://box:{SECRET}@pacs/x failed; header Basic {encoded}; {SECRET}"
    assert SECRET not in basic.redact(text) and encoded not in basic.redact(text)
    assert "https://***@pacs/x" in basic.redact(text)
    bearer = Credentials(token="tok-123456")
    assert bearer.headers() == {"Authorization": "Bearer tok-123456"}
    assert "tok-123456" not in bearer.redact("Bearer tok-123456 refused") and bearer.kind == "bearer"
    assert SECRET not in repr(basic) and "tok-123456" not in repr(bearer)
    assert SECRET not in repr(SyncConfig(password=SECRET))


def test_credentials_come_from_the_token_or_password_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-abc\n")
    (tmp_path / "password").write_text(f"{SECRET}\n")
    assert load_credentials(SyncConfig(token_file=str(tmp_path / "token"), username="u")).token == "tok-abc"
    read = load_credentials(SyncConfig(username="u", password_file=str(tmp_path / "password")))
    assert (read.username, read.password, read.kind) == ("u", SECRET, "basic")
    with pytest.raises(ConfigError) as caught:
        load_credentials(SyncConfig(password_file=str(tmp_path / "missing")))
    assert "password_file" in caught.value.message
    (tmp_path / "two").write_text("a\nb\n")
    with pytest.raises(ConfigError, match="on one line"):
        load_credentials(SyncConfig(password_file=str(tmp_path / "two")))


def test_stow_body_is_multipart_related_of_application_dicom_parts() -> None:
    body = multipart_related([b"DICM-1", b"DICM-2"], "b0und")
    assert body == (b"--b0und\r\nContent-Type: application/dicom\r\n\r\nDICM-1\r\n"
                    b"--b0und\r\nContent-Type: application/dicom\r\n\r\nDICM-2\r\n--b0und--\r\n")


def test_stow_response_failed_instances_are_read() -> None:
    response = {"00081198": {"vr": "SQ", "Value": [
        {"00081155": {"vr": "UI", "Value": ["1.2.3"]}, "00081197": {"vr": "US", "Value": [0xA700]}}]}}
    assert _failed_instances(json.dumps(response).encode()) == {"1.2.3": 0xA700}
    assert _failed_instances(b"") == {} and _failed_instances(b"{}") == {} and _failed_instances(b"<html>") == {}

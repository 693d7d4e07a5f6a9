"""HTTP to the clinic's servers: TLS with the configured CA, basic or bearer auth, a timeout, and every
answer sorted into sent, try again later, or park for a person (`SendError.permanent`).

A permanent refusal is a 4xx other than 408 (timeout) and 429 (too many requests): resending the same
bytes cannot change it. 401/403 get a sentence that says what to check. Messages carry the server's own
words (trimmed) and never a credential.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import requests

from appliance.sync.credentials import Credentials

#: Answers that a later attempt may turn into a success.
RETRYABLE_4XX = frozenset({408, 429})
MAX_MESSAGE = 300


class SendError(Exception):
    """A send failed. `permanent`: the receiver refused it for good (park it); else try again later."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass
class HttpTarget:
    """One server (the PACS's DICOMweb base, the EHR's FHIR base) as `name` ("PACS", "EHR") calls it."""

    name: str
    base_url: str
    credentials: Credentials
    ca_file: str = ""
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy from the environment: the box talks to its clinic only

    def post(self, path: str, body: bytes, *, content_type: str, accept: str) -> requests.Response:
        """POST `body` to base_url + path; the 2xx response. Raises SendError (classified, redacted)."""
        headers = {"Content-Type": content_type, "Accept": accept, **self.credentials.headers()}
        try:
            answer = self._session.post(self.base_url + path, data=body, headers=headers, timeout=self.timeout_s,
                                        verify=self.ca_file or True)
        except requests.exceptions.SSLError as err:
            raise SendError(f"The {self.name}'s TLS certificate was not accepted ({self._short(err)}): check "
                            "[sync] ca_file and the server's certificate, then re-queue.", permanent=True) from err
        except requests.exceptions.Timeout as err:
            raise SendError(f"The {self.name} did not answer within {self.timeout_s:g} s.", permanent=False) from err
        except requests.exceptions.RequestException as err:
            raise SendError(f"The {self.name} could not be reached ({self._short(err)}).", permanent=False) from err
        self.check(answer)
        return answer

    def check(self, answer: requests.Response) -> None:
        """Raises SendError unless the answer is a 2xx."""
        status = answer.status_code
        if 200 <= status < 300:
            return
        said = self._short(server_message(answer))
        if status in (401, 403):
            raise SendError(
                f"The {self.name} refused the appliance's credentials (HTTP {status}): check [sync] username and "
                f"password_file (or token_file), then re-queue.{f' The server said: {said}' if said else ''}",
                permanent=True)
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise SendError(f"The {self.name} answered HTTP {status}{f': {said}' if said else ''}", permanent=permanent)

    def _short(self, text: object) -> str:
        cleaned = re.sub(r"\s+", " ", self.credentials.redact(str(text))).strip()
        return cleaned if len(cleaned) <= MAX_MESSAGE else cleaned[: MAX_MESSAGE - 1] + "…"


def server_message(answer: requests.Response) -> str:
    """What the server said: a FHIR OperationOutcome's diagnostics, Orthanc's JSON "Message"/"Details",
    else the start of the body."""
    try:
        body: Any = answer.json()
    except (ValueError, json.JSONDecodeError):
        return answer.text[:MAX_MESSAGE]
    if isinstance(body, dict):
        if body.get("resourceType") == "OperationOutcome":
            issues = body.get("issue") or []
            return "; ".join(str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code"))
                             for i in issues if isinstance(i, dict))
        parts = [str(body[key]) for key in ("Message", "Details", "message", "error") if body.get(key)]
        if parts:
            return " — ".join(parts)
    return answer.text[:MAX_MESSAGE]

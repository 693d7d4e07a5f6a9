"""A small FHIR R4 endpoint for the tests (no full FHIR server installs here): it validates every Bundle
with `fhir.resources` (R4B, which checks structure, not code values), applies a transaction's conditional
creates (`ifNoneExist: identifier=system|value`) atomically, answers like a FHIR server
(transaction-response Bundle, OperationOutcome on errors) and can be told to fail or to ask for credentials.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fhir.resources.R4B.bundle import Bundle


def outcome(code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


@dataclass
class FhirReceiver:
    """The resources it holds, by type and id; what it was sent; the faults to inject."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    bundles: list[dict[str, Any]] = field(default_factory=list)
    posts: int = 0
    fail_status: int | None = None     # answer every POST with this status
    fail_next: int = 0                 # ...or only the next n POSTs (with fail_status or 500)
    delay_s: float = 0.0
    basic_auth: tuple[str, str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/fhir"

    def count(self, resource_type: str) -> int:
        with self.lock:
            return len(self.resources[resource_type])

    def reports_by_identifier(self) -> dict[str, int]:
        """Business identifier "system|value" -> number of DiagnosticReports holding it (1 each, or a bug)."""
        seen: dict[str, int] = defaultdict(int)
        with self.lock:
            for report in self.resources["DiagnosticReport"].values():
                for ident in report.get("identifier", []):
                    seen[f"{ident.get('system')}|{ident.get('value')}"] += 1
        return dict(seen)

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            self.posts += 1
            if self.basic_auth is not None:
                expected = "Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode()
                if headers.get("Authorization") != expected:
                    return 401, outcome("login", "Authentication required")
            if self.fail_next > 0 or self.fail_status is not None:
                self.fail_next = max(0, self.fail_next - 1)
                return self.fail_status or 500, outcome("exception", "injected failure")
        try:
            data = json.loads(body)
            Bundle.model_validate(data)
        except Exception as err:
            return 400, outcome("structure", f"invalid Bundle: {str(err)[:500]}")
        if data.get("type") != "transaction":
            return 400, outcome("invalid", "only transaction Bundles are accepted")
        with self.lock:
            return 200, self._apply(data)

    def _apply(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """Every entry or none (transaction); a conditional create matching a resource creates nothing."""
        self.bundles.append(bundle)
        staged: list[tuple[str, str, dict[str, Any]]] = []
        answers = []
        ids: dict[str, str] = {}
        for entry in bundle.get("entry", []):
            resource, request = entry["resource"], entry["request"]
            kind = resource["resourceType"]
            existing = self._match(kind, request.get("ifNoneExist", ""))
            if existing is not None:
                answers.append({"response": {"status": "200 OK", "location": f"{kind}/{existing}"}})
                ids[entry.get("fullUrl", "")] = f"{kind}/{existing}"
                continue
            new_id = uuid.uuid4().hex
            ids[entry.get("fullUrl", "")] = f"{kind}/{new_id}"
            staged.append((kind, new_id, {**resource, "id": new_id}))
            answers.append({"response": {"status": "201 Created", "location": f"{kind}/{new_id}/_history/1"}})
        for kind, new_id, resource in staged:
            self.resources[kind][new_id] = json.loads(_resolve(json.dumps(resource), ids))
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}

    def _match(self, kind: str, condition: str) -> str | None:
        if not condition:
            return None
        if not condition.startswith("identifier="):
            raise ValueError(f"unsupported ifNoneExist {condition!r}")
        system, _, value = condition[len("identifier="):].partition("|")
        for rid, resource in self.resources[kind].items():
            if any(i.get("system") == system and i.get("value") == value for i in resource.get("identifier", [])):
                return rid
        return None


def _resolve(text: str, ids: dict[str, str]) -> str:
    for full_url, reference in ids.items():
        if full_url:
            text = text.replace(f'"{full_url}"', f'"{reference}"')
    return text


@contextmanager
def running_receiver(tls: tuple[str, str] | None = None) -> Iterator[FhirReceiver]:
    """The receiver on a free loopback port; over HTTPS with `tls` = (certificate file, key file)."""
    receiver = FhirReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path.rstrip("/") != "/fhir":
                status, answer = 404, outcome("not-found", "unknown path")
            else:
                status, answer = receiver.handle(self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        receiver.scheme = "https"
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="fhir-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
